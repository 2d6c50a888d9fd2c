#include "runtime/state/node_state.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yajl/yajl_gen.h>
#include <yajl/yajl_tree.h>

#include "reactor/mem.h"
#include "runtime/state/statefile.h"

#define NODE_STATE_MAX (64u << 10)

static int cidr_valid(const char *s, size_t len)
{
	char addr[64];
	unsigned char bin[16];
	const char *slash = memchr(s, '/', len);
	char *end;
	long bits;
	int family;

	if (!slash || (size_t)(slash - s) >= sizeof(addr) || slash + 1 == s + len)
		return 0;
	memcpy(addr, s, (size_t)(slash - s));
	addr[slash - s] = '\0';
	family = strchr(addr, ':') ? AF_INET6 : AF_INET;
	if (inet_pton(family, addr, bin) != 1)
		return 0;
	errno = 0;
	bits = strtol(slash + 1, &end, 10);
	if (errno || end != s + len || bits < 0 || bits > (family == AF_INET ? 32 : 128))
		return 0;
	return 1;
}

/* "" or comma-separated CIDRs, as kubelet sends for dual-stack nodes. */
static int pod_cidr_valid(const char *cidr)
{
	const char *p = cidr;

	if (!*cidr)
		return 1;
	for (;;) {
		const char *comma = strchr(p, ',');
		size_t len = comma ? (size_t)(comma - p) : strlen(p);

		if (!cidr_valid(p, len))
			return 0;
		if (!comma)
			return 1;
		p = comma + 1;
	}
}

static int persist(const struct crid_node_state *ns, const char *cidr, struct crid_err *err)
{
	yajl_gen g = yajl_gen_alloc(NULL);
	const unsigned char *buf;
	size_t len;
	int r;

	if (!g)
		return crid_err_set(err, ENOMEM, "node state");
	yajl_gen_map_open(g);
	yajl_gen_string(g, (const unsigned char *)"pod_cidr", 8);
	yajl_gen_string(g, (const unsigned char *)cidr, strlen(cidr));
	yajl_gen_map_close(g);
	yajl_gen_get_buf(g, &buf, &len);
	r = crid_statefile_write(ns->path, buf, len, err);
	yajl_gen_free(g);
	return r;
}

static int parse(struct crid_node_state *ns, const char *text, struct crid_err *err)
{
	static const char *key[] = { "pod_cidr", NULL };
	char ebuf[128];
	yajl_val root = yajl_tree_parse(text, ebuf, sizeof(ebuf));
	yajl_val v;
	char *cidr;

	if (!root)
		return crid_err_set(err, 0, "parse `%s`: %s", ns->path, ebuf);
	v = yajl_tree_get(root, key, yajl_t_string);
	if (!v || !pod_cidr_valid(YAJL_GET_STRING(v))) {
		yajl_tree_free(root);
		return crid_err_set(err, 0, "parse `%s`: bad or missing pod_cidr", ns->path);
	}
	cidr = crid_strdup(YAJL_GET_STRING(v));
	yajl_tree_free(root);
	if (!cidr)
		return crid_err_set(err, ENOMEM, "node state");
	crid_free(ns->pod_cidr);
	ns->pod_cidr = cidr;
	return 0;
}

int crid_node_state_load(struct crid_node_state *ns, const char *root, struct crid_err *err)
{
	char path[4096];
	char *text;
	size_t len;
	int r;

	memset(ns, 0, sizeof(*ns));
	snprintf(path, sizeof(path), "%s/node-state.json", root);
	ns->path = crid_strdup(path);
	ns->pod_cidr = crid_strdup("");
	if (!ns->path || !ns->pod_cidr)
		return crid_err_set(err, ENOMEM, "node state");
	if (crid_statefile_read(path, NODE_STATE_MAX, &text, &len, err) < 0)
		return err && err->code == ENOENT ? 0 : -1;
	r = parse(ns, text, err);
	crid_free(text);
	return r;
}

int crid_node_state_set_pod_cidr(struct crid_node_state *ns, const char *cidr, struct crid_err *err)
{
	char *copy;

	if (!pod_cidr_valid(cidr))
		return crid_err_set(err, EINVAL, "pod_cidr `%s` is not a comma-separated CIDR list",
				    cidr);
	if (strcmp(cidr, ns->pod_cidr) == 0)
		return 0;
	copy = crid_strdup(cidr);
	if (!copy)
		return crid_err_set(err, ENOMEM, "node state");
	if (persist(ns, cidr, err) < 0) {
		crid_free(copy);
		return -1;
	}
	crid_free(ns->pod_cidr);
	ns->pod_cidr = copy;
	return 0;
}

void crid_node_state_free(struct crid_node_state *ns)
{
	crid_free(ns->path);
	crid_free(ns->pod_cidr);
	ns->path = ns->pod_cidr = NULL;
}
