/*
 * For CreateContainer (handlers/container.c): its ContainerConfig
 * (protobuf) into runtime/oci/ctr_spec.h's terms, validated field by field;
 * everything lives in the call's arena. Serves no RPC by itself.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "handlers/ctr_config.h"
#include "runtime/pod/sandbox.h"

/* The deprecated seccomp_profile_path and apparmor_profile are still sent by kubelets. */
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"

/* The CRI's Signal enum: value -> Linux signal number (RT signals follow). */
static const int cri_signals[] = {
	0,	 SIGABRT, SIGALRM,   SIGBUS,  SIGCHLD,	 SIGCHLD,  SIGCONT, SIGFPE,  SIGHUP,
	SIGILL,	 SIGINT,  SIGIO,     SIGABRT, SIGKILL,	 SIGPIPE,  SIGIO,   SIGPROF, SIGPWR,
	SIGQUIT, SIGSEGV, SIGSTKFLT, SIGSTOP, SIGSYS,	 SIGTERM,  SIGTRAP, SIGTSTP, SIGTTIN,
	SIGTTOU, SIGURG,  SIGUSR1,   SIGUSR2, SIGVTALRM, SIGWINCH, SIGXCPU, SIGXFSZ,
};

int crid_cri_signal_to_linux(int cri)
{
	if (cri >= 0 && cri < (int)(sizeof(cri_signals) / sizeof(cri_signals[0])))
		return cri_signals[cri];
	if (cri >= 35 && cri <= 65)
		return cri - 1; /* SIGRTMIN (34 in the kernel) .. SIGRTMAX (64) */
	return -1;
}

int crid_linux_signal_to_cri(int signo)
{
	for (int i = 1; i < (int)(sizeof(cri_signals) / sizeof(cri_signals[0])); i++)
		if (cri_signals[i] == signo)
			return i;
	return signo >= 34 && signo <= 64 ? signo + 1 : 0;
}

static void *alloc(struct crid_rpc *rpc, size_t n)
{
	return crid_arena_alloc(&rpc->arena, n ? n : 1);
}

static int __attribute__((format(printf, 2, 0)))
bad(struct crid_err *err, const char *fmt, const char *a, size_t i)
{
	char field[160];

	snprintf(field, sizeof(field), fmt, i);
	return crid_err_set(err, EINVAL, "%s: %s", field, a);
}

static int mounts(struct crid_rpc *rpc, const Runtime__V1__ContainerConfig *c,
		  struct crid_ctr_spec *s, struct crid_err *err)
{
	struct crid_ctr_mount *m = alloc(rpc, c->n_mounts * sizeof(*m));

	if (!m)
		return crid_err_set(err, ENOMEM, "mounts");
	for (size_t i = 0; i < c->n_mounts; i++) {
		const Runtime__V1__Mount *in = c->mounts[i];

		memset(&m[i], 0, sizeof(m[i]));
		m[i].image_volume = in->image && in->image->image[0];
		if (in->container_path[0] != '/')
			return bad(err, "mounts[%zu].container_path", "must be an absolute path",
				   i);
		if (!m[i].image_volume && in->host_path[0] != '/')
			return bad(err, "mounts[%zu].host_path", "must be an absolute path", i);
		if (in->n_uidmappings || in->n_gidmappings)
			return bad(err, "mounts[%zu].uidMappings",
				   "id-mapped mounts are not supported", i);
		if (in->propagation > RUNTIME__V1__MOUNT_PROPAGATION__PROPAGATION_BIDIRECTIONAL)
			return bad(err, "mounts[%zu].propagation", "unknown value", i);
		m[i].container_path = in->container_path;
		m[i].host_path = in->host_path;
		m[i].readonly = in->readonly;
		m[i].recursive_readonly = in->recursive_read_only;
		m[i].selinux_relabel = in->selinux_relabel;
		m[i].propagation = (enum crid_propagation)in->propagation;
	}
	s->mounts = m;
	s->n_mounts = c->n_mounts;
	return 0;
}

static int envs_and_devices(struct crid_rpc *rpc, const Runtime__V1__ContainerConfig *c,
			    struct crid_ctr_spec *s, struct crid_err *err)
{
	struct crid_ctr_env *e = alloc(rpc, c->n_envs * sizeof(*e));
	struct crid_ctr_device *d = alloc(rpc, c->n_devices * sizeof(*d));

	if (!e || !d)
		return crid_err_set(err, ENOMEM, "envs");
	for (size_t i = 0; i < c->n_envs; i++) {
		const ProtobufCBinaryData *v = &c->envs[i]->value;
		char *value = alloc(rpc, v->len + 1);

		if (!c->envs[i]->key[0] || strchr(c->envs[i]->key, '='))
			return bad(err, "envs[%zu].key", "must be non-empty and free of `=`", i);
		if (!value)
			return crid_err_set(err, ENOMEM, "envs");
		if (v->len)
			memcpy(value, v->data, v->len);
		value[v->len] = '\0';
		if (strlen(value) != v->len)
			return bad(err, "envs[%zu].value", "must not contain NUL", i);
		e[i].key = c->envs[i]->key;
		e[i].value = value; /* any bytes but NUL, UTF-8 or not */
	}
	for (size_t i = 0; i < c->n_devices; i++) {
		if (c->devices[i]->host_path[0] != '/' || c->devices[i]->container_path[0] != '/')
			return bad(err, "devices[%zu]", "paths must be absolute", i);
		d[i].container_path = c->devices[i]->container_path;
		d[i].host_path = c->devices[i]->host_path;
		d[i].permissions =
		    c->devices[i]->permissions[0] ? c->devices[i]->permissions : "rwm";
	}
	s->envs = e;
	s->n_envs = c->n_envs;
	s->devices = d;
	s->n_devices = c->n_devices;
	return 0;
}

static int resources(struct crid_rpc *rpc, const Runtime__V1__LinuxContainerResources *r,
		     struct crid_ctr_resources *o, struct crid_err *err)
{
	struct crid_hugepage_limit *h;
	struct crid_ctr_env *u;

	memset(o, 0, sizeof(*o));
	o->cpuset_cpus = o->cpuset_mems = "";
	if (!r)
		return 0;
	if (r->cpu_period < 0 || r->cpu_quota < -1 || r->cpu_shares < 0 ||
	    r->memory_limit_in_bytes < 0 || r->memory_swap_limit_in_bytes < 0)
		return crid_err_set(err, EINVAL, "linux.resources: negative value");
	if (r->oom_score_adj < -1000 || r->oom_score_adj > 1000)
		return crid_err_set(err, EINVAL,
				    "linux.resources.oom_score_adj: %lld is outside -1000..1000",
				    (long long)r->oom_score_adj);
	h = alloc(rpc, r->n_hugepage_limits * sizeof(*h));
	u = alloc(rpc, r->n_unified * sizeof(*u));
	if (!h || !u)
		return crid_err_set(err, ENOMEM, "resources");
	for (size_t i = 0; i < r->n_hugepage_limits; i++) {
		h[i].page_size = r->hugepage_limits[i]->page_size;
		h[i].limit = r->hugepage_limits[i]->limit;
	}
	for (size_t i = 0; i < r->n_unified; i++) {
		u[i].key = r->unified[i]->key;
		u[i].value = r->unified[i]->value;
	}
	o->cpu_period = r->cpu_period;
	o->cpu_quota = r->cpu_quota;
	o->cpu_shares = r->cpu_shares;
	o->memory_limit = r->memory_limit_in_bytes;
	o->memory_swap_limit = r->memory_swap_limit_in_bytes;
	o->oom_score_adj = r->oom_score_adj;
	o->cpuset_cpus = r->cpuset_cpus;
	o->cpuset_mems = r->cpuset_mems;
	o->hugepages = h;
	o->n_hugepages = r->n_hugepage_limits;
	o->unified = u;
	o->n_unified = r->n_unified;
	return 0;
}

static int seccomp(const Runtime__V1__LinuxContainerSecurityContext *sc,
		   struct crid_ctr_security *o, struct crid_err *err)
{
	const char *old = sc->seccomp_profile_path;

	o->seccomp = CRID_SECCOMP_UNSET;
	if (sc->seccomp) {
		switch (sc->seccomp->profile_type) {
		case RUNTIME__V1__SECURITY_PROFILE__PROFILE_TYPE__RuntimeDefault:
			o->seccomp = CRID_SECCOMP_RUNTIME_DEFAULT;
			break;
		case RUNTIME__V1__SECURITY_PROFILE__PROFILE_TYPE__Unconfined:
			o->seccomp = CRID_SECCOMP_UNCONFINED;
			break;
		case RUNTIME__V1__SECURITY_PROFILE__PROFILE_TYPE__Localhost:
			o->seccomp = CRID_SECCOMP_LOCALHOST;
			o->seccomp_localhost = sc->seccomp->localhost_ref;
			break;
		default:
			return crid_err_set(err, EINVAL,
					    "linux.security_context.seccomp.profile_type: unknown");
		}
	} else if (old[0]) { /* the deprecated field, as kubelet still sends it sometimes */
		if (strcmp(old, "runtime/default") == 0 || strcmp(old, "docker/default") == 0)
			o->seccomp = CRID_SECCOMP_RUNTIME_DEFAULT;
		else if (strcmp(old, "unconfined") == 0)
			o->seccomp = CRID_SECCOMP_UNCONFINED;
		else if (strncmp(old, "localhost/", 10) == 0) {
			o->seccomp = CRID_SECCOMP_LOCALHOST;
			o->seccomp_localhost = old + 9; /* keeps the leading '/' */
		} else
			return crid_err_set(err, EINVAL,
					    "linux.security_context.seccomp_profile_path: `%s` is "
					    "not a known profile",
					    old);
	}
	if (o->seccomp == CRID_SECCOMP_LOCALHOST && o->seccomp_localhost[0] != '/')
		return crid_err_set(err, EINVAL,
				    "linux.security_context.seccomp.localhost_ref: `%s` must be an "
				    "absolute path",
				    o->seccomp_localhost);
	return 0;
}

static void apparmor(const Runtime__V1__LinuxContainerSecurityContext *sc,
		     struct crid_ctr_security *o)
{
	o->apparmor_profile = "";
	if (sc->apparmor) {
		if (sc->apparmor->profile_type ==
		    RUNTIME__V1__SECURITY_PROFILE__PROFILE_TYPE__Localhost)
			o->apparmor_profile = sc->apparmor->localhost_ref;
		else if (sc->apparmor->profile_type ==
			 RUNTIME__V1__SECURITY_PROFILE__PROFILE_TYPE__Unconfined)
			o->apparmor_profile = "unconfined";
		else
			o->apparmor_profile = "runtime/default";
	} else if (sc->apparmor_profile[0]) {
		o->apparmor_profile = sc->apparmor_profile;
	}
}

static int security(const Runtime__V1__LinuxContainerSecurityContext *sc,
		    struct crid_ctr_security *o, struct crid_err *err)
{
	const Runtime__V1__NamespaceOption *ns;

	memset(o, 0, sizeof(*o));
	o->run_as_username = "";
	o->apparmor_profile = "";
	/* POD unless said otherwise: the CRI enum's zero value, whether namespace_options, the
	 * security context or linux is absent (kubelet always sets it; other clients may not). */
	o->pid_mode = CRID_NS_POD;
	if (!sc)
		return 0;
	ns = sc->namespace_options;
	o->privileged = sc->privileged;
	o->readonly_rootfs = sc->readonly_rootfs;
	o->no_new_privs = sc->no_new_privs;
	o->has_run_as_user = sc->run_as_user != NULL;
	o->run_as_user = sc->run_as_user ? sc->run_as_user->value : 0;
	o->has_run_as_group = sc->run_as_group != NULL;
	o->run_as_group = sc->run_as_group ? sc->run_as_group->value : 0;
	o->run_as_username = sc->run_as_username;
	if (o->has_run_as_group && !o->has_run_as_user && !o->run_as_username[0])
		return crid_err_set(err, EINVAL,
				    "linux.security_context.run_as_group: needs run_as_user or "
				    "run_as_username");
	o->supplemental_groups = sc->supplemental_groups;
	o->n_supplemental_groups = sc->n_supplemental_groups;
	o->groups_policy =
	    sc->supplemental_groups_policy == RUNTIME__V1__SUPPLEMENTAL_GROUPS_POLICY__Strict
		? CRID_GROUPS_STRICT
		: CRID_GROUPS_MERGE;
	if (sc->capabilities) {
		o->cap_add = (const char *const *)sc->capabilities->add_capabilities;
		o->n_cap_add = sc->capabilities->n_add_capabilities;
		o->cap_drop = (const char *const *)sc->capabilities->drop_capabilities;
		o->n_cap_drop = sc->capabilities->n_drop_capabilities;
	}
	o->masked_paths = (const char *const *)sc->masked_paths;
	o->n_masked_paths = sc->n_masked_paths;
	o->masked_paths_set = sc->n_masked_paths > 0;
	o->readonly_paths = (const char *const *)sc->readonly_paths;
	o->n_readonly_paths = sc->n_readonly_paths;
	o->readonly_paths_set = sc->n_readonly_paths > 0;
	if (ns) {
		if (ns->pid > RUNTIME__V1__NAMESPACE_MODE__TARGET)
			return crid_err_set(
			    err, EINVAL, "linux.security_context.namespace_options.pid: unknown");
		o->pid_mode = (int)ns->pid;
	}
	apparmor(sc, o);
	return seccomp(sc, o, err);
}

int crid_ctr_config_translate(struct crid_rpc *rpc, const Runtime__V1__ContainerConfig *c,
			      struct crid_ctr_spec *s, struct crid_err *err)
{
	const Runtime__V1__LinuxContainerConfig *lx = c->linux;

	memset(s, 0, sizeof(*s));
	if (!c->metadata || !c->metadata->name[0])
		return crid_err_set(err, EINVAL, "config.metadata.name: must not be empty");
	if (!c->image || !c->image->image[0])
		return crid_err_set(err, EINVAL, "config.image.image: must not be empty");
	s->name = c->metadata->name;
	s->command = (const char *const *)c->command;
	s->n_command = c->n_command;
	s->args = (const char *const *)c->args;
	s->n_args = c->n_args;
	s->working_dir = c->working_dir;
	if (c->working_dir[0] && c->working_dir[0] != '/')
		return crid_err_set(err, EINVAL, "config.working_dir: `%s` must be absolute",
				    c->working_dir);
	s->tty = c->tty;
	s->stdin = c->stdin;
	s->stdin_once = c->stdin_once;
	s->stop_signal = crid_cri_signal_to_linux(c->stop_signal);
	if (s->stop_signal < 0)
		return crid_err_set(err, EINVAL, "config.stop_signal: unknown signal %d",
				    c->stop_signal);
	if (mounts(rpc, c, s, err) < 0 || envs_and_devices(rpc, c, s, err) < 0 ||
	    resources(rpc, lx ? lx->resources : NULL, &s->resources, err) < 0 ||
	    security(lx ? lx->security_context : NULL, &s->security, err) < 0)
		return crid_err_wrap(err, "config");
	return 0;
}
