/*
 * cridctl: a crictl-compatible troubleshooting client for CRI runtimes
 * (crictl is not packaged in Debian). Global options, then a verb from the
 * table below; crictl verbs cridctl does not have yet say so and fail.
 * Owns main, global options and the verb table; each verb lives in its own file.
 */
#include <ctype.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cridctl.h"
#include "cli/stream_exec.h"

#ifndef CRID_VERSION
#define CRID_VERSION "dev"
#endif

static const struct cridctl_verb verbs[] = {
	{ "version", "Display runtime version information", cridctl_version },
	{ "info", "Display information of the container runtime", cridctl_info },
	{ "runtime-config", "Retrieve the container runtime configuration",
	  cridctl_runtime_config },
	{ "pull", "Pull an image from a registry", cridctl_pull },
	{ "images", "List images", cridctl_images },
	{ "inspecti", "Return the status of one or more images", cridctl_inspecti },
	{ "rmi", "Remove one or more images", cridctl_rmi },
	{ "imagefsinfo", "Return image filesystem info", cridctl_imagefsinfo },
	{ "runp", "Run a new pod", cridctl_runp },
	{ "pods", "List pods", cridctl_pods },
	{ "inspectp", "Display the status of one or more pods", cridctl_inspectp },
	{ "stopp", "Stop one or more running pods", cridctl_stopp },
	{ "rmp", "Remove one or more pods", cridctl_rmp },
	{ "create", "Create a new container", cridctl_create },
	{ "start", "Start one or more created containers", cridctl_start },
	{ "run", "Run a new container inside a new pod", cridctl_run },
	{ "ps", "List containers", cridctl_ps },
	{ "inspect", "Display the status of one or more containers", cridctl_inspect },
	{ "stop", "Stop one or more running containers", cridctl_stop },
	{ "rm", "Remove one or more containers", cridctl_rm },
	{ "logs", "Fetch the logs of a container", cridctl_logs },
	{ "exec", "Run a command in a running container", cridctl_exec },
	{ "attach", "Attach to a running container", cridctl_attach },
	{ "port-forward", "Forward local port to a pod", cridctl_port_forward },
	{ "update", "Update the resources of one or more running containers", cridctl_update },
	{ "stats", "List container resource usage statistics", cridctl_stats },
	{ "statsp", "List pod resource usage statistics", cridctl_statsp },
	{ "events", "Stream the events of containers", cridctl_events },
	/* crictl verbs still to come */
	{ "checkpoint", NULL, NULL },
	{ "completion", NULL, NULL },
	{ "config", NULL, NULL },
	{ "image", NULL, NULL },
	{ "img", NULL, NULL },
	{ "metricdescs", NULL, NULL },
	{ "metricsp", NULL, NULL },
	{ "update-runtime-config", NULL, NULL },
};

#define N_VERBS (sizeof(verbs) / sizeof(verbs[0]))

static void usage(FILE *f)
{
	size_t col = 20; /* after "Not implemented yet:" */

	fprintf(f, "cridctl - client for CRI runtimes, crictl-compatible\n\n"
		   "Usage: cridctl [global options] command [command options]\n\n"
		   "Commands:\n");
	for (size_t i = 0; i < N_VERBS; i++)
		if (verbs[i].summary)
			fprintf(f, "  %-16s%s\n", verbs[i].name, verbs[i].summary);
	fprintf(f, "  %-16s%s\n\nNot implemented yet:", "help", "Show this help");
	for (size_t i = 0; i < N_VERBS; i++) {
		if (verbs[i].summary)
			continue;
		if (col + strlen(verbs[i].name) + 1 > 78) {
			fprintf(f, "\n ");
			col = 2;
		}
		fprintf(f, " %s", verbs[i].name);
		col += strlen(verbs[i].name) + 1;
	}
	fprintf(f, "\n\nGlobal options:\n"
		   "  -r, --runtime-endpoint ENDPOINT  unix:///path or /path (default "
		   "$CONTAINER_RUNTIME_ENDPOINT,\n"
		   "                                   else " CRIDCTL_DEFAULT_ENDPOINT ")\n"
		   "  -t, --timeout DURATION           per call, e.g. 2s, 500ms, 1m; 0 = none "
		   "(default 2s)\n"
		   "  -o, --output json|table          output format (default: table; info: json)\n"
		   "  -h, --help                       show this help\n"
		   "  -v, --version                    print the version of cridctl\n");
}

/* One term of a Go duration ("1.5s", "300ms"): number and unit, in milliseconds. */
static int duration_term(const char **p, double *ms)
{
	static const struct {
		const char *unit;
		double ms;
	} units[] = { { "ns", 1e-6 }, { "us", 1e-3 }, { "\xc2\xb5s", 1e-3 }, { "ms", 1 },
		      { "s", 1e3 },   { "m", 6e4 },   { "h", 3.6e6 } };
	char *end;
	double v;

	if (!isdigit((unsigned char)**p) && **p != '.')
		return -1;
	v = strtod(*p, &end);
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		size_t n = strlen(units[i].unit);

		if (strncmp(end, units[i].unit, n) == 0 && !isalpha((unsigned char)end[n])) {
			*ms += v * units[i].ms;
			*p = end + n;
			return 0;
		}
	}
	return -1;
}

/* Go duration syntax as crictl's --timeout takes it; a bare number means seconds. */
static int parse_duration_ms(const char *s, int *out)
{
	double ms = 0;
	const char *p = s;
	char *end;
	long secs = strtol(s, &end, 10);

	if (*s && !*end && secs >= 0 && secs <= INT_MAX / 1000) {
		*out = (int)secs * 1000;
		return 0;
	}
	while (*p)
		if (duration_term(&p, &ms) < 0)
			return -1;
	if (!*s || ms > INT_MAX)
		return -1;
	*out = ms > 0 && ms < 1 ? 1 : (int)ms;
	return 0;
}

/* Global options, up to the verb. Returns the verb's index in argv, 0 to exit 0, -1 on error. */
static int parse_global(struct cridctl *ctl, int argc, char **argv)
{
	static const struct option longs[] = {
		{ "runtime-endpoint", required_argument, NULL, 'r' },
		{ "timeout", required_argument, NULL, 't' },
		{ "output", required_argument, NULL, 'o' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'v' },
		{ NULL, 0, NULL, 0 },
	};
	int opt;

	opterr = 0;
	while ((opt = getopt_long(argc, argv, "+r:t:o:hv", longs, NULL)) != -1) {
		switch (opt) {
		case 'r':
			ctl->endpoint = optarg;
			break;
		case 't':
			ctl->timeout_given = true;
			if (parse_duration_ms(optarg, &ctl->timeout_ms) == 0)
				break;
			fprintf(stderr, "cridctl: invalid --timeout `%s`\n", optarg);
			return -1;
		case 'o':
			if (cridctl_set_output(ctl, optarg) < 0)
				return -1;
			break;
		case 'h':
			usage(stdout);
			return 0;
		case 'v':
			printf("cridctl version %s\n", CRID_VERSION);
			return 0;
		default:
			fprintf(stderr, "cridctl: bad option `%s`, see `cridctl --help`\n",
				argv[optind - 1]);
			return -1;
		}
	}
	return optind;
}

static int run_verb(struct cridctl *ctl, int argc, char **argv)
{
	if (strcmp(argv[0], "help") == 0 || strcmp(argv[0], "h") == 0) {
		usage(stdout);
		return 0;
	}
	for (size_t i = 0; i < N_VERBS; i++) {
		if (strcmp(argv[0], verbs[i].name) != 0)
			continue;
		if (!verbs[i].run) {
			fprintf(stderr, "cridctl: `%s` is not implemented yet\n", argv[0]);
			return 1;
		}
		return verbs[i].run(ctl, argc, argv);
	}
	fprintf(stderr, "cridctl: unknown command `%s`, see `cridctl --help`\n", argv[0]);
	return 1;
}

int main(int argc, char **argv)
{
	struct cridctl ctl = {
		.endpoint = getenv("CONTAINER_RUNTIME_ENDPOINT"),
		.timeout_ms = CRIDCTL_DEFAULT_TIMEOUT_MS,
	};
	int verb, rc;

	if (!ctl.endpoint || !ctl.endpoint[0])
		ctl.endpoint = CRIDCTL_DEFAULT_ENDPOINT;
	verb = parse_global(&ctl, argc, argv);
	if (verb <= 0)
		return verb < 0;
	if (verb >= argc) {
		usage(stderr);
		return 1;
	}
	rc = run_verb(&ctl, argc - verb, argv + verb);
	crid_grpc_client_close(ctl.conn);
	return rc;
}
