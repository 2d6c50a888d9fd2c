/*
 * The OCI runtimes' `features` answers (runtime-spec features.md, runc >=
 * 1.1, crun >= 1.9) and the kernel's half, as runtime/oci/rt_features.h
 * describes. Kubelet trusts runtime_handlers[].features blindly, so a
 * feature is true only when both the runtime lists it and the kernel has it.
 */
#include "runtime/oci/rt_features.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <yajl/yajl_tree.h>

#include "reactor/log.h"
#include "reactor/mem.h"
#include "reactor/spawn.h"

#ifndef AT_RECURSIVE
#define AT_RECURSIVE 0x8000
#endif

/* runc's answer is ~3 KiB; anything this big is not a features document. */
#define FEATURES_MAX (256u << 10)

struct probe_entry {
	struct crid_child child;
	struct crid_rt_probe *owner;
	const char *name; /* points into the host's runtimes[] */
	int out_fd;	  /* memfd holding the child's stdout; -1 once read */
	bool running;
	struct crid_rt_features f;
};

struct crid_rt_probe {
	struct crid_kernel_features kernel;
	const char *default_name;
	struct probe_entry *v;
	size_t n;
};

void crid_kernel_features_detect(struct crid_kernel_features *k)
{
	char buf[32] = "";
	FILE *f;

	memset(k, 0, sizeof(*k));
#ifdef SYS_mount_setattr
	/* fd -1 with an empty path: EBADF (or EINVAL) when the call exists, ENOSYS when not. */
	if (syscall(SYS_mount_setattr, -1, "", AT_EMPTY_PATH | AT_RECURSIVE, NULL, 0) < 0 &&
	    errno != ENOSYS)
		k->mount_setattr = true;
#endif
	f = fopen("/proc/sys/user/max_user_namespaces", "re");
	if (f) {
		if (fgets(buf, sizeof(buf), f))
			k->userns = strtol(buf, NULL, 10) > 0;
		fclose(f);
	}
}

static bool array_has(yajl_val root, const char **path, const char *want)
{
	yajl_val a = yajl_tree_get(root, path, yajl_t_array);

	for (size_t i = 0; a && i < a->u.array.len; i++) {
		yajl_val s = a->u.array.values[i];

		if (YAJL_IS_STRING(s) && strcmp(s->u.string, want) == 0)
			return true;
	}
	return false;
}

void crid_rt_features_parse(const char *json, size_t len, const struct crid_kernel_features *k,
			    struct crid_rt_features *out)
{
	const char *opts[] = { "mountOptions", NULL };
	const char *ns[] = { "linux", "namespaces", NULL };
	const char *idmap[] = { "linux", "mountExtensions", "idmap", "enabled", NULL };
	const char *ckpt[] = { "annotations", "org.opencontainers.runc.checkpoint.enabled", NULL };
	char *text = crid_malloc(len + 1);
	yajl_val root, v;

	memset(out, 0, sizeof(*out));
	out->probed = true;
	if (!text) {
		snprintf(out->why, sizeof(out->why), "out of memory");
		return;
	}
	memcpy(text, json, len);
	text[len] = '\0';
	root = yajl_tree_parse(text, NULL, 0);
	crid_free(text);
	if (!root || !YAJL_IS_OBJECT(root)) {
		snprintf(out->why, sizeof(out->why), "features output is not a JSON object");
		yajl_tree_free(root);
		return;
	}
	out->rro = k->mount_setattr && array_has(root, opts, "rro");
	v = yajl_tree_get(root, idmap, yajl_t_true);
	out->userns = k->userns && k->mount_setattr && v && array_has(root, ns, "user");
	v = yajl_tree_get(root, ckpt, yajl_t_string);
	out->checkpoint = v && strcmp(v->u.string, "true") == 0;
	yajl_tree_free(root);
}

/* Reads the child's stdout from its memfd, bounded. */
static void read_answer(struct probe_entry *e, int status)
{
	char *buf = NULL;
	off_t size = lseek(e->out_fd, 0, SEEK_END);
	ssize_t r = -1;

	if (status != 0) {
		memset(&e->f, 0, sizeof(e->f));
		e->f.probed = true;
		snprintf(e->f.why, sizeof(e->f.why), "`features` exited with status %d", status);
		return;
	}
	if (size > 0 && (size_t)size <= FEATURES_MAX && (buf = crid_malloc((size_t)size)))
		r = pread(e->out_fd, buf, (size_t)size, 0);
	if (r == (ssize_t)size && r > 0) {
		crid_rt_features_parse(buf, (size_t)r, &e->owner->kernel, &e->f);
	} else {
		e->f.probed = true;
		snprintf(e->f.why, sizeof(e->f.why), "`features` output unreadable (%lld bytes)",
			 (long long)size);
	}
	crid_free(buf);
}

static void probe_exited(struct crid_child *child, int status, void *user)
{
	struct probe_entry *e = user;

	(void)child;
	e->running = false;
	read_answer(e, status);
	close(e->out_fd);
	e->out_fd = -1;
	crid_log_info("runtime %s features: rro=%d userns=%d checkpoint=%d%s%s", e->name, e->f.rro,
		      e->f.userns, e->f.checkpoint, e->f.why[0] ? " " : "", e->f.why);
}

static void start_one(struct crid_loop *loop, struct probe_entry *e, const char *path)
{
	char *argv[] = { (char *)path, "features", NULL };
	struct crid_spawn_opts o = { .path = path, .argv = argv, .stdin_fd = -1, .stderr_fd = -1 };
	struct crid_err err;

	e->out_fd = memfd_create("crid-rt-features", MFD_CLOEXEC);
	o.stdout_fd = e->out_fd;
	if (e->out_fd >= 0 && crid_spawn(loop, &e->child, &o, probe_exited, e, &err) == 0) {
		e->running = true;
		return;
	}
	e->f.probed = true;
	snprintf(e->f.why, sizeof(e->f.why), "cannot run `%.40s features`: %.80s", path,
		 e->out_fd < 0 ? strerror(errno) : err.msg);
	if (e->out_fd >= 0)
		close(e->out_fd);
	e->out_fd = -1;
}

struct crid_rt_probe *crid_rt_probe_start(struct crid_loop *loop, const struct crid_host *host)
{
	struct crid_rt_probe *p = crid_calloc(1, sizeof(*p));

	if (!p)
		return NULL;
	p->v = crid_calloc(host->n_runtimes ? host->n_runtimes : 1, sizeof(*p->v));
	if (!p->v) {
		crid_free(p);
		return NULL;
	}
	crid_kernel_features_detect(&p->kernel);
	p->default_name = host->default_runtime;
	for (size_t i = 0; i < host->n_runtimes; i++) {
		struct probe_entry *e = &p->v[p->n++];

		e->owner = p;
		e->name = host->runtimes[i].name;
		e->out_fd = -1;
		if (host->runtimes[i].usable)
			start_one(loop, e, host->runtimes[i].path);
	}
	return p;
}

const struct crid_rt_features *crid_rt_probe_get(const struct crid_rt_probe *p, const char *name)
{
	static const struct crid_rt_features none;

	if (!p)
		return &none;
	if (!name || !name[0])
		name = p->default_name;
	for (size_t i = 0; name && i < p->n; i++)
		if (strcmp(p->v[i].name, name) == 0)
			return &p->v[i].f;
	return &none;
}

void crid_rt_probe_free(struct crid_rt_probe *p)
{
	if (!p)
		return;
	for (size_t i = 0; i < p->n; i++) {
		struct probe_entry *e = &p->v[i];

		/*
		 * Killed, never waited for: a SIGKILLed child is not always gone
		 * at once (one in a frozen cgroup waits for the thaw), and crid
		 * is exiting: init reaps it, or after a re-exec the orphan sweep.
		 */
		if (e->running) {
			crid_child_kill(&e->child, SIGKILL);
			close(crid_child_detach(&e->child));
		}
		if (e->out_fd >= 0)
			close(e->out_fd);
	}
	crid_free(p->v);
	crid_free(p);
}
