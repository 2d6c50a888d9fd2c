/*
 * cridctl pod sandbox verbs: runp, pods, inspectp, stopp, rmp. Behaviour and
 * output mirror crictl (cri-tools cmd/crictl/sandbox.go): the pods table
 * (POD ID, CREATED, STATE, NAME, NAMESPACE, ATTEMPT, RUNTIME), newest first,
 * name/namespace regexps applied client-side; inspectp's {"info", "status"}
 * document with every key sorted. An ID argument may be a prefix: it is
 * resolved with ListPodSandbox's id filter, where the daemon matches prefixes.
 * Lists through filter.c, prints through table.c and json.c, calls the
 * daemon through rpc.c; reads pod configs with podconfig.c.
 */
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <time.h>

#include "cli/cridctl.h"
#include "cli/podconfig.h"
#include "proto/api.pb-c.h"
#include "reactor/mem.h"

#define TRUNC_ID_LEN 13

struct pod_opts {
	bool quiet, verbose, no_trunc, force, all;
	const char *runtime;
	struct cridctl_filter f;
	int first_arg;
};

static int pod_opt(void *user, const char *verb, int opt, const char *arg)
{
	struct pod_opts *o = user;

	(void)verb;
	switch (opt) {
	case 'q':
		o->quiet = true;
		return 0;
	case 'v':
		o->verbose = true;
		return 0;
	case 'r':
		o->runtime = arg;
		return 0;
	case 'f':
		o->force = true;
		return 0;
	case 'a':
		o->all = true;
		return 0;
	case 'T':
		o->no_trunc = true;
		return 0;
	default:
		return 1;
	}
}

/* Long-only options get capital letters outside every verb's short options. */
static int pod_opts(struct cridctl *ctl, int argc, char **argv, const char *shorts,
		    const char *allowed, const char *usage, struct pod_opts *o)
{
	static const struct option longs[] = {
		{ "output", required_argument, NULL, 'o' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "latest", no_argument, NULL, 'l' },
		{ "last", required_argument, NULL, 'n' },
		{ "state", required_argument, NULL, 's' },
		{ "runtime", required_argument, NULL, 'r' },
		{ "force", no_argument, NULL, 'f' },
		{ "all", no_argument, NULL, 'a' },
		{ "id", required_argument, NULL, 'I' },
		{ "name", required_argument, NULL, 'N' },
		{ "namespace", required_argument, NULL, 'S' },
		{ "label", required_argument, NULL, 'L' },
		{ "no-trunc", no_argument, NULL, 'T' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int rc;

	memset(o, 0, sizeof(*o));
	rc = cridctl_opts_parse(ctl, argc, argv, shorts, allowed, longs, usage, &o->f, pod_opt, o);
	o->first_arg = optind;
	return rc;
}

/* --- listing ---------------------------------------------------------------------- */

struct pod_list {
	Runtime__V1__ListPodSandboxResponse *resp;
	Runtime__V1__PodSandbox **items; /* filtered, newest first */
	size_t n;
};

static void pod_list_free(struct pod_list *l)
{
	crid_free(l->items);
	if (l->resp)
		protobuf_c_message_free_unpacked(&l->resp->base, NULL);
}

static int list_pods(struct cridctl *ctl, const char *verb, const struct cridctl_filter *o,
		     const char *id, struct pod_list *l)
{
	Runtime__V1__ListPodSandboxRequest req = RUNTIME__V1__LIST_POD_SANDBOX_REQUEST__INIT;
	Runtime__V1__PodSandboxFilter f = RUNTIME__V1__POD_SANDBOX_FILTER__INIT;
	Runtime__V1__PodSandboxStateValue st = RUNTIME__V1__POD_SANDBOX_STATE_VALUE__INIT;
	Runtime__V1__PodSandboxFilter__LabelSelectorEntry ents[CRIDCTL_MAX_LABELS];
	void *ptrs[CRIDCTL_MAX_LABELS];
	char labels[4096];

	memset(l, 0, sizeof(*l));
	if (o->state) {
		if (strcasecmp(o->state, "ready") != 0 && strcasecmp(o->state, "notready") != 0) {
			fprintf(stderr, "cridctl: %s: --state should be ready or notready\n", verb);
			return -1;
		}
		st.state = strcasecmp(o->state, "ready") == 0
			       ? RUNTIME__V1__POD_SANDBOX_STATE__SANDBOX_READY
			       : RUNTIME__V1__POD_SANDBOX_STATE__SANDBOX_NOTREADY;
		f.state = &st;
	}
	if (cridctl_filter_labels(
		o, verb, &runtime__v1__pod_sandbox_filter__label_selector_entry__descriptor, ents,
		ptrs, labels, sizeof(labels)) < 0)
		return -1;
	f.n_label_selector = o->n_labels;
	f.label_selector = (Runtime__V1__PodSandboxFilter__LabelSelectorEntry **)ptrs;
	if (id)
		f.id = (char *)id;
	req.filter = &f;
	if (cridctl_call(ctl, "ListPodSandbox", &req.base,
			 &runtime__v1__list_pod_sandbox_response__descriptor,
			 (ProtobufCMessage **)&l->resp) < 0)
		return -1;
	l->items = crid_calloc(l->resp->n_items + 1, sizeof(*l->items));
	if (!l->items) {
		fprintf(stderr, "cridctl: %s: out of memory\n", verb);
		pod_list_free(l);
		return -1;
	}
	for (size_t i = 0; i < l->resp->n_items; i++) {
		Runtime__V1__PodSandbox *p = l->resp->items[i];

		if (p->metadata && cridctl_filter_matches(o->name, p->metadata->name) &&
		    cridctl_filter_matches(o->ns, p->metadata->namespace_))
			l->items[l->n++] = p;
	}
	l->n =
	    cridctl_filter_newest(o, l->items, l->n, offsetof(Runtime__V1__PodSandbox, created_at));
	return 0;
}

/*
 * An ID argument to the full ID: the daemon matches prefixes in the id
 * filter. No match leaves the argument as given, so the daemon has the last
 * word (NOT_FOUND, or success for an idempotent stop/remove).
 */
static char *resolve_id(struct cridctl *ctl, const char *verb, const char *arg)
{
	struct cridctl_filter none = { 0 };
	struct pod_list l;
	const char *id = arg;
	char *full;

	if (list_pods(ctl, verb, &none, arg, &l) < 0)
		return NULL;
	for (size_t i = 0; i < l.n; i++)
		if (strcmp(l.items[i]->id, arg) == 0)
			l.n = 1, l.items[0] = l.items[i];
	if (l.n > 1) {
		fprintf(stderr, "cridctl: %s: pod ID prefix `%s` is ambiguous: %zu pods match\n",
			verb, arg, l.n);
		pod_list_free(&l);
		return NULL;
	}
	if (l.n == 1)
		id = l.items[0]->id;
	full = crid_strdup(id);
	pod_list_free(&l);
	if (!full)
		fprintf(stderr, "cridctl: %s: out of memory\n", verb);
	return full;
}

/* --- time, as Go prints it ------------------------------------------------------- */

/* go-units HumanDuration. */
void cridctl_human_duration(int64_t ns, char *buf, size_t n)
{
	int64_t s = ns / 1000000000, m = s / 60, h = (ns + 1800000000000LL) / 3600000000000LL;

	if (s < 1)
		snprintf(buf, n, "Less than a second");
	else if (s == 1)
		snprintf(buf, n, "1 second");
	else if (s < 60)
		snprintf(buf, n, "%" PRId64 " seconds", s);
	else if (m == 1)
		snprintf(buf, n, "About a minute");
	else if (m < 60)
		snprintf(buf, n, "%" PRId64 " minutes", m);
	else if (h == 1)
		snprintf(buf, n, "About an hour");
	else if (h < 48)
		snprintf(buf, n, "%" PRId64 " hours", h);
	else if (h < 24 * 7 * 2)
		snprintf(buf, n, "%" PRId64 " days", h / 24);
	else if (h < 24 * 30 * 2)
		snprintf(buf, n, "%" PRId64 " weeks", h / 24 / 7);
	else if (h < 24 * 365 * 2)
		snprintf(buf, n, "%" PRId64 " months", h / 24 / 30);
	else
		snprintf(buf, n, "%" PRId64 " years", s / 3600 / 24 / 365);
}

/* The fraction of a second Go prints: up to 9 digits, trailing zeros dropped. */
static void go_fraction(int64_t ns, char *buf, size_t n)
{
	int len;

	ns %= 1000000000;
	if (ns < 0)
		ns += 1000000000;
	if (ns == 0) {
		buf[0] = '\0';
		return;
	}
	len = snprintf(buf, n, ".%09" PRId64, ns);
	while (len > 1 && buf[len - 1] == '0')
		buf[--len] = '\0';
}

/* time.Unix(0, ns) in local time: String() when |rfc3339| is false, else RFC3339Nano. */
void cridctl_go_time(int64_t ns, bool rfc3339, char *buf, size_t n)
{
	time_t t = (time_t)(ns / 1000000000 - (ns % 1000000000 < 0));
	struct tm tm;
	char date[32], frac[16], zone[24];
	long off;

	localtime_r(&t, &tm);
	go_fraction(ns, frac, sizeof(frac));
	off = tm.tm_gmtoff / 60;
	if (!rfc3339) {
		strftime(date, sizeof(date), "%Y-%m-%d %H:%M:%S", &tm);
		strftime(zone, sizeof(zone), "%z %Z", &tm);
		snprintf(buf, n, "%s%s %s", date, frac, zone);
		return;
	}
	strftime(date, sizeof(date), "%Y-%m-%dT%H:%M:%S", &tm);
	if (off == 0)
		snprintf(buf, n, "%s%sZ", date, frac);
	else
		snprintf(buf, n, "%s%s%c%02ld:%02ld", date, frac, off < 0 ? '-' : '+',
			 labs(off) / 60, labs(off) % 60);
}

int64_t cridctl_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* --- JSON, protojson style (EmitDefaultValues: unset messages are left out) -------- */

static void json_metadata(yajl_gen g, const Runtime__V1__PodSandboxMetadata *m)
{
	if (!m)
		return;
	cridctl_json_str(g, "metadata");
	yajl_gen_map_open(g);
	cridctl_json_kv_str(g, "name", m->name);
	cridctl_json_kv_str(g, "uid", m->uid);
	cridctl_json_kv_str(g, "namespace", m->namespace_);
	cridctl_json_str(g, "attempt");
	yajl_gen_integer(g, m->attempt);
	yajl_gen_map_close(g);
}

static const char *state_name(int state)
{
	return state == RUNTIME__V1__POD_SANDBOX_STATE__SANDBOX_READY ? "SANDBOX_READY"
								      : "SANDBOX_NOTREADY";
}

static void json_pod(yajl_gen g, const Runtime__V1__PodSandbox *p)
{
	yajl_gen_map_open(g);
	cridctl_json_kv_str(g, "id", p->id);
	json_metadata(g, p->metadata);
	cridctl_json_kv_str(g, "state", state_name(p->state));
	cridctl_json_kv_i64(g, "createdAt", p->created_at);
	cridctl_json_kv_map(g, "labels", p->labels, p->n_labels, true);
	cridctl_json_kv_map(g, "annotations", p->annotations, p->n_annotations, true);
	cridctl_json_kv_str(g, "runtimeHandler", p->runtime_handler);
	yajl_gen_map_close(g);
}

static const char *ns_mode(int mode)
{
	const ProtobufCEnumValue *v =
	    protobuf_c_enum_descriptor_get_value(&runtime__v1__namespace_mode__descriptor, mode);

	return v ? v->name : "POD";
}

static void json_ns_options(yajl_gen g, const Runtime__V1__NamespaceOption *o)
{
	cridctl_json_str(g, "options");
	yajl_gen_map_open(g);
	cridctl_json_kv_str(g, "network", ns_mode(o->network));
	cridctl_json_kv_str(g, "pid", ns_mode(o->pid));
	cridctl_json_kv_str(g, "ipc", ns_mode(o->ipc));
	cridctl_json_kv_str(g, "targetId", o->target_id);
	if (o->userns_options) {
		cridctl_json_str(g, "usernsOptions");
		yajl_gen_map_open(g);
		cridctl_json_kv_str(g, "mode", ns_mode(o->userns_options->mode));
		cridctl_json_str(g, "uids");
		yajl_gen_array_open(g);
		yajl_gen_array_close(g);
		cridctl_json_str(g, "gids");
		yajl_gen_array_open(g);
		yajl_gen_array_close(g);
		yajl_gen_map_close(g);
	}
	yajl_gen_map_close(g);
}

/* The status as crictl's marshalPodSandboxStatus has it: createdAt as RFC 3339 text. */
static void json_status(yajl_gen g, const void *arg)
{
	const Runtime__V1__PodSandboxStatus *s = arg;
	char created[96];

	yajl_gen_map_open(g);
	cridctl_json_kv_str(g, "id", s->id);
	json_metadata(g, s->metadata);
	cridctl_json_kv_str(g, "state", state_name(s->state));
	cridctl_go_time(s->created_at, true, created, sizeof(created));
	cridctl_json_kv_str(g, "createdAt", created);
	if (s->network) {
		cridctl_json_str(g, "network");
		yajl_gen_map_open(g);
		cridctl_json_kv_str(g, "ip", s->network->ip);
		cridctl_json_str(g, "additionalIps");
		yajl_gen_array_open(g);
		for (size_t i = 0; i < s->network->n_additional_ips; i++) {
			yajl_gen_map_open(g);
			cridctl_json_kv_str(g, "ip", s->network->additional_ips[i]->ip);
			yajl_gen_map_close(g);
		}
		yajl_gen_array_close(g);
		yajl_gen_map_close(g);
	}
	if (s->linux) {
		cridctl_json_str(g, "linux");
		yajl_gen_map_open(g);
		if (s->linux->namespaces) {
			cridctl_json_str(g, "namespaces");
			yajl_gen_map_open(g);
			if (s->linux->namespaces->options)
				json_ns_options(g, s->linux->namespaces->options);
			yajl_gen_map_close(g);
		}
		yajl_gen_map_close(g);
	}
	cridctl_json_kv_map(g, "labels", s->labels, s->n_labels, true);
	cridctl_json_kv_map(g, "annotations", s->annotations, s->n_annotations, true);
	cridctl_json_kv_str(g, "runtimeHandler", s->runtime_handler);
	yajl_gen_map_close(g);
}

/* kubelet's remote runtime gives sandbox operations twice the usual timeout; so do we. */
static int sandbox_timeout(const struct cridctl *ctl)
{
	return ctl->timeout_ms > INT_MAX / 2 ? 0 : ctl->timeout_ms * 2;
}

/* --- runp ------------------------------------------------------------------------ */

/* uuid.New(): a random (version 4) UUID, as crictl fills an empty metadata.uid. */
int cridctl_random_uuid(char *buf, size_t n)
{
	unsigned char r[16];

	if (getrandom(r, sizeof(r), 0) != sizeof(r))
		return -1;
	r[6] = (r[6] & 0x0f) | 0x40;
	r[8] = (r[8] & 0x3f) | 0x80;
	snprintf(buf, n, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
		 r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], r[8], r[9], r[10], r[11], r[12],
		 r[13], r[14], r[15]);
	return 0;
}

int cridctl_runp(struct cridctl *ctl, int argc, char **argv)
{
	static const char usage[] = "Usage: cridctl runp [-r RUNTIME] pod-config.[json|yaml]\n"
				    "Run a new pod; prints its ID\n"
				    "  -r, --runtime NAME  runtime handler to use\n";
	Runtime__V1__RunPodSandboxRequest req = RUNTIME__V1__RUN_POD_SANDBOX_REQUEST__INIT;
	Runtime__V1__RunPodSandboxResponse *r;
	Runtime__V1__PodSandboxConfig *cfg;
	char uid[40];
	struct pod_opts o;
	struct crid_err err;
	int rc = pod_opts(ctl, argc, argv, "+r:h", "", usage, &o);

	if (rc)
		return rc < 0;
	if (argc - o.first_arg != 1) {
		fprintf(stderr, "cridctl: runp: expected one pod config file\n%s", usage);
		return 1;
	}
	if (cridctl_podconfig_load(argv[o.first_arg], &cfg, &err) < 0) {
		fprintf(stderr, "cridctl: runp: %s\n", err.msg);
		return 1;
	}
	if (!cfg->metadata->uid[0] && cridctl_random_uuid(uid, sizeof(uid)) == 0) {
		char *copy = crid_strdup(uid); /* freed with |cfg|; the empty default is not */

		if (copy)
			cfg->metadata->uid = copy;
	}
	if (cfg->linux && !cfg->linux->cgroup_parent[0])
		fprintf(stderr, "cridctl: runp: warning: cgroup_parent is not set. Use "
				"`runtime-config` to get the runtime cgroup driver\n");
	req.config = cfg;
	req.runtime_handler = (char *)(o.runtime ? o.runtime : "");
	rc = cridctl_call_timeout(ctl, "RunPodSandbox", sandbox_timeout(ctl), &req.base,
				  &runtime__v1__run_pod_sandbox_response__descriptor,
				  (ProtobufCMessage **)&r);
	cridctl_config_free(&cfg->base);
	if (rc < 0)
		return 1;
	printf("%s\n", r->pod_sandbox_id);
	protobuf_c_message_free_unpacked(&r->base, NULL);
	return 0;
}

/* --- pods ------------------------------------------------------------------------ */

static const char *runtime_of(const char *handler)
{
	return handler && handler[0] ? handler : "(default)";
}

static void pod_verbose(const Runtime__V1__PodSandbox *p)
{
	char created[96];

	printf("ID: %s\n", p->id);
	if (p->metadata) {
		if (p->metadata->name[0])
			printf("Name: %s\n", p->metadata->name);
		if (p->metadata->uid[0])
			printf("UID: %s\n", p->metadata->uid);
		if (p->metadata->namespace_[0])
			printf("Namespace: %s\n", p->metadata->namespace_);
		if (p->metadata->attempt)
			printf("Attempt: %u\n", p->metadata->attempt);
	}
	printf("Status: %s\n", p->state ? "NotReady" : "Ready");
	cridctl_go_time(p->created_at, false, created, sizeof(created));
	printf("Created: %s\n", created);
	cridctl_text_map("Labels", p->labels, p->n_labels);
	cridctl_text_map("Annotations", p->annotations, p->n_annotations);
	printf("Runtime: %s\n\n", runtime_of(p->runtime_handler));
}

static int pods_table(const struct pod_list *l, const struct pod_opts *o)
{
	static const char *const head[] = { "POD ID",	 "CREATED", "STATE",  "NAME",
					    "NAMESPACE", "ATTEMPT", "RUNTIME" };
	struct cridctl_table t = { .cols = 7 };
	int64_t now = cridctl_now_ns();
	int rc = cridctl_table_add(&t, head);

	for (size_t i = 0; rc == 0 && i < l->n; i++) {
		const Runtime__V1__PodSandbox *p = l->items[i];
		char id[128], ago[64], attempt[16];
		const char *row[7] = { id,
				       ago,
				       p->state ? "NotReady" : "Ready",
				       p->metadata->name,
				       p->metadata->namespace_,
				       attempt,
				       runtime_of(p->runtime_handler) };

		snprintf(id, sizeof(id), "%.*s", o->no_trunc ? 127 : TRUNC_ID_LEN, p->id);
		cridctl_human_duration(now - p->created_at, ago, sizeof(ago) - 4);
		strcat(ago, " ago");
		snprintf(attempt, sizeof(attempt), "%u", p->metadata->attempt);
		rc = cridctl_table_add(&t, row);
	}
	return cridctl_table_finish(&t, rc, "pods");
}

int cridctl_pods(struct cridctl *ctl, int argc, char **argv)
{
	static const char usage[] = "Usage: cridctl pods [options]\n"
				    "List pods, newest first\n"
				    "  --id ID              filter by pod ID (prefix)\n"
				    "  --name REGEXP        filter by pod name\n"
				    "  --namespace REGEXP   filter by pod namespace\n"
				    "  -s, --state STATE    filter by state: ready or notready\n"
				    "  --label KEY=VALUE    filter by label (repeatable)\n"
				    "  -l, --latest         show the most recently created pod\n"
				    "  -n, --last N         show the last N recently created pods\n"
				    "  -q, --quiet          list only pod IDs\n"
				    "  -v, --verbose        show verbose info for pods\n"
				    "  --no-trunc           show full pod IDs\n"
				    "  -o, --output FORMAT  json or table\n";
	struct pod_list l;
	struct pod_opts o;
	enum cridctl_output out;
	int rc = pod_opts(ctl, argc, argv, "+o:qvln:s:h", "INSLT", usage, &o);

	if (rc)
		return rc < 0;
	if (argc > o.first_arg) {
		fprintf(stderr, "cridctl: pods: unexpected argument `%s`\n%s", argv[o.first_arg],
			usage);
		return 1;
	}
	out = cridctl_output_for(ctl, "pods", CRIDCTL_OUT_TABLE | CRIDCTL_OUT_JSON,
				 CRIDCTL_OUT_TABLE);
	if (!out || list_pods(ctl, "pods", &o.f, o.f.id, &l) < 0)
		return 1;
	rc = 0;
	if (out == CRIDCTL_OUT_JSON) {
		yajl_gen g = cridctl_json_begin("pods");

		if (g) {
			yajl_gen_map_open(g);
			cridctl_json_str(g, "items");
			yajl_gen_array_open(g);
			for (size_t i = 0; i < l.n; i++)
				json_pod(g, l.items[i]);
			yajl_gen_array_close(g);
			yajl_gen_map_close(g);
			cridctl_json_print(g, stdout);
		}
		rc = !g;
	} else if (o.quiet) {
		for (size_t i = 0; i < l.n; i++)
			printf("%s\n", l.items[i]->id);
	} else if (o.verbose) {
		for (size_t i = 0; i < l.n; i++)
			pod_verbose(l.items[i]);
	} else {
		rc = pods_table(&l, &o);
	}
	pod_list_free(&l);
	return rc;
}

/* --- inspectp -------------------------------------------------------------------- */

static int pod_status(struct cridctl *ctl, const char *id, bool verbose,
		      Runtime__V1__PodSandboxStatusResponse **r)
{
	Runtime__V1__PodSandboxStatusRequest req = RUNTIME__V1__POD_SANDBOX_STATUS_REQUEST__INIT;

	req.pod_sandbox_id = (char *)id;
	req.verbose = verbose;
	return cridctl_call(ctl, "PodSandboxStatus", &req.base,
			    &runtime__v1__pod_sandbox_status_response__descriptor,
			    (ProtobufCMessage **)r);
}

/* outputStatusData's document: "status" and the info entries, all keys sorted. */
static int status_doc(yajl_gen g, const Runtime__V1__PodSandboxStatusResponse *r)
{
	yajl_val status = cridctl_json_tree(json_status, r->status);

	if (!status)
		return -1;
	cridctl_json_status_doc(g, cridctl_json_sorted_tree, status, r->info, r->n_info, false);
	yajl_tree_free(status);
	return 0;
}

static void status_table(const Runtime__V1__PodSandboxStatusResponse *r, bool verbose)
{
	const Runtime__V1__PodSandboxStatus *s = r->status;
	char created[96];

	printf("ID: %s\n", s->id);
	if (s->metadata) {
		if (s->metadata->name[0])
			printf("Name: %s\n", s->metadata->name);
		if (s->metadata->uid[0])
			printf("UID: %s\n", s->metadata->uid);
		if (s->metadata->namespace_[0])
			printf("Namespace: %s\n", s->metadata->namespace_);
		printf("Attempt: %u\n", s->metadata->attempt);
	}
	printf("Status: %s\n", state_name(s->state));
	cridctl_go_time(s->created_at, false, created, sizeof(created));
	printf("Created: %s\n", created);
	if (s->network) {
		printf("IP Addresses: %s\n", s->network->ip);
		for (size_t i = 0; i < s->network->n_additional_ips; i++)
			printf("Additional IP: %s\n", s->network->additional_ips[i]->ip);
	}
	cridctl_text_map("Labels", s->labels, s->n_labels);
	cridctl_text_map("Annotations", s->annotations, s->n_annotations);
	if (verbose)
		cridctl_text_info(r->info, r->n_info);
}

/* The IDs to inspect: the arguments, or what the filters select. */
static int inspect_ids(struct cridctl *ctl, int argc, char **argv, const struct pod_opts *o,
		       char ***ids, size_t *n)
{
	struct pod_list l;

	*n = 0;
	*ids = crid_calloc((size_t)argc + 1, sizeof(**ids));
	if (!*ids)
		return -1;
	if (argc > o->first_arg) {
		for (int i = o->first_arg; i < argc; i++) {
			(*ids)[*n] = resolve_id(ctl, "inspectp", argv[i]);
			if (!(*ids)[(*n)++])
				return -1;
		}
		return 0;
	}
	if (list_pods(ctl, "inspectp", &o->f, NULL, &l) < 0)
		return -1;
	crid_free(*ids);
	*ids = crid_calloc(l.n + 1, sizeof(**ids));
	for (size_t i = 0; *ids && i < l.n; i++)
		(*ids)[(*n)++] = crid_strdup(l.items[i]->id);
	pod_list_free(&l);
	return *ids ? 0 : -1;
}

struct inspect_ctx {
	struct cridctl *ctl;
	bool verbose;
};

/* One pod's status; a document that ran out of memory is reported and left as it is. */
static int inspect_one(void *user, const char *id, yajl_gen g)
{
	const struct inspect_ctx *c = user;
	Runtime__V1__PodSandboxStatusResponse *r;
	int rc;

	if (pod_status(c->ctl, id, c->verbose, &r) < 0)
		return 1;
	if (!r->status)
		fprintf(stderr, "cridctl: inspectp: no status for pod %s\n", id);
	else if (!g)
		status_table(r, c->verbose);
	else if (status_doc(g, r) < 0)
		fprintf(stderr, "cridctl: inspectp: out of memory\n");
	rc = !r->status;
	protobuf_c_message_free_unpacked(&r->base, NULL);
	return rc;
}

int cridctl_inspectp(struct cridctl *ctl, int argc, char **argv)
{
	static const char usage[] =
	    "Usage: cridctl inspectp [options] [POD-ID...]\n"
	    "Display the status of one or more pods (IDs may be prefixes); without\n"
	    "IDs, of the pods the filters select\n"
	    "  -o, --output FORMAT  json (default) or table\n"
	    "  -q, --quiet          do not show verbose information\n"
	    "  --name, --namespace REGEXP, -s/--state, --label K=V, -l/--latest, -n/--last N\n";
	struct pod_opts o;
	struct inspect_ctx c = { ctl, false };
	enum cridctl_output out;
	char **ids = NULL;
	size_t n = 0;
	int rc = pod_opts(ctl, argc, argv, "+o:qln:s:h", "NSL", usage, &o);

	if (rc)
		return rc < 0;
	out = cridctl_output_for(ctl, "inspectp", CRIDCTL_OUT_TABLE | CRIDCTL_OUT_JSON,
				 CRIDCTL_OUT_JSON);
	if (!out || inspect_ids(ctl, argc, argv, &o, &ids, &n) < 0) {
		cridctl_ids_free(ids, n);
		return 1;
	}
	c.verbose = !o.quiet;
	rc = cridctl_json_each("inspectp", out == CRIDCTL_OUT_JSON, ids, n, inspect_one, &c);
	cridctl_ids_free(ids, n);
	return rc;
}

/* --- stopp, rmp ------------------------------------------------------------------ */

static int stop_pod(struct cridctl *ctl, const char *id, const char *shown)
{
	Runtime__V1__StopPodSandboxRequest req = RUNTIME__V1__STOP_POD_SANDBOX_REQUEST__INIT;
	Runtime__V1__StopPodSandboxResponse *r;

	req.pod_sandbox_id = (char *)id;
	if (cridctl_call_timeout(ctl, "StopPodSandbox", sandbox_timeout(ctl), &req.base,
				 &runtime__v1__stop_pod_sandbox_response__descriptor,
				 (ProtobufCMessage **)&r) < 0)
		return -1;
	protobuf_c_message_free_unpacked(&r->base, NULL);
	printf("Stopped sandbox %s\n", shown);
	return 0;
}

int cridctl_stopp(struct cridctl *ctl, int argc, char **argv)
{
	static const char usage[] = "Usage: cridctl stopp POD-ID [POD-ID...]\n"
				    "Stop one or more running pods (IDs may be prefixes)\n";
	struct pod_opts o;
	int rc = pod_opts(ctl, argc, argv, "+h", "", usage, &o);

	if (rc)
		return rc < 0;
	if (argc == o.first_arg) {
		fprintf(stderr, "cridctl: stopp: expected POD-ID\n%s", usage);
		return 1;
	}
	/* crictl stops at the first failure */
	for (int i = o.first_arg; i < argc; i++) {
		char *id = resolve_id(ctl, "stopp", argv[i]);

		rc = id ? stop_pod(ctl, id, argv[i]) : -1;
		crid_free(id);
		if (rc < 0)
			return 1;
	}
	return 0;
}

static int remove_pod(struct cridctl *ctl, const char *arg, bool force)
{
	Runtime__V1__RemovePodSandboxRequest req = RUNTIME__V1__REMOVE_POD_SANDBOX_REQUEST__INIT;
	Runtime__V1__RemovePodSandboxResponse *r;
	Runtime__V1__PodSandboxStatusResponse *st;
	char *id = resolve_id(ctl, "rmp", arg);
	int rc = -1;
	bool ready;

	if (!id || pod_status(ctl, id, false, &st) < 0)
		goto out;
	ready = st->status && st->status->state == RUNTIME__V1__POD_SANDBOX_STATE__SANDBOX_READY;
	protobuf_c_message_free_unpacked(&st->base, NULL);
	if (ready && !force) {
		fprintf(stderr,
			"cridctl: rmp: pod sandbox \"%s\" is running, please stop it first\n", arg);
		goto out;
	}
	if (ready && stop_pod(ctl, id, arg) < 0)
		goto out;
	req.pod_sandbox_id = id;
	if (cridctl_call_timeout(ctl, "RemovePodSandbox", sandbox_timeout(ctl), &req.base,
				 &runtime__v1__remove_pod_sandbox_response__descriptor,
				 (ProtobufCMessage **)&r) < 0)
		goto out;
	protobuf_c_message_free_unpacked(&r->base, NULL);
	printf("Removed sandbox %s\n", arg);
	rc = 0;
out:
	crid_free(id);
	return rc;
}

int cridctl_rmp(struct cridctl *ctl, int argc, char **argv)
{
	static const char usage[] = "Usage: cridctl rmp [-f] [-a] POD-ID [POD-ID...]\n"
				    "Remove one or more pods (IDs may be prefixes)\n"
				    "  -f, --force   stop the pod first if it is running\n"
				    "  -a, --all     remove all pods\n";
	struct cridctl_filter none = { 0 };
	struct pod_opts o;
	struct pod_list l = { 0 };
	int rc = pod_opts(ctl, argc, argv, "+fah", "", usage, &o);
	int failed = 0;

	if (rc)
		return rc < 0;
	if (o.all) {
		if (list_pods(ctl, "rmp", &none, NULL, &l) < 0)
			return 1;
		if (l.n == 0)
			fprintf(stderr, "No pods to remove\n");
		for (size_t i = 0; i < l.n; i++)
			failed |= remove_pod(ctl, l.items[i]->id, o.force) < 0;
		pod_list_free(&l);
		return failed;
	}
	if (argc == o.first_arg) {
		fprintf(stderr, "cridctl: rmp: expected POD-ID\n%s", usage);
		return 1;
	}
	/* crictl tries every pod and fails if any failed */
	for (int i = o.first_arg; i < argc; i++)
		failed |= remove_pod(ctl, argv[i], o.force) < 0;
	return failed;
}
