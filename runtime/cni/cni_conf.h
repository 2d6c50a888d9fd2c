/*
 * CNI network configuration files, the parts that both readiness
 * (cni_status.c) and execution (cni.c) need: bounded reading, parsing and
 * validating the way libcni does (ConfFromBytes, ConfListFromBytes,
 * ValidateNetworkName) and finding plugin binaries (FindInPath). Internal to
 * runtime/; problems are short texts written into a caller's buffer.
 */
#ifndef CRID_CNI_CONF_H
#define CRID_CNI_CONF_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/stat.h>

#include <yajl/yajl_tree.h>

/* At most this many config files are examined, and each is read only up to this size. */
#define CRID_CNI_MAX_FILES 64
#define CRID_CNI_MAX_FILE_SIZE (1024 * 1024)
/* A config list naming more plugins than this is invalid (bounds what we store). */
#define CRID_CNI_MAX_PLUGINS 32
/* yajl_tree_free() recurses once per nesting level: deeper documents are refused unparsed. */
#define CRID_CNI_MAX_JSON_DEPTH 32
/* A network name is at most this long, NUL included. */
#define CRID_CNI_NAME_MAX 128

/*
 * Told about every path looked at, so cni_status can watch it: |st| is NULL
 * when stat(2) failed with |error|. Returns -1 when out of memory.
 */
typedef int (*crid_cni_seen_fn)(void *user, const char *path, const struct stat *st, int error);

/*
 * Reads |path| (a regular file of at most CRID_CNI_MAX_FILE_SIZE bytes) into a
 * NUL-terminated buffer the caller frees with crid_free; |len| gets its size.
 * A FIFO or device is never opened. On failure returns NULL with |problem| set
 * (errno is ENOMEM when memory ran out). |seen| may be NULL.
 */
char *crid_cni_conf_read(const char *path, size_t *len, crid_cni_seen_fn seen, void *user,
			 char *problem, size_t psize);

/* A parsed and validated config: a list, or a single plugin config (.conf). */
struct crid_cni_conf {
	yajl_val root;				 /* owned: free with crid_cni_conf_free */
	bool is_list;				 /* has "plugins" */
	size_t n;				 /* plugins in chain order */
	yajl_val plugins[CRID_CNI_MAX_PLUGINS];	 /* the plugin objects (root for a .conf) */
	const char *types[CRID_CNI_MAX_PLUGINS]; /* their "type" */
	const char *name;			 /* "name" */
	const char *version;			 /* "cniVersion" */
};

/*
 * Parses |len| bytes at |buf| (NUL-terminated at |len|): an object with a valid
 * "name", a supported "cniVersion" and a "plugins" list (or a "type") whose
 * types are plain file names. Returns 0, or -1 with |problem| set.
 */
int crid_cni_conf_parse(struct crid_cni_conf *c, const char *buf, size_t len, char *problem,
			size_t psize);

void crid_cni_conf_free(struct crid_cni_conf *c);

/* The string member |key| of |obj|, or NULL. */
const char *crid_cni_json_string(yajl_val obj, const char *key);

/* Rejects nesting deeper than |max| (comments skipped as yajl does). */
bool crid_cni_json_depth_ok(const char *s, size_t n, int max);

/* Spec versions crid runs; versions below 0.4.0 get no prevResult on DEL. */
bool crid_cni_version_supported(const char *v);

/*
 * Finds |type| as an executable regular file in |dirs|, in order, into |path|.
 * Returns 0, or -1 with |problem| naming the plugin and the dirs ("plugin
 * `x` not found in /a:/b") and errno ENOENT, EACCES or ENOMEM.
 */
int crid_cni_find_plugin(char *const *dirs, size_t n_dirs, const char *type, char *path,
			 size_t path_size, crid_cni_seen_fn seen, void *user, char *problem,
			 size_t psize);

/* |dirs| joined with ':' (as CNI_PATH wants them), truncated to |size|. */
void crid_cni_join_dirs(char *const *dirs, size_t n, char *out, size_t size);

/* Replaces bytes that are not printable UTF-8 with '?' (messages go into protobuf strings). */
void crid_cni_sanitize_utf8(char *s);

#endif
