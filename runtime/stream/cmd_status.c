/*
 * The exec/attach status (cmd_status.h), in the shape cri-streaming's
 * remotecommand writes (status.go, httpstream.go): the non-zero exit
 * message wraps exec.CodeExitError's text, whose argv prints as Go's %v of
 * a []string ("[sh -c exit 3]").
 */
#include "runtime/stream/cmd_status.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <yajl/yajl_gen.h>

#include "reactor/mem.h"

/* "error executing command [a b c], exit code N" in a new buffer. */
static char *exit_text(const struct crid_cmd_end *e)
{
	size_t i, n = 64;
	char *s, *p;

	for (i = 0; i < e->argc; i++)
		n += strlen(e->argv[i]) + 1;
	s = crid_malloc(n);
	if (!s)
		return NULL;
	p = s + snprintf(s, n, "error executing command [");
	for (i = 0; i < e->argc; i++) {
		size_t l = strlen(e->argv[i]);

		if (i)
			*p++ = ' ';
		memcpy(p, e->argv[i], l);
		p += l;
	}
	snprintf(p, n - (size_t)(p - s), "], exit code %d", e->exit_code);
	return s;
}

static void str(yajl_gen g, const char *s)
{
	yajl_gen_string(g, (const unsigned char *)s, strlen(s));
}

/* The metav1.Status; success when |msg| is NULL. */
static void status_json(yajl_gen g, const struct crid_cmd_end *e, const char *msg)
{
	char rc[8];

	yajl_gen_map_open(g);
	str(g, "metadata");
	yajl_gen_map_open(g);
	yajl_gen_map_close(g);
	str(g, "status");
	if (!msg) {
		str(g, "Success");
		yajl_gen_map_close(g);
		return;
	}
	str(g, "Failure");
	str(g, "message");
	str(g, msg);
	str(g, "reason");
	if (e->internal) {
		str(g, "InternalError");
		str(g, "code");
		yajl_gen_integer(g, 500);
		yajl_gen_map_close(g);
		return;
	}
	str(g, "NonZeroExitCode");
	str(g, "details");
	yajl_gen_map_open(g);
	str(g, "causes");
	yajl_gen_array_open(g);
	yajl_gen_map_open(g);
	str(g, "reason");
	str(g, "ExitCode");
	str(g, "message");
	snprintf(rc, sizeof(rc), "%d", e->exit_code);
	str(g, rc);
	yajl_gen_map_close(g);
	yajl_gen_array_close(g);
	yajl_gen_map_close(g);
	yajl_gen_map_close(g);
}

/* The failure text, or NULL on success; sets *oom when it could not be built. */
static char *failure_text(const struct crid_cmd_end *e, bool *oom)
{
	static const char internal[] = "Internal error occurred: ";
	static const char nonzero[] = "command terminated with non-zero exit code: ";
	char *detail, *s;
	size_t n;

	*oom = false;
	if (!e->internal && e->exit_code == 0)
		return NULL;
	detail = e->internal ? crid_strdup(e->internal) : exit_text(e);
	if (!detail) {
		*oom = true;
		return NULL;
	}
	n = sizeof(internal) + sizeof(nonzero) + strlen(detail);
	s = crid_malloc(n);
	if (s)
		snprintf(s, n, "%s%s", e->internal ? internal : nonzero, detail);
	else
		*oom = true;
	crid_free(detail);
	return s;
}

int crid_cmd_status(int version, const struct crid_cmd_end *e, char **out, size_t *len,
		    struct crid_err *err)
{
	const unsigned char *buf;
	bool oom;
	char *msg = failure_text(e, &oom);
	yajl_gen g;
	size_t n;

	*out = NULL;
	*len = 0;
	if (oom)
		return crid_err_set(err, ENOMEM, "exec status");
	if (version < 4) {
		/* v1-v3: the text on failure, nothing on success */
		if (msg) {
			*len = strlen(msg);
			*out = msg;
		}
		return 0;
	}
	g = yajl_gen_alloc(NULL);
	if (!g) {
		crid_free(msg);
		return crid_err_set(err, ENOMEM, "exec status");
	}
	status_json(g, e, msg);
	crid_free(msg);
	if (yajl_gen_get_buf(g, &buf, &n) != yajl_gen_status_ok || !(*out = crid_malloc(n))) {
		yajl_gen_free(g);
		return crid_err_set(err, ENOMEM, "exec status");
	}
	memcpy(*out, buf, n);
	*len = n;
	yajl_gen_free(g);
	return 0;
}
