/*
 * cridctl: connecting, unary calls with crictl-style errors, output formats
 * and the options every verb shares. Calls io/grpc_client and reactor/mem.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cridctl.h"
#include "reactor/mem.h"

int cridctl_set_output(struct cridctl *ctl, const char *name)
{
	if (strcmp(name, "table") == 0) {
		ctl->output = CRIDCTL_OUT_TABLE;
		return 0;
	}
	if (strcmp(name, "json") == 0) {
		ctl->output = CRIDCTL_OUT_JSON;
		return 0;
	}
	fprintf(stderr, "cridctl: output format `%s` is not supported (json, table)\n", name);
	return -1;
}

int cridctl_verb_opts(struct cridctl *ctl, int argc, char **argv, const char *usage, bool *quiet)
{
	static const struct option longs[] = {
		{ "output", required_argument, NULL, 'o' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int opt;

	optind = 0; /* glibc: full re-initialization for this argv */
	opterr = 0;
	while ((opt = getopt_long(argc, argv, "+o:qh", longs, NULL)) != -1) {
		if (opt == 'o' && cridctl_set_output(ctl, optarg) == 0)
			continue;
		if (opt == 'o')
			return -1;
		if (opt == 'q' && quiet) {
			*quiet = true;
			continue;
		}
		if (opt == 'h') {
			printf("%s", usage);
			return 1;
		}
		fprintf(stderr, "cridctl: %s: bad option `%s`\n%s", argv[0], argv[optind - 1],
			usage);
		return -1;
	}
	if (optind < argc) {
		fprintf(stderr, "cridctl: %s: unexpected argument `%s`\n%s", argv[0], argv[optind],
			usage);
		return -1;
	}
	return 0;
}

int cridctl_opts_parse(struct cridctl *ctl, int argc, char **argv, const char *shorts,
		       const char *allowed, const struct option *longs, const char *usage,
		       struct cridctl_filter *f,
		       int (*take)(void *o, const char *verb, int opt, const char *arg), void *o)
{
	int opt, rc;

	optind = 0; /* glibc: full re-initialization for this argv */
	opterr = 0;
	while ((opt = getopt_long(argc, argv, shorts, longs, NULL)) != -1) {
		if (opt != '?' && opt != 'h' && !strchr(shorts, opt) && !strchr(allowed, opt))
			opt = '?';
		if (opt == 'h') {
			printf("%s", usage);
			return 1;
		}
		rc = opt == '?' ? 1 : f ? cridctl_filter_opt(f, argv[0], opt, optarg) : 1;
		if (rc > 0 && opt == 'o')
			rc = cridctl_set_output(ctl, optarg);
		else if (rc > 0 && opt != '?')
			rc = take(o, argv[0], opt, optarg);
		if (rc < 0)
			return -1;
		if (rc > 0) {
			fprintf(stderr, "cridctl: %s: bad option `%s`\n%s", argv[0],
				argv[optind - 1], usage);
			return -1;
		}
	}
	return 0;
}

enum cridctl_output cridctl_output_for(struct cridctl *ctl, const char *verb, unsigned supported,
				       enum cridctl_output fallback)
{
	if (ctl->output == CRIDCTL_OUT_DEFAULT)
		return fallback;
	if (supported & ctl->output)
		return ctl->output;
	fprintf(stderr, "cridctl: %s: output format `%s` is not supported\n", verb,
		ctl->output == CRIDCTL_OUT_TABLE ? "table" : "json");
	return CRIDCTL_OUT_DEFAULT;
}

void cridctl_rpc_error(const char *method, int code, const char *msg)
{
	fprintf(stderr, "cridctl: %s: rpc error: code = %s desc = %s\n", method,
		crid_grpc_status_name(code), msg);
}

/* grpc-go reports a failed dial as Unavailable on the first call; so do we. */
int cridctl_connect(struct cridctl *ctl, const char *method)
{
	struct crid_err err;

	if (ctl->conn)
		return 0;
	if (crid_grpc_client_connect(ctl->endpoint, ctl->timeout_ms, &ctl->conn, &err) == 0)
		return 0;
	fprintf(stderr, "cridctl: %s: rpc error: code = %s desc = connection error: %s\n", method,
		crid_grpc_status_name(CRID_GRPC_UNAVAILABLE), err.msg);
	return -1;
}

static int pack(const ProtobufCMessage *req, uint8_t **out, size_t *len)
{
	*len = protobuf_c_message_get_packed_size(req);
	*out = crid_malloc(*len ? *len : 1);
	if (!*out)
		return -1;
	protobuf_c_message_pack(req, *out);
	return 0;
}

static int call_service(struct cridctl *ctl, const char *service, const char *method,
			int timeout_ms, const ProtobufCMessage *req,
			const ProtobufCMessageDescriptor *resp_desc, ProtobufCMessage **resp)
{
	char path[128];
	struct crid_grpc_result res;
	struct crid_err err;
	uint8_t *buf;
	size_t len;
	int rc;

	if (cridctl_connect(ctl, method) < 0)
		return -1;
	if (pack(req, &buf, &len) < 0) {
		fprintf(stderr, "cridctl: %s: out of memory\n", method);
		return -1;
	}
	snprintf(path, sizeof(path), "/%s/%s", service, method);
	rc = crid_grpc_client_call(ctl->conn, path, buf, len, timeout_ms, &res, &err);
	crid_free(buf);
	if (rc < 0) {
		cridctl_rpc_error(method, CRID_GRPC_UNAVAILABLE, err.msg);
		return -1;
	}
	if (res.status != CRID_GRPC_OK) {
		cridctl_rpc_error(method, res.status, res.message);
		crid_grpc_result_free(&res);
		return -1;
	}
	*resp = protobuf_c_message_unpack(resp_desc, NULL, res.len, res.data);
	crid_grpc_result_free(&res);
	if (!*resp) {
		cridctl_rpc_error(method, CRID_GRPC_INTERNAL,
				  "grpc: failed to unmarshal the received message");
		return -1;
	}
	return 0;
}

int cridctl_call(struct cridctl *ctl, const char *method, const ProtobufCMessage *req,
		 const ProtobufCMessageDescriptor *resp_desc, ProtobufCMessage **resp)
{
	return call_service(ctl, CRIDCTL_RUNTIME_SERVICE, method, ctl->timeout_ms, req, resp_desc,
			    resp);
}

int cridctl_call_timeout(struct cridctl *ctl, const char *method, int timeout_ms,
			 const ProtobufCMessage *req, const ProtobufCMessageDescriptor *resp_desc,
			 ProtobufCMessage **resp)
{
	return call_service(ctl, CRIDCTL_RUNTIME_SERVICE, method, timeout_ms, req, resp_desc, resp);
}

int cridctl_image_call(struct cridctl *ctl, const char *method, int timeout_ms,
		       const ProtobufCMessage *req, const ProtobufCMessageDescriptor *resp_desc,
		       ProtobufCMessage **resp)
{
	return call_service(ctl, CRIDCTL_IMAGE_SERVICE, method, timeout_ms, req, resp_desc, resp);
}
