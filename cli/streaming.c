/*
 * cridctl's streaming verbs, as crictl runs them: exec without --sync and
 * attach ask the runtime for a URL (Exec, Attach) then run the remote
 * command session there (stream_exec.c); port-forward asks PortForward and
 * forwards local ports (portforward.c). --transport websocket runs exec
 * and attach over WebSocket (ws_exec.c), port-forward's SPDY in a WebSocket.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cridctl.h"
#include "cli/stream_exec.h"

/* crictl --transport: spdy (the default) or websocket. */
static int transport_ok(const char *verb, const char *transport)
{
	if (strcmp(transport, "spdy") == 0 || strcmp(transport, "websocket") == 0)
		return 0;
	fprintf(stderr, "cridctl: %s: unknown transport `%s` (spdy, websocket)\n", verb, transport);
	return -1;
}

static int remote_cmd(const char *verb, const char *transport, const char *url,
		      const struct cridctl_stream_opts *o)
{
	if (strcmp(transport, "websocket") == 0)
		return cridctl_ws_remote_cmd(verb, url, o);
	return cridctl_stream_remote_cmd(verb, url, o);
}

int cridctl_exec_stream(struct cridctl *ctl, const char *transport, char **cmd, size_t n_cmd,
			const char *ctr, bool keep_stdin, bool tty)
{
	Runtime__V1__ExecRequest req = RUNTIME__V1__EXEC_REQUEST__INIT;
	Runtime__V1__ExecResponse *r;
	struct cridctl_stream_opts o = {
		.stdin = keep_stdin, .stdout = true, .stderr = !tty, .tty = tty
	};
	int rc;

	if (transport_ok("exec", transport) < 0)
		return 1;
	req.container_id = (char *)ctr;
	req.cmd = cmd;
	req.n_cmd = n_cmd;
	req.stdin = o.stdin;
	req.stdout = o.stdout;
	req.stderr = o.stderr;
	req.tty = o.tty;
	if (cridctl_call(ctl, "Exec", &req.base, &runtime__v1__exec_response__descriptor,
			 (ProtobufCMessage **)&r) < 0)
		return 1;
	rc = remote_cmd("exec", transport, r->url, &o);
	protobuf_c_message_free_unpacked(&r->base, NULL);
	return rc;
}

/* Options shared by attach: -i, -t, --transport; optind is the first argument after. */
static int stream_flags(int argc, char **argv, const char *usage, bool *keep_stdin, bool *tty,
			const char **transport)
{
	static const struct option longs[] = {
		{ "stdin", no_argument, NULL, 'i' }, { "interactive", no_argument, NULL, 'i' },
		{ "tty", no_argument, NULL, 't' },   { "transport", required_argument, NULL, 'T' },
		{ "help", no_argument, NULL, 'h' },  { NULL, 0, NULL, 0 },
	};
	int opt;

	optind = 0;
	opterr = 0;
	while ((opt = getopt_long(argc, argv, "+ith", longs, NULL)) != -1) {
		if (opt == 'i')
			*keep_stdin = true;
		else if (opt == 't')
			*tty = true;
		else if (opt == 'T')
			*transport = optarg;
		else if (opt == 'h')
			return printf("%s", usage), 1;
		else
			return fprintf(stderr, "cridctl: %s: bad option `%s`\n%s", argv[0],
				       argv[optind - 1], usage),
			       -1;
	}
	return 0;
}

int cridctl_attach(struct cridctl *ctl, int argc, char **argv)
{
	static const char usage[] =
	    "Usage: cridctl attach [-i] [-t] [--transport spdy] CONTAINER-ID\n"
	    "Attach to a running container\n"
	    "  -i, --stdin          keep STDIN open\n"
	    "  -t, --tty            the container has a pseudo-TTY\n"
	    "  --transport NAME     spdy (default) or websocket\n";
	Runtime__V1__AttachRequest req = RUNTIME__V1__ATTACH_REQUEST__INIT;
	Runtime__V1__AttachResponse *r;
	struct cridctl_stream_opts o = { .stdout = true };
	const char *transport = "spdy";
	int rc = stream_flags(argc, argv, usage, &o.stdin, &o.tty, &transport);

	if (rc)
		return rc < 0;
	if (argc - optind != 1) {
		fprintf(stderr, "cridctl: attach: expected one CONTAINER-ID\n%s", usage);
		return 1;
	}
	if (transport_ok("attach", transport) < 0)
		return 1;
	o.stderr = !o.tty;
	req.container_id = argv[optind];
	req.stdin = o.stdin;
	req.stdout = o.stdout;
	req.stderr = o.stderr;
	req.tty = o.tty;
	if (cridctl_call(ctl, "Attach", &req.base, &runtime__v1__attach_response__descriptor,
			 (ProtobufCMessage **)&r) < 0)
		return 1;
	rc = remote_cmd("attach", transport, r->url, &o);
	protobuf_c_message_free_unpacked(&r->base, NULL);
	return rc;
}

int cridctl_port_forward(struct cridctl *ctl, int argc, char **argv)
{
	static const char usage[] =
	    "Usage: cridctl port-forward [--transport spdy] POD-ID [LOCAL_PORT:]REMOTE_PORT...\n"
	    "Forward local ports to a pod\n"
	    "  --transport NAME     spdy (default) or websocket (SPDY tunnelled in WebSocket)\n";
	Runtime__V1__PortForwardRequest req = RUNTIME__V1__PORT_FORWARD_REQUEST__INIT;
	Runtime__V1__PortForwardResponse *r;
	struct cridctl_port_map maps[16];
	int32_t ports[16];
	const char *transport = "spdy";
	bool unused_stdin = false, unused_tty = false;
	struct crid_err err;
	size_t n = 0;
	int rc = stream_flags(argc, argv, usage, &unused_stdin, &unused_tty, &transport);

	if (rc)
		return rc < 0;
	if (unused_stdin || unused_tty) {
		fprintf(stderr, "cridctl: port-forward: -i and -t are exec and attach options\n%s",
			usage);
		return 1;
	}
	if (argc - optind < 2 || argc - optind > 17) {
		fprintf(stderr, "cridctl: port-forward: expected POD-ID and 1 to 16 ports\n%s",
			usage);
		return 1;
	}
	if (transport_ok("port-forward", transport) < 0)
		return 1;
	for (int i = optind + 1; i < argc; i++, n++) {
		if (cridctl_port_map_parse(argv[i], &maps[n], &err) < 0) {
			fprintf(stderr, "cridctl: port-forward: %s\n", err.msg);
			return 1;
		}
		ports[n] = maps[n].remote;
	}
	req.pod_sandbox_id = argv[optind];
	req.port = ports;
	req.n_port = n;
	if (cridctl_call(ctl, "PortForward", &req.base,
			 &runtime__v1__port_forward_response__descriptor,
			 (ProtobufCMessage **)&r) < 0)
		return 1;
	rc = cridctl_stream_port_forward(r->url, maps, n, strcmp(transport, "websocket") == 0);
	protobuf_c_message_free_unpacked(&r->base, NULL);
	return rc;
}
