/*
 * crid-bench: measures CRI runtimes side by side through their sockets.
 * Scenarios: rpc, podstart, density, relist, pull, churn (one per run; see
 * usage() and bench/README.md), plus cleanup.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bench/bench.h"
#include "bench/trace.h"
#include "bench/pods.h"

static void usage(FILE *f)
{
	fprintf(
	    f,
	    "Usage: crid-bench SCENARIO [options]\n\n"
	    "Scenarios:\n"
	    "  rpc       Version round-trip latency per endpoint at each concurrency level\n"
	    "  podstart  RunPodSandbox alone (sandbox.*), then RunPodSandbox+CreateContainer+\n"
	    "            StartContainer until running, per step, where containers run;\n"
	    "            --pods sequentially and --parallel at once; plus the floor\n"
	    "            (--floor-bundle: bare OCI runtime run, --floor-cni: CNI ADD/DEL)\n"
	    "  density   0 and --steps pod counts; runtime memory (daemon, shims, pause) and\n"
	    "            processes per pod; teardown time\n"
	    "  relist    kubelet-like list/status load with --pods running while pods start;\n"
	    "            list latencies, start latency, daemon CPU ms per s (--duration)\n"
	    "  pull      cold pull of --pull-image, single and --pull-parallel at once, MB/s\n"
	    "  churn     create+delete pods for --duration s: pods/s, daemon fds and memory\n"
	    "  cleanup   remove every pod of namespace crid-bench (what a run left)\n"
	    "An endpoint lacking an RPC a scenario needs (UNIMPLEMENTED) is skipped with\n"
	    "the reason; one that fails mid-run is reported as an error row. One whose\n"
	    "CreateContainer is UNIMPLEMENTED runs pods as sandboxes only, with a note;\n"
	    "density, relist and churn then run sandboxes only on every endpoint.\n\n"
	    "Options:\n"
	    "  --endpoint NAME=ENDPOINT  a CRI socket, unix:///path or /path; repeatable,\n"
	    "                            the first one is the baseline of the ratios\n"
	    "  --pid NAME=PID            process serving NAME, for its RSS/PSS\n"
	    "                            (default: found from the socket via /proc)\n"
	    "  -n, --calls N             recorded calls per endpoint and level (default 10000)\n"
	    "  -c, --concurrency LIST    comma-separated levels (default 1,100)\n"
	    "  --round N                 calls per endpoint per round, at least 10 x the\n"
	    "                            level; endpoints take turns by round (default 100)\n"
	    "  --warmup N                unrecorded calls before each level (default 200)\n"
	    "  --timeout MS              deadline of each call (default 5000)\n"
	    "  --json FILE               also write the results as JSON\n"
	    "  --plots DIR               PNG plots with gnuplot (CDFs, memory vs pods)\n"
	    "  --pods N                  podstart pods per phase, relist pods running (100)\n"
	    "  --parallel N              podstart concurrency; workers elsewhere (10)\n"
	    "  --steps LIST              density pod counts (100,500)\n"
	    "  --duration S              churn and relist seconds per endpoint (30)\n"
	    "  --rounds N                pull rounds (3)\n"
	    "  --pull-parallel N         concurrent pulls (10)\n"
	    "  --pull-bytes N            compressed size of --pull-image (default: ImageStatus)\n"
	    "  --image REF               container image that sleeps by itself\n"
	    "  --pull-image REF          image to pull (~150 MB, several layers)\n"
	    "  --floor-bundle DIR        OCI bundle for the bare runtime floor\n"
	    "  --floor-cni FILE          single-plugin CNI conf for the CNI floor\n"
	    "  --oci-runtime PATH        OCI runtime of the floor (runc)\n"
	    "  --cni-bin-dir DIR         CNI plugins (/usr/lib/cni)\n"
	    "  --sandbox-only            pods without a container on every endpoint\n"
	    "  --trace-log NAME=FILE     the debug log of endpoint NAME (crid): podstart\n"
	    "                            reports its per-step trace lines per phase\n"
	    "  -h, --help                show this help\n");
}

static int parse_size(const char *s, size_t max, size_t *out)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || end == s || *end || *s == '-' || v > max)
		return -1;
	*out = (size_t)v;
	return 0;
}

static int parse_conc(struct crid_bench_run *run, char *list)
{
	size_t v;

	run->n_conc = 0;
	for (char *tok = strtok(list, ","); tok; tok = strtok(NULL, ",")) {
		if (run->n_conc == CRID_BENCH_MAX_PHASES || parse_size(tok, 10000, &v) < 0 || !v)
			return -1;
		run->conc[run->n_conc++] = (int)v;
	}
	return run->n_conc ? 0 : -1;
}

static struct crid_bench_endpoint *find_ep(struct crid_bench_run *run, const char *name)
{
	for (size_t i = 0; i < run->n_ep; i++)
		if (strcmp(run->ep[i].name, name) == 0)
			return &run->ep[i];
	return NULL;
}

/* NAME=VALUE, split in place. */
static int split_pair(char *arg, char **value)
{
	char *eq = strchr(arg, '=');

	if (!eq || eq == arg || !eq[1])
		return -1;
	*eq = '\0';
	*value = eq + 1;
	return 0;
}

static int add_endpoint(struct crid_bench_run *run, char *arg)
{
	char *addr;

	if (split_pair(arg, &addr) < 0 || run->n_ep == CRID_BENCH_MAX_ENDPOINTS ||
	    find_ep(run, arg))
		return -1;
	run->ep[run->n_ep].name = arg;
	run->ep[run->n_ep].address = addr;
	run->n_ep++;
	return 0;
}

/* --trace-log NAME=FILE options, applied with the pids once all endpoints are known. */
static char *trace_logs[CRID_BENCH_MAX_ENDPOINTS];
static size_t n_trace_logs;

static int set_trace_logs(struct crid_bench_run *run)
{
	for (size_t i = 0; i < n_trace_logs; i++) {
		struct crid_bench_endpoint *ep;
		char *val;

		if (split_pair(trace_logs[i], &val) < 0 || !(ep = find_ep(run, trace_logs[i]))) {
			fprintf(stderr,
				"crid-bench: bad --trace-log `%s`, want NAME=FILE of an "
				"endpoint\n",
				trace_logs[i]);
			return -1;
		}
		ep->trace_log = val;
	}
	return 0;
}

/* --pid options are applied once all endpoints are known. */
static int set_pids(struct crid_bench_run *run, char **pids, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		struct crid_bench_endpoint *ep;
		char *val;
		size_t pid;

		if (split_pair(pids[i], &val) < 0 || parse_size(val, INT_MAX, &pid) < 0 || !pid) {
			fprintf(stderr, "crid-bench: bad --pid `%s`, want NAME=PID\n", pids[i]);
			return -1;
		}
		ep = find_ep(run, pids[i]);
		if (!ep) {
			fprintf(stderr, "crid-bench: --pid for unknown endpoint `%s`\n", pids[i]);
			return -1;
		}
		ep->pid = (pid_t)pid;
	}
	return 0;
}

enum {
	OPT_ENDPOINT = 256,
	OPT_PID,
	OPT_ROUND,
	OPT_WARMUP,
	OPT_TIMEOUT,
	OPT_JSON,
	OPT_PLOTS,
	OPT_PODS,
	OPT_PARALLEL,
	OPT_STEPS,
	OPT_DURATION,
	OPT_ROUNDS,
	OPT_PULL_PARALLEL,
	OPT_PULL_BYTES,
	OPT_IMAGE,
	OPT_PULL_IMAGE,
	OPT_FLOOR_BUNDLE,
	OPT_FLOOR_CNI,
	OPT_OCI_RUNTIME,
	OPT_CNI_BIN_DIR,
	OPT_SANDBOX_ONLY,
	OPT_TRACE_LOG,
};

static int parse_steps(struct crid_bench_run *run, char *list)
{
	size_t v;

	run->n_steps = 0;
	for (char *tok = strtok(list, ","); tok; tok = strtok(NULL, ",")) {
		if (run->n_steps == CRID_BENCH_MAX_POINTS || parse_size(tok, 100000, &v) < 0 ||
		    !v || (run->n_steps && v <= run->steps[run->n_steps - 1]))
			return -1;
		run->steps[run->n_steps++] = v;
	}
	return run->n_steps ? 0 : -1;
}

static int parse_pos(const char *arg, size_t max, size_t *out)
{
	return parse_size(arg, max, out) < 0 || !*out ? -1 : 0;
}

static int parse_more(struct crid_bench_run *run, int opt, char *arg)
{
	size_t v;

	switch (opt) {
	case OPT_PLOTS:
		run->plots_dir = arg;
		return 0;
	case OPT_PODS:
		return parse_pos(arg, 100000, &run->pods);
	case OPT_PARALLEL:
		return parse_pos(arg, 1000, &run->parallel);
	case OPT_STEPS:
		return parse_steps(run, arg);
	case OPT_DURATION:
		if (parse_pos(arg, 86400, &v) < 0)
			return -1;
		run->duration_s = (double)v;
		return 0;
	case OPT_ROUNDS:
		return parse_pos(arg, 1000, &run->rounds);
	case OPT_PULL_PARALLEL:
		return parse_pos(arg, 100, &run->pull_parallel);
	case OPT_PULL_BYTES:
		if (parse_pos(arg, SIZE_MAX / 2, &v) < 0)
			return -1;
		run->pull_bytes = (double)v;
		return 0;
	case OPT_IMAGE:
		run->image = arg;
		return 0;
	case OPT_PULL_IMAGE:
		run->pull_image = arg;
		return 0;
	case OPT_FLOOR_BUNDLE:
		run->floor_bundle = arg;
		return 0;
	case OPT_FLOOR_CNI:
		run->floor_cni = arg;
		return 0;
	case OPT_OCI_RUNTIME:
		run->oci_runtime = arg;
		return 0;
	case OPT_CNI_BIN_DIR:
		run->cni_bin_dir = arg;
		return 0;
	case OPT_SANDBOX_ONLY:
		run->sandbox_only = true;
		return 0;
	}
	return -1;
}

static int parse_opt(struct crid_bench_run *run, int opt, char *arg, char **pids, size_t *n_pids)
{
	size_t v;

	switch (opt) {
	case OPT_ENDPOINT:
		return add_endpoint(run, arg);
	case OPT_PID:
		if (*n_pids == CRID_BENCH_MAX_ENDPOINTS)
			return -1;
		pids[(*n_pids)++] = arg;
		return 0;
	case OPT_TRACE_LOG:
		if (n_trace_logs == CRID_BENCH_MAX_ENDPOINTS)
			return -1;
		trace_logs[n_trace_logs++] = arg;
		return 0;
	case 'n':
		return parse_size(arg, SIZE_MAX / 2, &run->calls) < 0 || !run->calls ? -1 : 0;
	case 'c':
		return parse_conc(run, arg);
	case OPT_ROUND:
		return parse_size(arg, SIZE_MAX / 2, &run->round) < 0 || !run->round ? -1 : 0;
	case OPT_WARMUP:
		return parse_size(arg, SIZE_MAX / 2, &run->warmup);
	case OPT_TIMEOUT:
		if (parse_size(arg, INT_MAX, &v) < 0)
			return -1;
		run->timeout_ms = (int)v;
		return 0;
	case OPT_JSON:
		run->json_path = arg;
		return 0;
	}
	return parse_more(run, opt, arg);
}

static const struct scenario {
	const char *name;
	int (*run)(struct crid_bench_run *run);
} scenarios[] = {
	{ "rpc", crid_bench_rpc_run },	       { "podstart", crid_bench_podstart_run },
	{ "density", crid_bench_density_run }, { "relist", crid_bench_relist_run },
	{ "pull", crid_bench_pull_run },       { "churn", crid_bench_churn_run },
	{ "cleanup", crid_bench_cleanup_run },
};

static const struct scenario *find_scenario(const char *name)
{
	for (size_t i = 0; i < sizeof(scenarios) / sizeof(scenarios[0]); i++)
		if (strcmp(scenarios[i].name, name) == 0)
			return &scenarios[i];
	return NULL;
}

/* Returns 0 to run, 1 after --help, -1 on a usage error (printed). */
static int parse_args(struct crid_bench_run *run, int argc, char **argv)
{
	static const struct option longs[] = {
		{ "endpoint", required_argument, NULL, OPT_ENDPOINT },
		{ "pid", required_argument, NULL, OPT_PID },
		{ "calls", required_argument, NULL, 'n' },
		{ "concurrency", required_argument, NULL, 'c' },
		{ "round", required_argument, NULL, OPT_ROUND },
		{ "warmup", required_argument, NULL, OPT_WARMUP },
		{ "timeout", required_argument, NULL, OPT_TIMEOUT },
		{ "json", required_argument, NULL, OPT_JSON },
		{ "plots", required_argument, NULL, OPT_PLOTS },
		{ "pods", required_argument, NULL, OPT_PODS },
		{ "parallel", required_argument, NULL, OPT_PARALLEL },
		{ "steps", required_argument, NULL, OPT_STEPS },
		{ "duration", required_argument, NULL, OPT_DURATION },
		{ "rounds", required_argument, NULL, OPT_ROUNDS },
		{ "pull-parallel", required_argument, NULL, OPT_PULL_PARALLEL },
		{ "pull-bytes", required_argument, NULL, OPT_PULL_BYTES },
		{ "image", required_argument, NULL, OPT_IMAGE },
		{ "pull-image", required_argument, NULL, OPT_PULL_IMAGE },
		{ "floor-bundle", required_argument, NULL, OPT_FLOOR_BUNDLE },
		{ "floor-cni", required_argument, NULL, OPT_FLOOR_CNI },
		{ "oci-runtime", required_argument, NULL, OPT_OCI_RUNTIME },
		{ "cni-bin-dir", required_argument, NULL, OPT_CNI_BIN_DIR },
		{ "sandbox-only", no_argument, NULL, OPT_SANDBOX_ONLY },
		{ "trace-log", required_argument, NULL, OPT_TRACE_LOG },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	char *pids[CRID_BENCH_MAX_ENDPOINTS];
	size_t n_pids = 0;
	int opt;

	opterr = 0;
	while ((opt = getopt_long(argc, argv, "n:c:h", longs, NULL)) != -1) {
		if (opt == 'h') {
			usage(stdout);
			return 1;
		}
		if (parse_opt(run, opt, optarg, pids, &n_pids) < 0) {
			fprintf(stderr, "crid-bench: bad option or value `%s`\n", argv[optind - 1]);
			return -1;
		}
	}
	if (optind + 1 != argc || !find_scenario(argv[optind])) {
		fprintf(stderr, "crid-bench: want one scenario: rpc, podstart, density, relist, "
				"pull, churn or cleanup\n");
		return -1;
	}
	if (strcmp(argv[optind], "pull") == 0 && !run->pull_image) {
		fprintf(stderr, "crid-bench: pull needs --pull-image\n");
		return -1;
	}
	if (!run->image && strcmp(argv[optind], "rpc") != 0 && strcmp(argv[optind], "pull") != 0 &&
	    strcmp(argv[optind], "cleanup") != 0) {
		fprintf(stderr, "crid-bench: %s needs --image\n", argv[optind]);
		return -1;
	}
	run->scenario = argv[optind];
	if (!run->n_ep) {
		fprintf(stderr, "crid-bench: no --endpoint given\n");
		return -1;
	}
	return set_pids(run, pids, n_pids) < 0 ? -1 : set_trace_logs(run);
}

static const char *socket_path(const char *address)
{
	if (strncmp(address, "unix://", 7) == 0)
		return address + 7;
	if (strncmp(address, "unix:", 5) == 0)
		return address + 5;
	return address;
}

/* RSS/PSS of every endpoint's daemon; finds the pid from the socket when not given. */
static void measure_memory(struct crid_bench_run *run, bool after)
{
	struct crid_err err;

	for (size_t i = 0; i < run->n_ep; i++) {
		struct crid_bench_endpoint *ep = &run->ep[i];
		struct crid_bench_mem *m = after ? &ep->after : &ep->idle;
		bool *have = after ? &ep->have_after : &ep->have_idle;

		if (!after && !ep->pid) {
			pid_t pid = crid_bench_pid_for_socket(socket_path(ep->address), &err);

			if (pid < 0) {
				snprintf(ep->pid_note, sizeof(ep->pid_note), "pid: %s", err.msg);
				continue;
			}
			ep->pid = pid;
		}
		if (ep->pid <= 0)
			continue;
		if (crid_bench_mem_read(ep->pid, m, &err) == 0)
			*have = true;
		else if (!after)
			snprintf(ep->pid_note, sizeof(ep->pid_note), "memory: %s", err.msg);
	}
}

static void set_date(struct crid_bench_run *run)
{
	time_t t = time(NULL);
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(run->date, sizeof(run->date), "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static int finish(struct crid_bench_run *run)
{
	struct crid_err err;
	size_t failed = 0;

	int rc;

	if (run->json_path && crid_bench_report_json(run, run->json_path, &err) < 0)
		fprintf(stderr, "crid-bench: %s\n", err.msg);
	for (size_t i = 0; i <= run->n_ep; i++) {
		struct crid_bench_endpoint *ep = i < run->n_ep ? &run->ep[i] : &run->floor;

		crid_grpc_client_close(ep->conn);
		ep->conn = NULL;
		if (i < run->n_ep)
			failed += ep->error[0] != 0 && !ep->skipped;
		for (size_t p = 0; p < run->n_conc; p++)
			crid_bench_samples_free(&ep->phase[p].lat_us);
		for (size_t s = 0; s < ep->res.n_series; s++)
			crid_bench_samples_free(&ep->res.series[s].s);
		crid_bench_forget_pods(ep);
		pthread_mutex_destroy(&ep->lock);
	}
	/* 0: all measured or skipped; 1: some endpoint failed; the table says which */
	rc = failed ? 1 : 0;
	return rc;
}

int main(int argc, char **argv)
{
	struct crid_bench_run run = {
		.calls = 10000,
		.round = 100,
		.warmup = 200,
		.timeout_ms = 5000,
		.conc = { 1, 100 },
		.n_conc = 2,
		.pods = 100,
		.parallel = 10,
		.steps = { 100, 500 },
		.n_steps = 2,
		.duration_s = 30,
		.rounds = 3,
		.pull_parallel = 10,
		.oci_runtime = "runc",
		.cni_bin_dir = "/usr/lib/cni",
	};
	int rc = parse_args(&run, argc, argv);

	if (rc)
		return rc < 0 ? 2 : 0;
	run.tty = isatty(STDERR_FILENO);
	signal(SIGPIPE, SIG_IGN);
	for (size_t i = 0; i < CRID_BENCH_MAX_ENDPOINTS; i++)
		pthread_mutex_init(&run.ep[i].lock, NULL);
	pthread_mutex_init(&run.floor.lock, NULL);
	run.floor.name = "floor";
	run.floor.address = "";
	set_date(&run);
	measure_memory(&run, false);
	find_scenario(run.scenario)->run(&run);
	measure_memory(&run, true);
	if (strcmp(run.scenario, "rpc") == 0) {
		crid_bench_report_table(&run, stdout);
	} else {
		crid_bench_summarize_all(&run);
		crid_bench_report_scenario_table(&run, stdout);
		crid_bench_trace_report(&run, stdout);
		crid_bench_plots(&run);
	}
	return finish(&run);
}
