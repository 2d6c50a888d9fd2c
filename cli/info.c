/*
 * cridctl info: Status(verbose) printed as crictl's outputStatusData does
 * (cri-tools cmd/crictl/util.go): one JSON object whose keys are sorted like
 * a Go map, holding "status" (protojson of RuntimeStatus), "runtimeHandlers"
 * and "features" (encoding/json of the Go structs: snake_case, omitempty),
 * and every info entry: a value starting with '{' that parses as a JSON
 * object is embedded, anything else is a string with its quotes trimmed.
 * Prints through json.c, calls the daemon through rpc.c.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cridctl.h"
#include "proto/api.pb-c.h"
#include "reactor/mem.h"

enum entry_kind { E_FEATURES, E_HANDLERS, E_STATUS, E_INFO };

struct entry {
	const char *key;
	enum entry_kind kind;
	const Runtime__V1__StatusResponse__InfoEntry *info;
};

static void gen_status(yajl_gen g, const Runtime__V1__RuntimeStatus *st)
{
	yajl_gen_map_open(g);
	if (st) {
		cridctl_json_str(g, "conditions");
		yajl_gen_array_open(g);
		for (size_t i = 0; i < st->n_conditions; i++) {
			const Runtime__V1__RuntimeCondition *c = st->conditions[i];

			yajl_gen_map_open(g);
			cridctl_json_kv_str(g, "message", c->message);
			cridctl_json_kv_str(g, "reason", c->reason);
			cridctl_json_kv_bool(g, "status", c->status);
			cridctl_json_kv_str(g, "type", c->type);
			yajl_gen_map_close(g);
		}
		yajl_gen_array_close(g);
	}
	yajl_gen_map_close(g);
}

static void gen_handlers(yajl_gen g, const Runtime__V1__StatusResponse *r)
{
	yajl_gen_array_open(g);
	for (size_t i = 0; i < r->n_runtime_handlers; i++) {
		const Runtime__V1__RuntimeHandler *h = r->runtime_handlers[i];

		yajl_gen_map_open(g);
		if (h->features) {
			cridctl_json_str(g, "features");
			yajl_gen_map_open(g);
			if (h->features->recursive_read_only_mounts)
				cridctl_json_kv_bool(g, "recursive_read_only_mounts", true);
			if (h->features->user_namespaces)
				cridctl_json_kv_bool(g, "user_namespaces", true);
			yajl_gen_map_close(g);
		}
		if (h->name && h->name[0])
			cridctl_json_kv_str(g, "name", h->name);
		yajl_gen_map_close(g);
	}
	yajl_gen_array_close(g);
}

static void gen_features(yajl_gen g, const Runtime__V1__RuntimeFeatures *f)
{
	yajl_gen_map_open(g);
	if (f->supplemental_groups_policy)
		cridctl_json_kv_bool(g, "supplemental_groups_policy", true);
	if (f->user_namespaces_host_network)
		cridctl_json_kv_bool(g, "user_namespaces_host_network", true);
	yajl_gen_map_close(g);
}

/* Go map order; on equal keys an info entry wins, as it is assigned last in crictl. */
static int entry_cmp(const void *a, const void *b)
{
	const struct entry *x = a, *y = b;
	int c = strcmp(x->key, y->key);

	return c ? c : (int)x->kind - (int)y->kind;
}

static void gen_entry(yajl_gen g, const Runtime__V1__StatusResponse *r, const struct entry *e)
{
	cridctl_json_str(g, e->key);
	if (e->kind == E_STATUS)
		gen_status(g, r->status);
	else if (e->kind == E_HANDLERS)
		gen_handlers(g, r);
	else if (e->kind == E_FEATURES)
		gen_features(g, r->features);
	else
		cridctl_json_info_value(g, e->info->value);
}

static int info_print(const Runtime__V1__StatusResponse *r)
{
	struct entry *e = crid_calloc(r->n_info + 3, sizeof(*e));
	yajl_gen g = cridctl_json_new();
	size_t n = 0;

	if (!e || !g) {
		crid_free(e);
		if (g)
			yajl_gen_free(g);
		fprintf(stderr, "cridctl: info: out of memory\n");
		return 1;
	}
	e[n++] = (struct entry){ "status", E_STATUS, NULL };
	if (r->n_runtime_handlers)
		e[n++] = (struct entry){ "runtimeHandlers", E_HANDLERS, NULL };
	if (r->features)
		e[n++] = (struct entry){ "features", E_FEATURES, NULL };
	for (size_t i = 0; i < r->n_info; i++)
		e[n++] = (struct entry){ r->info[i]->key, E_INFO, r->info[i] };
	if (n)
		qsort(e, n, sizeof(*e), entry_cmp);
	yajl_gen_map_open(g);
	for (size_t i = 0; i < n; i++)
		if (i + 1 == n || strcmp(e[i].key, e[i + 1].key) != 0)
			gen_entry(g, r, &e[i]);
	yajl_gen_map_close(g);
	cridctl_json_print(g, stdout);
	crid_free(e);
	return 0;
}

int cridctl_info(struct cridctl *ctl, int argc, char **argv)
{
	static const char usage[] = "Usage: cridctl info [-q] [-o json]\n"
				    "Display information of the container runtime\n"
				    "  -q, --quiet   do not ask for verbose information\n";
	Runtime__V1__StatusRequest req = RUNTIME__V1__STATUS_REQUEST__INIT;
	Runtime__V1__StatusResponse *r;
	bool quiet = false;
	int rc;

	rc = cridctl_verb_opts(ctl, argc, argv, usage, &quiet);
	if (rc)
		return rc < 0;
	if (!cridctl_output_for(ctl, "info", CRIDCTL_OUT_JSON, CRIDCTL_OUT_JSON))
		return 1;
	req.verbose = !quiet;
	if (cridctl_call(ctl, "Status", &req.base, &runtime__v1__status_response__descriptor,
			 (ProtobufCMessage **)&r) < 0)
		return 1;
	rc = info_print(r);
	protobuf_c_message_free_unpacked(&r->base, NULL);
	return rc;
}
