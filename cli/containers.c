/*
 * cridctl container verbs: create, start, run, ps, inspect, stop, rm, exec
 * (sync only), update and events. Flags and output mirror crictl (cri-tools
 * cmd/crictl/container.go, exec.go, events.go): the ps table (CONTAINER,
 * IMAGE, CREATED, STATE, NAME, ATTEMPT, POD ID, POD), newest first, name and
 * namespace regexps applied client-side; inspect's {"info", "status"}
 * document with every key sorted; start/stop/rm/update print each ID done.
 * Container IDs are passed to the daemon as given.
 * Lists through filter.c, prints through table.c and json.c, calls the
 * daemon through rpc.c; reads configs with podconfig.c.
 */
#include <errno.h>
#include <getopt.h>
#include <glob.h>
#include <inttypes.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "cli/cridctl.h"
#include "cli/stream_exec.h"
#include "cli/podconfig.h"
#include "proto/api.pb-c.h"
#include "reactor/mem.h"

#define TRUNC_ID_LEN 13
#define POD_NAME_LABEL "io.kubernetes.pod.name"
#define POD_NAMESPACE_LABEL "io.kubernetes.pod.namespace"

struct ctr_opts {
	bool quiet, verbose, no_trunc, all, force, keep_logs, no_pull, with_pull;
	const char *pod, *image, *runtime, *creds, *auth;
	struct cridctl_filter f;
	int first_arg;
};

static int ctr_opt(void *user, const char *verb, int opt, const char *arg)
{
	struct ctr_opts *o = user;

	(void)verb;
	switch (opt) {
	case 'q':
		o->quiet = true;
		break;
	case 'v':
		o->verbose = true;
		break;
	case 'p':
		o->pod = arg;
		break;
	case 'a':
		o->all = true;
		break;
	case 'f':
		o->force = true;
		break;
	case 'k':
		o->keep_logs = true;
		break;
	case 'r':
		o->runtime = arg;
		break;
	case 'G':
		o->image = arg;
		break;
	case 'T':
		o->no_trunc = true;
		break;
	case 'P':
		o->no_pull = true;
		break;
	case 'W':
		o->with_pull = true;
		break;
	case 'C':
		o->creds = arg;
		break;
	case 'A':
		o->auth = arg;
		break;
	case 'X': /* --cancel-timeout: the per-call -t already bounds each call */
		break;
	default:
		return 1;
	}
	return 0;
}

/* Long-only options get capital letters outside every verb's short options. */
static int ctr_opts(struct cridctl *ctl, int argc, char **argv, const char *shorts,
		    const char *allowed, const char *usage, struct ctr_opts *o)
{
	static const struct option longs[] = {
		{ "output", required_argument, NULL, 'o' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "latest", no_argument, NULL, 'l' },
		{ "last", required_argument, NULL, 'n' },
		{ "state", required_argument, NULL, 's' },
		{ "pod", required_argument, NULL, 'p' },
		{ "all", no_argument, NULL, 'a' },
		{ "force", no_argument, NULL, 'f' },
		{ "keep-logs", no_argument, NULL, 'k' },
		{ "runtime", required_argument, NULL, 'r' },
		{ "id", required_argument, NULL, 'I' },
		{ "name", required_argument, NULL, 'N' },
		{ "namespace", required_argument, NULL, 'S' },
		{ "image", required_argument, NULL, 'G' },
		{ "label", required_argument, NULL, 'L' },
		{ "no-trunc", no_argument, NULL, 'T' },
		{ "no-pull", no_argument, NULL, 'P' },
		{ "with-pull", no_argument, NULL, 'W' },
		{ "creds", required_argument, NULL, 'C' },
		{ "auth", required_argument, NULL, 'A' },
		{ "cancel-timeout", required_argument, NULL, 'X' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int rc;

	memset(o, 0, sizeof(*o));
	rc = cridctl_opts_parse(ctl, argc, argv, shorts, allowed, longs, usage, &o->f, ctr_opt, o);
	o->first_arg = optind;
	return rc;
}

/* --- ps -------------------------------------------------------------------------- */

const char *const cridctl_ps_header[CRIDCTL_PS_COLS] = {
	"CONTAINER", "IMAGE", "CREATED", "STATE", "NAME", "ATTEMPT", "POD ID", "POD",
};

static const char *state_word(int state)
{
	switch (state) {
	case RUNTIME__V1__CONTAINER_STATE__CONTAINER_CREATED:
		return "Created";
	case RUNTIME__V1__CONTAINER_STATE__CONTAINER_RUNNING:
		return "Running";
	case RUNTIME__V1__CONTAINER_STATE__CONTAINER_EXITED:
		return "Exited";
	default:
		return "Unknown";
	}
}

/* godigest.Parse succeeds: "sha256:" and 64 lower-case hex digits. */
static bool is_digest(const char *s)
{
	if (strncmp(s, "sha256:", 7) != 0 || strlen(s + 7) != 64)
		return false;
	return strspn(s + 7, "0123456789abcdef") == 64;
}

void cridctl_ps_row(const Runtime__V1__Container *c, bool no_trunc, int64_t now_ns,
		    char (*cells)[128], size_t cell_len)
{
	const char *image = c->image ? c->image->image : "";
	int cut = no_trunc ? (int)cell_len - 1 : TRUNC_ID_LEN;
	size_t n;

	snprintf(cells[0], cell_len, "%.*s", cut, c->id);
	if (!no_trunc && is_digest(image))
		snprintf(cells[1], cell_len, "%.*s", TRUNC_ID_LEN, image + 7);
	else
		snprintf(cells[1], cell_len, "%s", image);
	cridctl_human_duration(now_ns - c->created_at, cells[2], cell_len);
	n = strlen(cells[2]);
	snprintf(cells[2] + n, cell_len - n, " ago");
	snprintf(cells[3], cell_len, "%s", state_word(c->state));
	snprintf(cells[4], cell_len, "%s", c->metadata ? c->metadata->name : "");
	snprintf(cells[5], cell_len, "%u", c->metadata ? c->metadata->attempt : 0);
	snprintf(cells[6], cell_len, "%.*s", cut, c->pod_sandbox_id);
	snprintf(cells[7], cell_len, "%s", cridctl_kv_get(c->labels, c->n_labels, POD_NAME_LABEL));
}

struct ctr_list {
	Runtime__V1__ListContainersResponse *resp;
	Runtime__V1__Container **items; /* filtered, newest first */
	size_t n;
};

static void ctr_list_free(struct ctr_list *l)
{
	crid_free(l->items);
	if (l->resp)
		protobuf_c_message_free_unpacked(&l->resp->base, NULL);
}

static int state_filter(const char *verb, const char *state, int *out)
{
	static const char *const names[] = { "created", "running", "exited", "unknown" };

	for (int i = 0; i < 4; i++)
		if (strcasecmp(state, names[i]) == 0) {
			*out = i; /* CONTAINER_CREATED .. CONTAINER_UNKNOWN */
			return 0;
		}
	fprintf(stderr,
		"cridctl: %s: --state should be one of created, running, exited or unknown\n",
		verb);
	return -1;
}

/* crictl's ListContainers + getContainersList: server filters, then regexps, order, limits. */
static int list_ctrs(struct cridctl *ctl, const char *verb, const struct ctr_opts *o,
		     struct ctr_list *l)
{
	Runtime__V1__ListContainersRequest req = RUNTIME__V1__LIST_CONTAINERS_REQUEST__INIT;
	Runtime__V1__ContainerFilter f = RUNTIME__V1__CONTAINER_FILTER__INIT;
	Runtime__V1__ContainerStateValue st = RUNTIME__V1__CONTAINER_STATE_VALUE__INIT;
	Runtime__V1__ContainerFilter__LabelSelectorEntry ents[CRIDCTL_MAX_LABELS];
	void *ptrs[CRIDCTL_MAX_LABELS];
	char labels[4096];
	int state = RUNTIME__V1__CONTAINER_STATE__CONTAINER_RUNNING;

	memset(l, 0, sizeof(*l));
	if (o->f.state && state_filter(verb, o->f.state, &state) < 0)
		return -1;
	if ((o->f.state || !o->all) && !o->f.latest && !o->f.last) {
		st.state = state;
		f.state = &st;
	}
	if (cridctl_filter_labels(&o->f, verb,
				  &runtime__v1__container_filter__label_selector_entry__descriptor,
				  ents, ptrs, labels, sizeof(labels)) < 0)
		return -1;
	f.n_label_selector = o->f.n_labels;
	f.label_selector = (Runtime__V1__ContainerFilter__LabelSelectorEntry **)ptrs;
	f.id = (char *)(o->f.id ? o->f.id : "");
	f.pod_sandbox_id = (char *)(o->pod ? o->pod : "");
	req.filter = &f;
	if (cridctl_call(ctl, "ListContainers", &req.base,
			 &runtime__v1__list_containers_response__descriptor,
			 (ProtobufCMessage **)&l->resp) < 0)
		return -1;
	l->items = crid_calloc(l->resp->n_containers + 1, sizeof(*l->items));
	if (!l->items) {
		fprintf(stderr, "cridctl: %s: out of memory\n", verb);
		ctr_list_free(l);
		return -1;
	}
	for (size_t i = 0; i < l->resp->n_containers; i++) {
		Runtime__V1__Container *c = l->resp->containers[i];
		const char *ns = cridctl_kv_get(c->labels, c->n_labels, POD_NAMESPACE_LABEL);

		if (o->image && (!c->image || strcmp(c->image->image, o->image) != 0))
			continue;
		if (c->metadata && cridctl_filter_matches(o->f.name, c->metadata->name) &&
		    cridctl_filter_matches(o->f.ns, ns))
			l->items[l->n++] = c;
	}
	l->n = cridctl_filter_newest(&o->f, l->items, l->n,
				     offsetof(Runtime__V1__Container, created_at));
	return 0;
}

static void ctr_verbose(const Runtime__V1__Container *c, int64_t now)
{
	char ago[64];

	cridctl_human_duration(now - c->created_at, ago, sizeof(ago));
	printf("ID: %s\nPodID: %s\nNamespace: %s\n", c->id, c->pod_sandbox_id,
	       cridctl_kv_get(c->labels, c->n_labels, POD_NAMESPACE_LABEL));
	if (c->metadata) {
		if (c->metadata->name[0])
			printf("Name: %s\n", c->metadata->name);
		printf("Attempt: %u\n", c->metadata->attempt);
	}
	printf("State: %s\n", state_word(c->state));
	if (c->image)
		printf("Image: %s\n", c->image->image);
	printf("Created: %s ago\n", ago);
	cridctl_text_map("Labels", c->labels, c->n_labels);
	cridctl_text_map("Annotations", c->annotations, c->n_annotations);
	printf("\n");
}

static int ps_table(const struct ctr_list *l, bool no_trunc)
{
	struct cridctl_table t = { .cols = CRIDCTL_PS_COLS };
	int64_t now = cridctl_now_ns();
	int rc = cridctl_table_add(&t, cridctl_ps_header);

	for (size_t i = 0; rc == 0 && i < l->n; i++) {
		char cells[CRIDCTL_PS_COLS][128];
		const char *row[CRIDCTL_PS_COLS];

		cridctl_ps_row(l->items[i], no_trunc, now, cells, sizeof(cells[0]));
		for (int c = 0; c < CRIDCTL_PS_COLS; c++)
			row[c] = cells[c];
		rc = cridctl_table_add(&t, row);
	}
	return cridctl_table_finish(&t, rc, "ps");
}

static int ps_json(const struct ctr_list *l)
{
	Runtime__V1__ListContainersResponse out = RUNTIME__V1__LIST_CONTAINERS_RESPONSE__INIT;

	out.containers = l->items;
	out.n_containers = l->n;
	return cridctl_json_print_message(&out.base, "ps");
}

int cridctl_ps(struct cridctl *ctl, int argc, char **argv)
{
	static const char usage[] =
	    "Usage: cridctl ps [options]\n"
	    "List containers (running ones unless -a, --state, -l or -n), newest first\n"
	    "  -a, --all            show all containers\n"
	    "  --id ID              filter by container ID\n"
	    "  --name REGEXP        filter by container name\n"
	    "  --namespace REGEXP   filter by pod namespace\n"
	    "  -p, --pod ID         filter by pod ID\n"
	    "  --image IMAGE        filter by container image\n"
	    "  -s, --state STATE    created, running, exited or unknown\n"
	    "  --label KEY=VALUE    filter by label (repeatable)\n"
	    "  -l, --latest         show the most recently created container\n"
	    "  -n, --last N         show the last N recently created containers\n"
	    "  -q, --quiet          list only container IDs\n"
	    "  -v, --verbose        show verbose info for containers\n"
	    "  --no-trunc           show full IDs\n"
	    "  -o, --output FORMAT  json or table\n";
	struct ctr_list l;
	struct ctr_opts o;
	enum cridctl_output out;
	int rc = ctr_opts(ctl, argc, argv, "+o:qvln:s:p:ah", "INSGLT", usage, &o);

	if (rc)
		return rc < 0;
	if (argc > o.first_arg) {
		fprintf(stderr, "cridctl: ps: unexpected argument `%s`\n%s", argv[o.first_arg],
			usage);
		return 1;
	}
	out =
	    cridctl_output_for(ctl, "ps", CRIDCTL_OUT_TABLE | CRIDCTL_OUT_JSON, CRIDCTL_OUT_TABLE);
	if (!out || list_ctrs(ctl, "ps", &o, &l) < 0)
		return 1;
	rc = 0;
	if (out == CRIDCTL_OUT_JSON) {
		rc = ps_json(&l);
	} else if (o.quiet) {
		for (size_t i = 0; i < l.n; i++)
			printf("%s\n", l.items[i]->id);
	} else if (o.verbose) {
		for (size_t i = 0; i < l.n; i++)
			ctr_verbose(l.items[i], cridctl_now_ns());
	} else {
		rc = ps_table(&l, o.no_trunc);
	}
	ctr_list_free(&l);
	return rc;
}

/* --- inspect --------------------------------------------------------------------- */

static int ctr_status(struct cridctl *ctl, const char *id, bool verbose,
		      Runtime__V1__ContainerStatusResponse **r)
{
	Runtime__V1__ContainerStatusRequest req = RUNTIME__V1__CONTAINER_STATUS_REQUEST__INIT;

	req.container_id = (char *)id;
	req.verbose = verbose;
	return cridctl_call(ctl, "ContainerStatus", &req.base,
			    &runtime__v1__container_status_response__descriptor,
			    (ProtobufCMessage **)r);
}

/* marshalContainerStatus: the times as RFC 3339 text, zero when not reached yet. */
static bool status_times(yajl_gen g, const ProtobufCFieldDescriptor *f, const ProtobufCMessage *m,
			 void *user)
{
	const Runtime__V1__ContainerStatus *s = (const Runtime__V1__ContainerStatus *)m;
	int64_t ns;
	char buf[96];

	(void)user;
	if (strcmp(f->name, "created_at") == 0)
		ns = s->created_at;
	else if (strcmp(f->name, "started_at") == 0)
		ns = s->state != RUNTIME__V1__CONTAINER_STATE__CONTAINER_CREATED ? s->started_at
										 : INT64_MIN;
	else if (strcmp(f->name, "finished_at") == 0)
		ns = s->state == RUNTIME__V1__CONTAINER_STATE__CONTAINER_EXITED ||
			     (s->state == RUNTIME__V1__CONTAINER_STATE__CONTAINER_UNKNOWN &&
			      s->finished_at > 0)
			 ? s->finished_at
			 : INT64_MIN;
	else
		return false;
	if (ns == INT64_MIN) /* Go's zero time.Time */
		snprintf(buf, sizeof(buf), "0001-01-01T00:00:00Z");
	else
		cridctl_go_time(ns, true, buf, sizeof(buf));
	cridctl_json_str(g, f->name[0] == 'c'	? "createdAt"
			    : f->name[0] == 's' ? "startedAt"
						: "finishedAt");
	cridctl_json_str(g, buf);
	return true;
}

static void json_status(yajl_gen g, const void *status)
{
	cridctl_json_message(g, status, status_times, NULL);
}

/* outputStatusData's document: "status" and the info entries, all keys sorted. */
static int status_doc(yajl_gen g, const Runtime__V1__ContainerStatusResponse *r)
{
	yajl_val status = cridctl_json_tree(json_status, &r->status->base);

	if (!status)
		return -1;
	cridctl_json_status_doc(g, cridctl_json_sorted_tree, status, r->info, r->n_info, false);
	yajl_tree_free(status);
	return 0;
}

static void ago(int64_t ns, char *buf, size_t n)
{
	size_t len;

	cridctl_human_duration(cridctl_now_ns() - ns, buf, n);
	len = strlen(buf);
	snprintf(buf + len, n - len, " ago");
}

static void status_table(const Runtime__V1__ContainerStatusResponse *r, bool verbose)
{
	const Runtime__V1__ContainerStatus *s = r->status;
	static const char *const states[] = { "CONTAINER_CREATED", "CONTAINER_RUNNING",
					      "CONTAINER_EXITED", "CONTAINER_UNKNOWN" };
	char t[96];

	printf("ID: %s\n", s->id);
	if (s->metadata && s->metadata->name[0])
		printf("Name: %s\n", s->metadata->name);
	if (s->metadata && s->metadata->attempt)
		printf("Attempt: %u\n", s->metadata->attempt);
	printf("State: %s\n", states[s->state >= 0 && s->state < 4 ? s->state : 3]);
	ago(s->created_at, t, sizeof(t));
	printf("Created: %s\n", t);
	if (s->state != RUNTIME__V1__CONTAINER_STATE__CONTAINER_CREATED) {
		ago(s->started_at, t, sizeof(t));
		printf("Started: %s\n", t);
	}
	if (s->state == RUNTIME__V1__CONTAINER_STATE__CONTAINER_EXITED) {
		if (s->finished_at > 0) {
			ago(s->finished_at, t, sizeof(t));
			printf("Finished: %s\n", t);
		}
		printf("Exit Code: %d\n", s->exit_code);
	}
	cridctl_text_map("Labels", s->labels, s->n_labels);
	cridctl_text_map("Annotations", s->annotations, s->n_annotations);
	if (verbose)
		cridctl_text_info(r->info, r->n_info);
}

/* The IDs to act on: the arguments, or what the filters select. */
static int selected_ids(struct cridctl *ctl, const char *verb, int argc, char **argv,
			const struct ctr_opts *o, char ***ids, size_t *n)
{
	struct ctr_list l;

	*n = 0;
	if (argc > o->first_arg) {
		*ids = crid_calloc((size_t)argc, sizeof(**ids));
		for (int i = o->first_arg; *ids && i < argc; i++)
			(*ids)[(*n)++] = crid_strdup(argv[i]);
		return *ids ? 0 : -1;
	}
	if (list_ctrs(ctl, verb, o, &l) < 0)
		return -1;
	*ids = crid_calloc(l.n + 1, sizeof(**ids));
	for (size_t i = 0; *ids && i < l.n; i++)
		(*ids)[(*n)++] = crid_strdup(l.items[i]->id);
	ctr_list_free(&l);
	return *ids ? 0 : -1;
}

struct inspect_ctx {
	struct cridctl *ctl;
	bool quiet;
};

static int inspect_one(void *user, const char *id, yajl_gen g)
{
	const struct inspect_ctx *c = user;
	Runtime__V1__ContainerStatusResponse *r;
	bool quiet = c->quiet;
	int rc = 0;

	if (ctr_status(c->ctl, id, !quiet, &r) < 0)
		return -1;
	if (!r->status) {
		fprintf(stderr, "cridctl: inspect: no status for container %s\n", id);
		rc = -1;
	} else if (!g) {
		status_table(r, !quiet);
	} else if (status_doc(g, r) < 0) {
		fprintf(stderr, "cridctl: inspect: out of memory\n");
		rc = -1;
	}
	protobuf_c_message_free_unpacked(&r->base, NULL);
	return rc;
}

int cridctl_inspect(struct cridctl *ctl, int argc, char **argv)
{
	static const char usage[] =
	    "Usage: cridctl inspect [options] [CONTAINER-ID...]\n"
	    "Display the status of one or more containers; without IDs, of the\n"
	    "containers the filters select\n"
	    "  -o, --output FORMAT  json (default) or table\n"
	    "  -q, --quiet          do not show verbose information\n"
	    "  --name, --namespace REGEXP, -p/--pod ID, --image, -s/--state, --label K=V,\n"
	    "  -l/--latest, -n/--last N, -a/--all\n";
	struct ctr_opts o;
	struct inspect_ctx c = { ctl, false };
	enum cridctl_output out;
	char **ids = NULL;
	size_t n = 0;
	int rc = ctr_opts(ctl, argc, argv, "+o:qln:s:p:ah", "NSGL", usage, &o);

	if (rc)
		return rc < 0;
	out = cridctl_output_for(ctl, "inspect", CRIDCTL_OUT_TABLE | CRIDCTL_OUT_JSON,
				 CRIDCTL_OUT_JSON);
	if (!out || selected_ids(ctl, "inspect", argc, argv, &o, &ids, &n) < 0) {
		cridctl_ids_free(ids, n);
		return 1;
	}
	c.quiet = o.quiet;
	rc = cridctl_json_each("inspect", out == CRIDCTL_OUT_JSON, ids, n, inspect_one, &c);
	cridctl_ids_free(ids, n);
	return rc;
}

/* --- create, start, run ----------------------------------------------------------- */

/* --creds USER[:PASSWORD] or --auth BASE64 as the AuthConfig crictl sends. */
static void set_auth(const struct ctr_opts *o, Runtime__V1__AuthConfig *auth, char *buf, size_t n)
{
	char *colon;

	runtime__v1__auth_config__init(auth);
	if (o->auth)
		auth->auth = (char *)o->auth;
	if (!o->creds)
		return;
	snprintf(buf, n, "%s", o->creds);
	colon = strchr(buf, ':');
	if (colon)
		*colon++ = '\0';
	auth->username = buf;
	auth->password = colon ? colon : (char *)"";
}

static bool image_present(struct cridctl *ctl, const char *image)
{
	Runtime__V1__ImageStatusRequest req = RUNTIME__V1__IMAGE_STATUS_REQUEST__INIT;
	Runtime__V1__ImageSpec spec = RUNTIME__V1__IMAGE_SPEC__INIT;
	Runtime__V1__ImageStatusResponse *r;
	bool present;

	spec.image = (char *)image;
	req.image = &spec;
	if (cridctl_image_call(ctl, "ImageStatus", ctl->timeout_ms, &req.base,
			       &runtime__v1__image_status_response__descriptor,
			       (ProtobufCMessage **)&r) < 0)
		return false;
	present = r->image != NULL;
	protobuf_c_message_free_unpacked(&r->base, NULL);
	return present;
}

/* Pulls |cfg|'s image, with the pod config as crictl's PullImageWithSandbox sends it. */
static int pull_image(struct cridctl *ctl, const struct ctr_opts *o,
		      const Runtime__V1__ContainerConfig *cfg, Runtime__V1__PodSandboxConfig *pod)
{
	Runtime__V1__PullImageRequest req = RUNTIME__V1__PULL_IMAGE_REQUEST__INIT;
	Runtime__V1__ImageSpec spec = RUNTIME__V1__IMAGE_SPEC__INIT;
	Runtime__V1__PullImageResponse *r;
	Runtime__V1__AuthConfig auth;
	char creds[512];

	spec.image = cfg->image->image;
	req.image = &spec;
	req.sandbox_config = pod;
	if (o->creds || o->auth) {
		set_auth(o, &auth, creds, sizeof(creds));
		req.auth = &auth;
	}
	if (cridctl_image_call(ctl, "PullImage", ctl->timeout_given ? ctl->timeout_ms : 0,
			       &req.base, &runtime__v1__pull_image_response__descriptor,
			       (ProtobufCMessage **)&r) < 0)
		return -1;
	protobuf_c_message_free_unpacked(&r->base, NULL);
	return 0;
}

/* CreateContainer; the new ID is returned (free it), NULL on failure (printed). */
static char *create_ctr(struct cridctl *ctl, const char *pod_id, Runtime__V1__ContainerConfig *cfg,
			Runtime__V1__PodSandboxConfig *pod)
{
	Runtime__V1__CreateContainerRequest req = RUNTIME__V1__CREATE_CONTAINER_REQUEST__INIT;
	Runtime__V1__CreateContainerResponse *r;
	char *id;

	if (!cfg->image->user_specified_image[0])
		cfg->image->user_specified_image = crid_strdup(cfg->image->image);
	if (!cfg->image->user_specified_image) {
		fprintf(stderr, "cridctl: create: out of memory\n");
		return NULL;
	}
	req.pod_sandbox_id = (char *)pod_id;
	req.config = cfg;
	req.sandbox_config = pod;
	if (cridctl_call(ctl, "CreateContainer", &req.base,
			 &runtime__v1__create_container_response__descriptor,
			 (ProtobufCMessage **)&r) < 0)
		return NULL;
	id = crid_strdup(r->container_id);
	protobuf_c_message_free_unpacked(&r->base, NULL);
	if (!id)
		fprintf(stderr, "cridctl: create: out of memory\n");
	return id;
}

static int start_ctr(struct cridctl *ctl, const char *id)
{
	Runtime__V1__StartContainerRequest req = RUNTIME__V1__START_CONTAINER_REQUEST__INIT;
	Runtime__V1__StartContainerResponse *r;

	req.container_id = (char *)id;
	if (cridctl_call(ctl, "StartContainer", &req.base,
			 &runtime__v1__start_container_response__descriptor,
			 (ProtobufCMessage **)&r) < 0)
		return -1;
	protobuf_c_message_free_unpacked(&r->base, NULL);
	printf("%s\n", id);
	return 0;
}

static int load_configs(const char *verb, const char *ctr_path, const char *pod_path,
			Runtime__V1__ContainerConfig **cfg, Runtime__V1__PodSandboxConfig **pod)
{
	struct crid_err err;

	*cfg = NULL;
	*pod = NULL;
	if (cridctl_ctrconfig_load(ctr_path, cfg, &err) == 0 &&
	    cridctl_podconfig_load(pod_path, pod, &err) == 0)
		return 0;
	fprintf(stderr, "cridctl: %s: %s\n", verb, err.msg);
	cridctl_config_free(*cfg ? &(*cfg)->base : NULL);
	return -1;
}

int cridctl_create(struct cridctl *ctl, int argc, char **argv)
{
	static const char usage[] =
	    "Usage: cridctl create [options] POD-ID container-config.[json|yaml] "
	    "pod-config.[json|yaml]\n"
	    "Create a new container in a pod; prints its ID\n"
	    "  --with-pull          pull the image first\n"
	    "  --no-pull            do not pull the image (the default)\n"
	    "  --creds USER[:PASS], --auth BASE64   registry credentials for the pull\n";
	Runtime__V1__ContainerConfig *cfg;
	Runtime__V1__PodSandboxConfig *pod;
	struct ctr_opts o;
	char *id = NULL;
	int rc = ctr_opts(ctl, argc, argv, "+T:h", "PWCAX", usage, &o);

	if (rc)
		return rc < 0;
	if (argc - o.first_arg != 3) {
		fprintf(stderr, "cridctl: create: expected POD-ID and two config files\n%s", usage);
		return 1;
	}
	if (o.no_pull && o.with_pull) {
		fprintf(stderr, "cridctl: create: conflict: no-pull and with-pull are both set\n");
		return 1;
	}
	if (load_configs("create", argv[o.first_arg + 1], argv[o.first_arg + 2], &cfg, &pod) < 0)
		return 1;
	if (!o.with_pull || pull_image(ctl, &o, cfg, pod) == 0)
		id = create_ctr(ctl, argv[o.first_arg], cfg, pod);
	if (id)
		printf("%s\n", id);
	cridctl_config_free(&cfg->base);
	cridctl_config_free(&pod->base);
	rc = !id;
	crid_free(id);
	return rc;
}

int cridctl_start(struct cridctl *ctl, int argc, char **argv)
{
	static const char usage[] = "Usage: cridctl start CONTAINER-ID [CONTAINER-ID...]\n"
				    "Start one or more created containers\n";
	struct ctr_opts o;
	int rc = ctr_opts(ctl, argc, argv, "+h", "", usage, &o);

	if (rc)
		return rc < 0;
	if (argc == o.first_arg) {
		fprintf(stderr, "cridctl: start: ID cannot be empty\n%s", usage);
		return 1;
	}
	for (int i = o.first_arg; i < argc; i++)
		if (start_ctr(ctl, argv[i]) < 0)
			return 1;
	return 0;
}

/* RunPodSandbox as runp does it; the pod ID or NULL (printed). */
static char *run_pod(struct cridctl *ctl, Runtime__V1__PodSandboxConfig *pod, const char *rt)
{
	Runtime__V1__RunPodSandboxRequest req = RUNTIME__V1__RUN_POD_SANDBOX_REQUEST__INIT;
	Runtime__V1__RunPodSandboxResponse *r;
	char uid[40], *id;

	if (!pod->metadata->uid[0] && cridctl_random_uuid(uid, sizeof(uid)) == 0) {
		char *copy = crid_strdup(uid); /* freed with |pod|; the empty default is not */

		if (copy)
			pod->metadata->uid = copy;
	}
	req.config = pod;
	req.runtime_handler = (char *)(rt ? rt : "");
	if (cridctl_call_timeout(ctl, "RunPodSandbox",
				 ctl->timeout_ms > INT_MAX / 2 ? 0 : ctl->timeout_ms * 2, &req.base,
				 &runtime__v1__run_pod_sandbox_response__descriptor,
				 (ProtobufCMessage **)&r) < 0)
		return NULL;
	id = crid_strdup(r->pod_sandbox_id);
	protobuf_c_message_free_unpacked(&r->base, NULL);
	return id;
}

int cridctl_run(struct cridctl *ctl, int argc, char **argv)
{
	static const char usage[] =
	    "Usage: cridctl run [options] container-config.[json|yaml] pod-config.[json|yaml]\n"
	    "Run a new container in a new pod: pull its image if absent, runp, create,\n"
	    "start; prints the container ID\n"
	    "  -r, --runtime NAME   runtime handler for the pod\n"
	    "  --no-pull            do not pull the image\n"
	    "  --with-pull          pull the image even when present\n"
	    "  --creds USER[:PASS], --auth BASE64   registry credentials for the pull\n";
	Runtime__V1__ContainerConfig *cfg;
	Runtime__V1__PodSandboxConfig *pod;
	struct ctr_opts o;
	char *pod_id = NULL, *id = NULL;
	int rc = ctr_opts(ctl, argc, argv, "+r:T:h", "PWCAX", usage, &o);

	if (rc)
		return rc < 0;
	if (argc - o.first_arg != 2) {
		fprintf(stderr, "cridctl: run: expected two config files\n%s", usage);
		return 1;
	}
	if (o.no_pull && o.with_pull) {
		fprintf(stderr, "cridctl: run: conflict: no-pull and with-pull are both set\n");
		return 1;
	}
	if (load_configs("run", argv[o.first_arg], argv[o.first_arg + 1], &cfg, &pod) < 0)
		return 1;
	rc = 1;
	if (!o.no_pull && (o.with_pull || !image_present(ctl, cfg->image->image)) &&
	    pull_image(ctl, &o, cfg, pod) < 0)
		goto out;
	pod_id = run_pod(ctl, pod, o.runtime);
	if (pod_id)
		id = create_ctr(ctl, pod_id, cfg, pod);
	if (id)
		rc = start_ctr(ctl, id) < 0;
out:
	crid_free(id);
	crid_free(pod_id);
	cridctl_config_free(&cfg->base);
	cridctl_config_free(&pod->base);
	return rc;
}

/* --- stop, rm -------------------------------------------------------------------- */

static int stop_ctr(struct cridctl *ctl, const char *id, long timeout_s)
{
	Runtime__V1__StopContainerRequest req = RUNTIME__V1__STOP_CONTAINER_REQUEST__INIT;
	Runtime__V1__StopContainerResponse *r;
	int ms = ctl->timeout_ms;

	/* the grace period comes on top of the call's own deadline, as in kubelet */
	if (ms > 0)
		ms = timeout_s > (INT_MAX - ms) / 1000 ? 0 : ms + (int)timeout_s * 1000;
	req.container_id = (char *)id;
	req.timeout = timeout_s;
	if (cridctl_call_timeout(ctl, "StopContainer", ms, &req.base,
				 &runtime__v1__stop_container_response__descriptor,
				 (ProtobufCMessage **)&r) < 0)
		return -1;
	protobuf_c_message_free_unpacked(&r->base, NULL);
	printf("%s\n", id);
	return 0;
}

int cridctl_stop(struct cridctl *ctl, int argc, char **argv)
{
	static const char usage[] =
	    "Usage: cridctl stop [-t SECONDS] [-a] CONTAINER-ID [CONTAINER-ID...]\n"
	    "Stop one or more running containers\n"
	    "  -t, --timeout SECONDS  grace period before the container is killed\n"
	    "  -a, --all              stop all running containers\n";
	static const struct option longs[] = {
		{ "timeout", required_argument, NULL, 't' },
		{ "all", no_argument, NULL, 'a' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct ctr_opts o = { 0 };
	char **ids = NULL, *end;
	size_t n = 0;
	long timeout = 0;
	int opt, rc = 0;

	optind = 0;
	opterr = 0;
	while ((opt = getopt_long(argc, argv, "+t:ah", longs, NULL)) != -1) {
		if (opt == 't') {
			timeout = strtol(optarg, &end, 10);
			if (!*end && end != optarg && timeout >= 0)
				continue;
			fprintf(stderr, "cridctl: stop: invalid --timeout `%s`\n", optarg);
			return 1;
		}
		if (opt == 'a') {
			o.all = true;
			continue;
		}
		if (opt == 'h') {
			printf("%s", usage);
			return 0;
		}
		fprintf(stderr, "cridctl: stop: bad option `%s`\n%s", argv[optind - 1], usage);
		return 1;
	}
	o.first_arg = optind;
	if (o.all && argc > optind) {
		fprintf(stderr, "cridctl: stop: cannot specify CONTAINER-ID(s) when using --all\n");
		return 1;
	}
	if (!o.all && argc == optind) {
		fprintf(stderr, "cridctl: stop: you must specify at least one CONTAINER-ID or use "
				"--all\n");
		return 1;
	}
	o.all = false; /* --all: only the running ones */
	if (selected_ids(ctl, "stop", argc, argv, &o, &ids, &n) < 0) {
		cridctl_ids_free(ids, n);
		return 1;
	}
	if (n == 0)
		printf("No running containers found.\n");
	for (size_t i = 0; rc == 0 && i < n; i++) /* crictl stops at the first failure */
		rc = stop_ctr(ctl, ids[i], timeout) < 0;
	cridctl_ids_free(ids, n);
	return rc;
}

/* The log file and its rotations (path.*), as crictl removes them. */
static void remove_logs(const char *id, const char *path)
{
	char pattern[PATH_MAX];
	glob_t gl;

	if (!path[0] || snprintf(pattern, sizeof(pattern), "%s.*", path) >= (int)sizeof(pattern))
		return;
	if (glob(pattern, 0, NULL, &gl) == 0) {
		for (size_t i = 0; i < gl.gl_pathc; i++)
			if (unlink(gl.gl_pathv[i]) < 0)
				fprintf(stderr,
					"cridctl: rm: removing log file %s for container "
					"\"%s\": %m\n",
					gl.gl_pathv[i], id);
		globfree(&gl);
	}
	if (unlink(path) < 0)
		fprintf(stderr, "cridctl: rm: removing log file %s for container \"%s\": %m\n",
			path, id);
}

static int remove_ctr(struct cridctl *ctl, const char *id, const struct ctr_opts *o)
{
	Runtime__V1__RemoveContainerRequest req = RUNTIME__V1__REMOVE_CONTAINER_REQUEST__INIT;
	Runtime__V1__RemoveContainerResponse *r;
	Runtime__V1__ContainerStatusResponse *st;
	bool running;
	int rc = -1;

	if (ctr_status(ctl, id, false, &st) < 0)
		return -1;
	running =
	    st->status && st->status->state == RUNTIME__V1__CONTAINER_STATE__CONTAINER_RUNNING;
	if (running && !o->force) {
		fprintf(stderr, "cridctl: rm: container \"%s\" is running, please stop it first\n",
			id);
		goto out;
	}
	if (running && stop_ctr(ctl, id, 0) < 0)
		goto out;
	req.container_id = (char *)id;
	if (cridctl_call(ctl, "RemoveContainer", &req.base,
			 &runtime__v1__remove_container_response__descriptor,
			 (ProtobufCMessage **)&r) < 0)
		goto out;
	protobuf_c_message_free_unpacked(&r->base, NULL);
	if (!o->keep_logs && st->status)
		remove_logs(id, st->status->log_path);
	printf("%s\n", id);
	rc = 0;
out:
	protobuf_c_message_free_unpacked(&st->base, NULL);
	return rc;
}

int cridctl_rm(struct cridctl *ctl, int argc, char **argv)
{
	static const char usage[] =
	    "Usage: cridctl rm [-f] [-k] [-a] CONTAINER-ID [CONTAINER-ID...]\n"
	    "Remove one or more containers\n"
	    "  -f, --force      stop the container first if it is running\n"
	    "  -k, --keep-logs  keep the container log file and its rotations\n"
	    "  -a, --all        remove all containers\n";
	struct ctr_opts o, sel;
	char **ids = NULL;
	size_t n = 0;
	int failed = 0, rc = ctr_opts(ctl, argc, argv, "+fkah", "", usage, &o);

	if (rc)
		return rc < 0;
	if (!o.all && argc == o.first_arg) {
		fprintf(stderr, "cridctl: rm: expected CONTAINER-ID\n%s", usage);
		return 1;
	}
	sel = o;
	sel.all = true; /* every state */
	if (o.all)
		sel.first_arg = argc;
	if (selected_ids(ctl, "rm", argc, argv, &sel, &ids, &n) < 0) {
		cridctl_ids_free(ids, n);
		return 1;
	}
	if (n == 0)
		fprintf(stderr, "No containers to remove\n");
	/* crictl tries every container and fails if any failed */
	for (size_t i = 0; i < n; i++)
		failed |= remove_ctr(ctl, ids[i], &o) < 0;
	cridctl_ids_free(ids, n);
	return failed;
}

/* --- exec (sync), update --------------------------------------------------------- */

int cridctl_exec(struct cridctl *ctl, int argc, char **argv)
{
	static const char usage[] =
	    "Usage: cridctl exec [-i] [-t] [-s] [--timeout SECONDS] [--transport spdy]\n"
	    "                    CONTAINER-ID COMMAND [ARG...]\n"
	    "Run a command in a running container: streamed (Exec) unless --sync\n"
	    "  -i, --interactive    keep STDIN open\n"
	    "  -t, --tty            allocate a pseudo-TTY\n"
	    "  -s, --sync           run synchronously (ExecSync): print the command's stdout\n"
	    "                       and stderr once it ends\n"
	    "  --timeout SECONDS    with --sync: stop the command after this long (0: no limit)\n"
	    "  --transport NAME     spdy (default) or websocket\n"
	    "Exits with the command's exit code.\n";
	static const struct option longs[] = {
		{ "sync", no_argument, NULL, 's' },
		{ "stdin", no_argument, NULL, 'i' },
		{ "interactive", no_argument, NULL, 'i' },
		{ "tty", no_argument, NULL, 't' },
		{ "timeout", required_argument, NULL, 'T' },
		{ "transport", required_argument, NULL, 'X' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	Runtime__V1__ExecSyncRequest req = RUNTIME__V1__EXEC_SYNC_REQUEST__INIT;
	Runtime__V1__ExecSyncResponse *r;
	bool sync = false, keep_stdin = false, tty = false;
	const char *transport = "spdy";
	long timeout = 0;
	char *end;
	int opt, ms, rc;

	optind = 0;
	opterr = 0;
	while ((opt = getopt_long(argc, argv, "+sith", longs, NULL)) != -1) {
		if (opt == 's' || opt == 'i' || opt == 't') {
			*(opt == 's' ? &sync : opt == 'i' ? &keep_stdin : &tty) = true;
			continue;
		}
		if (opt == 'X') {
			transport = optarg;
			continue;
		}
		if (opt == 'T') {
			timeout = strtol(optarg, &end, 10);
			if (!*end && end != optarg && timeout >= 0)
				continue;
			fprintf(stderr, "cridctl: exec: invalid --timeout `%s`\n", optarg);
			return 1;
		}
		if (opt == 'h') {
			printf("%s", usage);
			return 0;
		}
		fprintf(stderr, "cridctl: exec: bad option `%s`\n%s", argv[optind - 1], usage);
		return 1;
	}
	if (argc - optind < 2) {
		fprintf(stderr, "cridctl: exec: expected CONTAINER-ID and COMMAND\n%s", usage);
		return 1;
	}
	if (sync && (keep_stdin || tty)) { /* crictl's check */
		fprintf(stderr, "cridctl: exec: cannot use --sync with -i or -t\n");
		return 1;
	}
	if (!sync)
		return cridctl_exec_stream(ctl, transport, argv + optind + 1,
					   (size_t)(argc - optind - 1), argv[optind], keep_stdin,
					   tty);
	req.container_id = argv[optind];
	req.cmd = argv + optind + 1;
	req.n_cmd = (size_t)(argc - optind - 1);
	req.timeout = timeout;
	/* the command may run long: no deadline unless one was asked for */
	ms = timeout > 0 ? (int)(timeout > INT_MAX / 1000 - 2000 ? 0 : timeout * 1000 + 2000)
			 : (ctl->timeout_given ? ctl->timeout_ms : 0);
	if (cridctl_call_timeout(ctl, "ExecSync", ms, &req.base,
				 &runtime__v1__exec_sync_response__descriptor,
				 (ProtobufCMessage **)&r) < 0)
		return 1;
	if (r->stdout.len) /* an empty field's data is NULL, which fwrite may not take */
		fwrite(r->stdout.data, 1, r->stdout.len, stdout);
	if (r->stderr.len)
		fwrite(r->stderr.data, 1, r->stderr.len, stderr);
	rc = r->exit_code;
	protobuf_c_message_free_unpacked(&r->base, NULL);
	return rc;
}

static int int64_flag(const char *name, const char *s, int64_t *out)
{
	char *end;

	errno = 0;
	*out = strtoll(s, &end, 10);
	if (!errno && end != s && !*end)
		return 0;
	fprintf(stderr, "cridctl: update: invalid value \"%s\" for flag --%s\n", s, name);
	return -1;
}

int cridctl_update_parse(int argc, char **argv, Runtime__V1__LinuxContainerResources *res)
{
	static const char usage[] =
	    "Usage: cridctl update [options] CONTAINER-ID [CONTAINER-ID...]\n"
	    "Update the resources of one or more running containers\n"
	    "  --cpu-share N       CPU shares (relative weight)\n"
	    "  --cpu-quota N       CFS quota in microseconds per period\n"
	    "  --cpu-period N      CFS period in microseconds\n"
	    "  --memory N          memory limit in bytes\n"
	    "  --cpuset-cpus LIST  CPUs to use (0-3,5)\n"
	    "  --cpuset-mems LIST  memory nodes to use\n"
	    "  --oom-score-adj N   OOM killer score adjustment\n";
	static const struct option longs[] = {
		{ "cpu-share", required_argument, NULL, 's' },
		{ "cpu-quota", required_argument, NULL, 'q' },
		{ "cpu-period", required_argument, NULL, 'p' },
		{ "memory", required_argument, NULL, 'm' },
		{ "cpuset-cpus", required_argument, NULL, 'c' },
		{ "cpuset-mems", required_argument, NULL, 'M' },
		{ "oom-score-adj", required_argument, NULL, 'o' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int opt, idx;

	optind = 0;
	opterr = 0;
	while ((opt = getopt_long(argc, argv, "+h", longs, &idx)) != -1) {
		int64_t *dst = NULL;

		switch (opt) {
		case 's':
			dst = &res->cpu_shares;
			break;
		case 'q':
			dst = &res->cpu_quota;
			break;
		case 'p':
			dst = &res->cpu_period;
			break;
		case 'm':
			dst = &res->memory_limit_in_bytes;
			break;
		case 'o':
			dst = &res->oom_score_adj;
			break;
		case 'c':
			res->cpuset_cpus = optarg;
			continue;
		case 'M':
			res->cpuset_mems = optarg;
			continue;
		case 'h':
			printf("%s", usage);
			return 0;
		default:
			fprintf(stderr, "cridctl: update: bad option `%s`\n%s", argv[optind - 1],
				usage);
			return -1;
		}
		if (int64_flag(longs[idx].name, optarg, dst) < 0)
			return -1;
	}
	if (optind == argc) {
		fprintf(stderr, "cridctl: update: ID cannot be empty\n%s", usage);
		return -1;
	}
	return optind;
}

int cridctl_update(struct cridctl *ctl, int argc, char **argv)
{
	Runtime__V1__UpdateContainerResourcesRequest req =
	    RUNTIME__V1__UPDATE_CONTAINER_RESOURCES_REQUEST__INIT;
	Runtime__V1__LinuxContainerResources res = RUNTIME__V1__LINUX_CONTAINER_RESOURCES__INIT;
	Runtime__V1__UpdateContainerResourcesResponse *r;
	int first = cridctl_update_parse(argc, argv, &res);

	if (first <= 0)
		return first < 0;
	req.linux = &res;
	for (int i = first; i < argc; i++) {
		req.container_id = argv[i];
		if (cridctl_call(ctl, "UpdateContainerResources", &req.base,
				 &runtime__v1__update_container_resources_response__descriptor,
				 (ProtobufCMessage **)&r) < 0)
			return 1;
		protobuf_c_message_free_unpacked(&r->base, NULL);
		printf("%s\n", argv[i]);
	}
	return 0;
}

/* --- events ---------------------------------------------------------------------- */

struct events_state {
	int status;
	char message[512];
};

static void on_event(void *user, const uint8_t *msg, size_t len)
{
	Runtime__V1__ContainerEventResponse *e =
	    runtime__v1__container_event_response__unpack(NULL, len, msg);
	yajl_gen g;

	(void)user;
	if (!e || !(g = cridctl_json_new())) {
		printf("failed to format container event with the error: %s\n",
		       e ? "out of memory" : "cannot unmarshal the event");
		if (e)
			protobuf_c_message_free_unpacked(&e->base, NULL);
		return;
	}
	cridctl_json_message(g, &e->base, NULL, NULL);
	cridctl_json_print(g, stdout);
	fflush(stdout);
	protobuf_c_message_free_unpacked(&e->base, NULL);
}

static void on_events_done(void *user, const struct crid_grpc_reply *r)
{
	struct events_state *st = user;

	st->status = r->status;
	snprintf(st->message, sizeof(st->message), "%s", r->message);
}

int cridctl_events(struct cridctl *ctl, int argc, char **argv)
{
	static const char usage[] = "Usage: cridctl events [-o json]\n"
				    "Stream the events of containers, one JSON document each\n";
	Runtime__V1__GetEventsRequest req = RUNTIME__V1__GET_EVENTS_REQUEST__INIT;
	struct events_state st = { 0 };
	struct crid_err err;
	uint8_t buf[8];
	int rc = cridctl_verb_opts(ctl, argc, argv, usage, NULL);

	if (rc)
		return rc < 0;
	if (!cridctl_output_for(ctl, "events", CRIDCTL_OUT_JSON, CRIDCTL_OUT_JSON))
		return 1;
	if (cridctl_connect(ctl, "GetContainerEvents") < 0)
		return 1;
	if (crid_grpc_client_start_stream(ctl->conn,
					  "/" CRIDCTL_RUNTIME_SERVICE "/GetContainerEvents", buf,
					  protobuf_c_message_pack(&req.base, buf), 0, on_event,
					  on_events_done, &st, &err) < 0) {
		cridctl_rpc_error("GetContainerEvents", CRID_GRPC_UNAVAILABLE, err.msg);
		return 1;
	}
	crid_grpc_client_pump(ctl->conn, NULL);
	if (st.status == CRID_GRPC_OK)
		return 0;
	cridctl_rpc_error("GetContainerEvents", st.status, st.message);
	return 1;
}
