/*
 * cridctl stats and statsp: resource usage of containers and pods as crictl
 * shows it (cri-tools cmd/crictl/container_stats.go, pod_stats.go): two
 * samples --seconds apart, CPU % from the growth of usage_core_nano_seconds
 * over the growth of the CPU timestamp, sizes as go-units HumanSize.
 * -o json prints the second sample as protojson. No --watch yet.
 * Prints through table.c and json.c, calls the daemon through rpc.c.
 */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/cridctl.h"
#include "proto/api.pb-c.h"
#include "reactor/mem.h"

#define TRUNC_ID_LEN 13

void cridctl_human_size_prec(uint64_t size, int prec, char *buf, size_t n)
{
	static const char *const units[] = { "B", "kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB" };
	double s = (double)size;
	size_t i = 0;

	while (s >= 1000.0 && i + 1 < sizeof(units) / sizeof(units[0])) {
		s /= 1000.0;
		i++;
	}
	snprintf(buf, n, "%.*g%s", prec, s, units[i]);
}

void cridctl_human_size(uint64_t size, char *buf, size_t n)
{
	cridctl_human_size_prec(size, 4, buf, n);
}

struct stats_opts {
	bool all;
	const char *id, *pod;
	long seconds;
};

static int stats_opt(void *user, const char *verb, int opt, const char *arg)
{
	struct stats_opts *o = user;
	char *end;

	switch (opt) {
	case 'a':
		o->all = true;
		return 0;
	case 'I':
		o->id = arg;
		return 0;
	case 'p':
		o->pod = arg;
		return 0;
	case 's':
		o->seconds = strtol(arg, &end, 10);
		if (*end || end == arg || o->seconds < 0 || o->seconds > 3600) {
			fprintf(stderr, "cridctl: %s: invalid --seconds `%s`\n", verb, arg);
			return -1;
		}
		return 0;
	default:
		return 1;
	}
}

static int stats_opts(struct cridctl *ctl, int argc, char **argv, const char *shorts,
		      const char *usage, struct stats_opts *o)
{
	static const struct option longs[] = {
		{ "all", no_argument, NULL, 'a' },
		{ "id", required_argument, NULL, 'I' },
		{ "pod", required_argument, NULL, 'p' },
		{ "output", required_argument, NULL, 'o' },
		{ "seconds", required_argument, NULL, 's' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int rc;

	memset(o, 0, sizeof(*o));
	o->seconds = 1;
	rc = cridctl_opts_parse(ctl, argc, argv, shorts, "I", longs, usage, NULL, stats_opt, o);
	if (rc)
		return rc;
	if (argc - optind > 1) {
		fprintf(stderr, "cridctl: %s: unexpected argument `%s`\n%s", argv[0],
			argv[optind + 1], usage);
		return -1;
	}
	if (!o->id && optind < argc)
		o->id = argv[optind];
	return 0;
}

static uint64_t u64(const Runtime__V1__UInt64Value *v)
{
	return v ? v->value : 0;
}

/* CPU % between two samples; -1 when the counter moved but the timestamp did not. */
static double cpu_percent(const Runtime__V1__CpuUsage *old, const Runtime__V1__CpuUsage *now)
{
	uint64_t cpu = now ? u64(now->usage_core_nano_seconds) : 0;
	int64_t dt;

	if (!cpu || !old)
		return 0;
	dt = now->timestamp - old->timestamp;
	if (dt == 0)
		return -1;
	return (double)(cpu - u64(old->usage_core_nano_seconds)) / (double)dt * 100;
}

static void pause_s(long s)
{
	struct timespec ts = { s, 0 };

	while (nanosleep(&ts, &ts) < 0)
		;
}

/* --- stats ----------------------------------------------------------------------- */

static int ctr_stats(struct cridctl *ctl, const struct stats_opts *o,
		     Runtime__V1__ListContainerStatsResponse **r)
{
	Runtime__V1__ListContainerStatsRequest req =
	    RUNTIME__V1__LIST_CONTAINER_STATS_REQUEST__INIT;
	Runtime__V1__ContainerStatsFilter f = RUNTIME__V1__CONTAINER_STATS_FILTER__INIT;

	f.id = (char *)(o->id ? o->id : "");
	f.pod_sandbox_id = (char *)(o->pod ? o->pod : "");
	req.filter = &f;
	return cridctl_call(ctl, "ListContainerStats", &req.base,
			    &runtime__v1__list_container_stats_response__descriptor,
			    (ProtobufCMessage **)r);
}

static const char *ctr_id(const Runtime__V1__ContainerStats *s)
{
	return s->attributes ? s->attributes->id : "";
}

static int by_ctr_id(const void *a, const void *b)
{
	return strcmp(ctr_id(*(Runtime__V1__ContainerStats *const *)a),
		      ctr_id(*(Runtime__V1__ContainerStats *const *)b));
}

static const Runtime__V1__ContainerStats *find_ctr(const Runtime__V1__ListContainerStatsResponse *r,
						   const char *id)
{
	for (size_t i = 0; i < r->n_stats; i++)
		if (strcmp(ctr_id(r->stats[i]), id) == 0)
			return r->stats[i];
	return NULL;
}

static int ctr_row(struct cridctl_table *t, const Runtime__V1__ContainerStats *s,
		   const Runtime__V1__ContainerStats *old, bool all)
{
	char id[TRUNC_ID_LEN + 1], cpu[32], mem[32], disk[32], inodes[32], swap[32];
	const char *row[7] = { id, "", cpu, mem, disk, inodes, swap };
	uint64_t used = s->writable_layer ? u64(s->writable_layer->used_bytes) : 0;
	uint64_t in = s->writable_layer ? u64(s->writable_layer->inodes_used) : 0;
	uint64_t ws = s->memory ? u64(s->memory->working_set_bytes) : 0;
	double pct;

	if (!all && (!s->cpu || !u64(s->cpu->usage_core_nano_seconds)) && !ws)
		return 0; /* not running */
	if (!old)
		return 0; /* new since the first sample */
	pct = cpu_percent(old->cpu, s->cpu);
	if (pct < 0) {
		fprintf(stderr, "cridctl: stats: cpu stat is not updated during sample\n");
		return -1;
	}
	snprintf(id, sizeof(id), "%s", ctr_id(s));
	if (s->attributes && s->attributes->metadata)
		row[1] = s->attributes->metadata->name;
	snprintf(cpu, sizeof(cpu), "%.2f", pct);
	cridctl_human_size(ws, mem, sizeof(mem));
	cridctl_human_size(used, disk, sizeof(disk));
	snprintf(inodes, sizeof(inodes), "%" PRIu64, in);
	cridctl_human_size(s->swap ? u64(s->swap->swap_usage_bytes) : 0, swap, sizeof(swap));
	return cridctl_table_add(t, row);
}

int cridctl_stats(struct cridctl *ctl, int argc, char **argv)
{
	static const char usage[] =
	    "Usage: cridctl stats [options] [CONTAINER-ID]\n"
	    "List resource usage statistics of containers (running ones unless -a)\n"
	    "  -a, --all            show all containers\n"
	    "  --id ID              filter by container ID\n"
	    "  -p, --pod ID         filter by pod ID\n"
	    "  -s, --seconds N      sample duration for CPU usage (default 1)\n"
	    "  -o, --output FORMAT  json or table\n";
	static const char *const head[7] = { "CONTAINER", "NAME",   "CPU %", "MEM",
					     "DISK",	  "INODES", "SWAP" };
	Runtime__V1__ListContainerStatsResponse *old, *r;
	struct cridctl_table t = { .cols = 7 };
	struct stats_opts o;
	enum cridctl_output out;
	int rc = stats_opts(ctl, argc, argv, "+ap:o:s:h", usage, &o);

	if (rc)
		return rc < 0;
	out = cridctl_output_for(ctl, "stats", CRIDCTL_OUT_TABLE | CRIDCTL_OUT_JSON,
				 CRIDCTL_OUT_TABLE);
	if (!out || ctr_stats(ctl, &o, &old) < 0)
		return 1;
	if (out == CRIDCTL_OUT_JSON) {
		if (old->n_stats)
			qsort(old->stats, old->n_stats, sizeof(*old->stats), by_ctr_id);
		rc = cridctl_json_print_message(&old->base, "stats");
		protobuf_c_message_free_unpacked(&old->base, NULL);
		return rc;
	}
	pause_s(o.seconds);
	rc = ctr_stats(ctl, &o, &r);
	if (rc < 0) {
		protobuf_c_message_free_unpacked(&old->base, NULL);
		return 1;
	}
	if (r->n_stats)
		qsort(r->stats, r->n_stats, sizeof(*r->stats), by_ctr_id);
	rc = cridctl_table_add(&t, head);
	for (size_t i = 0; rc == 0 && i < r->n_stats; i++)
		rc = ctr_row(&t, r->stats[i], find_ctr(old, ctr_id(r->stats[i])), o.all);
	rc = cridctl_table_finish(&t, rc, NULL); /* a failed row said why */
	protobuf_c_message_free_unpacked(&old->base, NULL);
	protobuf_c_message_free_unpacked(&r->base, NULL);
	return rc;
}

/* --- statsp ---------------------------------------------------------------------- */

static int pod_stats(struct cridctl *ctl, const struct stats_opts *o,
		     Runtime__V1__ListPodSandboxStatsResponse **r)
{
	Runtime__V1__ListPodSandboxStatsRequest req =
	    RUNTIME__V1__LIST_POD_SANDBOX_STATS_REQUEST__INIT;
	Runtime__V1__PodSandboxStatsFilter f = RUNTIME__V1__POD_SANDBOX_STATS_FILTER__INIT;

	f.id = (char *)(o->id ? o->id : "");
	req.filter = &f;
	return cridctl_call(ctl, "ListPodSandboxStats", &req.base,
			    &runtime__v1__list_pod_sandbox_stats_response__descriptor,
			    (ProtobufCMessage **)r);
}

static const char *pod_id(const Runtime__V1__PodSandboxStats *s)
{
	return s->attributes ? s->attributes->id : "";
}

static const Runtime__V1__PodSandboxStats *
find_pod(const Runtime__V1__ListPodSandboxStatsResponse *r, const char *id)
{
	for (size_t i = 0; i < r->n_stats; i++)
		if (strcmp(pod_id(r->stats[i]), id) == 0)
			return r->stats[i];
	return NULL;
}

static int pod_row(struct cridctl_table *t, const Runtime__V1__PodSandboxStats *s,
		   const Runtime__V1__PodSandboxStats *old)
{
	char id[TRUNC_ID_LEN + 1], cpu[32], mem[32], swap[32];
	const char *row[5] = { "", id, cpu, mem, swap };
	const Runtime__V1__LinuxPodSandboxStats *l = s->linux;
	double pct;

	if (!old || !l)
		return 0;
	pct = cpu_percent(old->linux ? old->linux->cpu : NULL, l->cpu);
	if (pct < 0) {
		fprintf(stderr, "cridctl: statsp: cpu stat is not updated during sample\n");
		return -1;
	}
	if (s->attributes && s->attributes->metadata)
		row[0] = s->attributes->metadata->name;
	snprintf(id, sizeof(id), "%s", pod_id(s));
	snprintf(cpu, sizeof(cpu), "%.2f", pct);
	cridctl_human_size(l->memory ? u64(l->memory->working_set_bytes) : 0, mem, sizeof(mem));
	snprintf(swap, sizeof(swap), "0B"); /* the pod-level swap is not in LinuxPodSandboxStats */
	return cridctl_table_add(t, row);
}

int cridctl_statsp(struct cridctl *ctl, int argc, char **argv)
{
	static const char usage[] =
	    "Usage: cridctl statsp [options] [POD-ID]\n"
	    "List resource usage statistics of pods\n"
	    "  --id ID              filter by pod ID\n"
	    "  -s, --seconds N      sample duration for CPU usage (default 1)\n"
	    "  -o, --output FORMAT  json or table\n";
	static const char *const head[5] = { "POD", "POD ID", "CPU %", "MEM", "SWAP" };
	Runtime__V1__ListPodSandboxStatsResponse *old, *r;
	struct cridctl_table t = { .cols = 5 };
	struct stats_opts o;
	enum cridctl_output out;
	int rc = stats_opts(ctl, argc, argv, "+o:s:h", usage, &o);

	if (rc)
		return rc < 0;
	out = cridctl_output_for(ctl, "statsp", CRIDCTL_OUT_TABLE | CRIDCTL_OUT_JSON,
				 CRIDCTL_OUT_TABLE);
	if (!out || pod_stats(ctl, &o, &old) < 0)
		return 1;
	if (out == CRIDCTL_OUT_JSON) {
		rc = cridctl_json_print_message(&old->base, "statsp");
		protobuf_c_message_free_unpacked(&old->base, NULL);
		return rc;
	}
	pause_s(o.seconds);
	if (pod_stats(ctl, &o, &r) < 0) {
		protobuf_c_message_free_unpacked(&old->base, NULL);
		return 1;
	}
	rc = cridctl_table_add(&t, head);
	for (size_t i = 0; rc == 0 && i < r->n_stats; i++)
		rc = pod_row(&t, r->stats[i], find_pod(old, pod_id(r->stats[i])));
	rc = cridctl_table_finish(&t, rc, NULL); /* a failed row said why */
	protobuf_c_message_free_unpacked(&old->base, NULL);
	protobuf_c_message_free_unpacked(&r->base, NULL);
	return rc;
}
