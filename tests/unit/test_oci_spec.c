/*
 * OCI spec: built from hand-made requests, pods and image configs against a
 * temp rootfs with etc/passwd and etc/group, parsed back with yajl_tree and
 * checked field by field; the exec process; and (as root, with runc) a real
 * `runc run` of a busybox rootfs with the spec, proving runc accepts it.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <yajl/yajl_tree.h>

#include "reactor/mem.h"
#include "runtime/config/config.h"
#include "runtime/oci/host.h"
#include "runtime/oci/mount_prop.h"
#include "runtime/oci/oci_spec.h"
#include "runtime/pod/sandbox.h"
#include "tests/unit/tap.h"

#define DEFAULT_PATH_T "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
#define J(root, ...) jpath((root), (const char *[]){ __VA_ARGS__, NULL })

/* yajl_tree_get() that also indexes arrays by a decimal component ("0"). */
static yajl_val jpath(yajl_val v, const char **path)
{
	for (; v && *path; path++) {
		if (YAJL_IS_ARRAY(v) && **path >= '0' && **path <= '9') {
			size_t i = strtoul(*path, NULL, 10);

			v = i < v->u.array.len ? v->u.array.values[i] : NULL;
		} else {
			const char *one[] = { *path, NULL };

			v = yajl_tree_get(v, one, yajl_t_any);
		}
	}
	return v;
}

static char tmp[64], rootfs[128], vol[128], vol2[128], vol3[128];
static struct crid_config cfg;
static struct crid_host host;
static const char *const sh[] = { "/bin/sh" };

static void put(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	if (f) {
		fputs(text, f);
		fclose(f);
	}
}

static void setup(void)
{
	char p[256];
	FILE *f;

	snprintf(tmp, sizeof(tmp), "/tmp/crid-ocispec-XXXXXX");
	if (!mkdtemp(tmp))
		exit(1);
	snprintf(rootfs, sizeof(rootfs), "%s/rootfs", tmp);
	snprintf(vol, sizeof(vol), "%s/vol", tmp);
	snprintf(vol2, sizeof(vol2), "%s/vol2", tmp);
	snprintf(vol3, sizeof(vol3), "%s/vol3", tmp);
	mkdir(rootfs, 0755);
	mkdir(vol3, 0755);
	mkdir(vol, 0755);
	mkdir(vol2, 0755);
	snprintf(p, sizeof(p), "%s/etc", rootfs);
	mkdir(p, 0755);
	snprintf(p, sizeof(p), "%s/etc/passwd", rootfs);
	put(p, "root:x:0:0:root:/root:/bin/sh\n"
	       "# comment\n"
	       "app:x:1000:1001::/home/app:/bin/sh\n"
	       "web:x:33:33::/var/www:/bin/sh\n");
	snprintf(p, sizeof(p), "%s/etc/group", rootfs);
	put(p, "root:x:0:\napp:x:1001:\naudio:x:29:app,web\nvideo:x:44:web\nstaff:x:50:app\n");
	snprintf(p, sizeof(p), "%s/good.json", tmp);
	put(p, "{\"defaultAction\":\"SCMP_ACT_ALLOW\",\"archMap\":[{\"architecture\":"
	       "\"SCMP_ARCH_X86_64\",\"subArchitectures\":[\"SCMP_ARCH_X86\"]}],\"syscalls\":["
	       "{\"names\":[\"reboot\",\"no_such_call\"],\"action\":\"SCMP_ACT_ERRNO\"},"
	       "{\"names\":[\"mount\"],\"action\":\"SCMP_ACT_ALLOW\",\"includes\":{\"caps\":"
	       "[\"CAP_SYS_ADMIN\"]}}]}");
	snprintf(p, sizeof(p), "%s/bad.json", tmp);
	put(p, "{\"defaultAction\": ");
	snprintf(p, sizeof(p), "%s/noaction.json", tmp);
	put(p, "{\"syscalls\": []}");
	f = fopen("/proc/self/status", "r");
	if (f) {
		char buf[8192];
		size_t n = fread(buf, 1, sizeof(buf) - 1, f);

		buf[n] = '\0';
		crid_host_parse_cap_eff(buf, &host.cap_eff);
		fclose(f);
	}
	host.cgroup_mode = CRID_CGROUP_HYBRID;
	host.last_cap = 40;
	host.has_cap_sys_resource = false;
	if (crid_config_init_defaults(&cfg, NULL) < 0)
		exit(1);
}

struct t {
	struct crid_ctr_spec spec;
	struct crid_ctr_pod pod;
	struct crid_oci_input in;
	const char *image;
};

static void t_init(struct t *t, const char *image)
{
	memset(t, 0, sizeof(*t));
	t->spec.id = "c1";
	t->spec.name = "ctr";
	t->spec.command = sh;
	t->spec.n_command = 1;
	t->spec.security.run_as_username = "";
	t->spec.security.apparmor_profile = "";
	t->spec.security.pid_mode = CRID_NS_POD;
	t->pod.id = "p1";
	t->pod.hostname = "pod-host";
	t->pod.netns = "/run/crid/ns/net-p1";
	t->pod.ipcns = "/run/crid/ns/ipc-p1";
	t->pod.utsns = "/run/crid/ns/uts-p1";
	t->pod.pidns = "";
	t->pod.hosts_file = "/etc/hosts";
	t->pod.resolv_file = "/etc/resolv.conf";
	t->pod.hostname_file = "/etc/hostname";
	t->pod.shm_dir = "";
	t->in.spec = &t->spec;
	t->in.pod = &t->pod;
	t->in.image_config = image;
	t->in.rootfs = rootfs;
	t->in.cgroups_path = "/kubepods/pod-p1/crid-c1";
	t->in.host = &host;
	t->in.cfg = &cfg;
}

/* Builds and parses; NULL (with |err| filled) on failure. */
static yajl_val build(struct t *t, struct crid_oci_spec *out, struct crid_err *err)
{
	struct crid_oci_spec s;
	yajl_val v;

	if (crid_oci_spec_build(&t->in, &s, err) < 0)
		return NULL;
	v = yajl_tree_parse(s.json, NULL, 0);
	if (out)
		*out = s;
	else
		crid_oci_spec_free(&s);
	return v;
}

/* The strings of array |a| joined by spaces ("<none>" when not an array). */
static const char *joined(yajl_val a)
{
	static char buf[16384];
	size_t n = 0;

	if (!YAJL_IS_ARRAY(a))
		return "<none>";
	buf[0] = '\0';
	for (size_t i = 0; i < a->u.array.len && n < sizeof(buf) - 1; i++) {
		yajl_val v = a->u.array.values[i];
		int w;

		if (YAJL_IS_STRING(v))
			w = snprintf(buf + n, sizeof(buf) - n, "%s%s", i ? " " : "", v->u.string);
		else
			w = snprintf(buf + n, sizeof(buf) - n, "%s%s", i ? " " : "",
				     YAJL_IS_NUMBER(v) ? v->u.number.r : "?");
		if (w < 0 || (size_t)w >= sizeof(buf) - n)
			break;
		n += (size_t)w;
	}
	return buf;
}

static const char *str(yajl_val v)
{
	return YAJL_IS_STRING(v) ? v->u.string : YAJL_IS_NUMBER(v) ? v->u.number.r : "<none>";
}

/* ---- args, env, cwd ---- */

static const char *args_for(const char *const *cmd, size_t nc, const char *const *args, size_t na,
			    const char *image)
{
	static char out[1024];
	struct crid_err err;
	struct t t;
	yajl_val v;

	t_init(&t, image);
	t.spec.command = cmd;
	t.spec.n_command = nc;
	t.spec.args = args;
	t.spec.n_args = na;
	v = build(&t, NULL, &err);
	if (!v) {
		snprintf(out, sizeof(out), "error: %s", err.msg);
		return out;
	}
	snprintf(out, sizeof(out), "%s", joined(J(v, "process", "args")));
	yajl_tree_free(v);
	return out;
}

static void test_args(void)
{
	const char *img = "{\"config\":{\"Entrypoint\":[\"/ep\",\"-x\"],\"Cmd\":[\"c1\",\"c2\"]}}";
	const char *cmd[] = { "/cmd", "-v" }, *args[] = { "a1", "a2" };
	const char *r;

	CHECK(strcmp(args_for(cmd, 2, args, 2, img), "/cmd -v a1 a2") == 0,
	      "command + args replace Entrypoint and Cmd");
	CHECK(strcmp(args_for(cmd, 2, NULL, 0, img), "/cmd -v") == 0,
	      "command alone drops the image's Cmd");
	CHECK(strcmp(args_for(NULL, 0, args, 2, img), "/ep -x a1 a2") == 0,
	      "args alone: Entrypoint + args");
	CHECK(strcmp(args_for(NULL, 0, NULL, 0, img), "/ep -x c1 c2") == 0,
	      "neither: Entrypoint + Cmd");
	CHECK(strcmp(args_for(NULL, 0, NULL, 0, "{\"config\":{\"Cmd\":[\"/c\"]}}"), "/c") == 0,
	      "Cmd alone");
	r = args_for(NULL, 0, NULL, 0, "{\"config\":{}}");
	CHECK(strstr(r, "no command specified") != NULL, "nothing to run: %s", r);
	r = args_for(NULL, 0, NULL, 0, "{\"config\":");
	CHECK(strstr(r, "image config: invalid JSON") != NULL, "bad image config: %s", r);
}

static void test_env_cwd(void)
{
	const char *img = "{\"config\":{\"Env\":[\"A=img\",\"B=img\",\"HOSTNAME=x\"],"
			  "\"WorkingDir\":\"/srv\",\"StopSignal\":\"SIGQUIT\"}}";
	const struct crid_ctr_env envs[] = { { "B", "req" }, { "C", "caf\xc3\xa9" } };
	struct crid_oci_spec s;
	struct crid_err err;
	struct t t;
	yajl_val v;

	t_init(&t, img);
	t.spec.envs = envs;
	t.spec.n_envs = 2;
	v = build(&t, &s, &err);
	if (!CHECK(v, "env build: %s", v ? "" : err.msg))
		return;
	CHECK(strcmp(joined(J(v, "process", "env")),
		     "A=img B=req HOSTNAME=pod-host C=caf\xc3\xa9 PATH=" DEFAULT_PATH_T) == 0,
	      "env: image, HOSTNAME, request overrides by key, PATH added: %s",
	      joined(J(v, "process", "env")));
	CHECK(strcmp(str(J(v, "process", "cwd")), "/srv") == 0, "cwd from the image");
	CHECK(s.stop_signal == SIGQUIT, "stop signal from the image (%d)", s.stop_signal);
	crid_oci_spec_free(&s);
	yajl_tree_free(v);

	/* Not UTF-8: written byte for byte (yajl_tree cannot parse it back, so look at the bytes). */
	t.spec.envs = (const struct crid_ctr_env[]){ { "N", "\xff\xfe" } };
	t.spec.n_envs = 1;
	CHECK(crid_oci_spec_build(&t.in, &s, &err) == 0 &&
		  memmem(s.json, s.len, "\"N=\xff\xfe\"", 6),
	      "a non-UTF-8 env value is kept byte for byte");
	crid_oci_spec_free(&s);
	t.spec.n_envs = 0;
	t.spec.working_dir = "/work";
	t.spec.stop_signal = SIGINT;
	t.in.image_config = "{\"config\":{\"Env\":[\"PATH=/only\"]}}";
	v = build(&t, &s, &err);
	CHECK(v && strcmp(str(J(v, "process", "cwd")), "/work") == 0 && s.stop_signal == SIGINT,
	      "cwd and stop signal from the request");
	CHECK(v && strstr(joined(J(v, "process", "env")), "PATH=/only") &&
		  !strstr(joined(J(v, "process", "env")), DEFAULT_PATH_T),
	      "the image's PATH is kept");
	if (v) {
		crid_oci_spec_free(&s);
		yajl_tree_free(v);
	}
	t.in.image_config = "{}";
	t.spec.working_dir = "";
	t.spec.stop_signal = 0;
	v = build(&t, &s, &err);
	CHECK(v && strcmp(str(J(v, "process", "cwd")), "/") == 0 && s.stop_signal == SIGTERM,
	      "defaults: cwd / and SIGTERM");
	if (v) {
		crid_oci_spec_free(&s);
		yajl_tree_free(v);
	}
	t.spec.working_dir = "rel";
	CHECK(!build(&t, NULL, &err) && strstr(err.msg, "working_dir"), "relative working_dir: %s",
	      err.msg);
}

/* ---- user ---- */

/* "uid gid [gids]" or "error: msg". */
static const char *user_for(struct t *t)
{
	static char out[1024];
	struct crid_oci_spec s;
	struct crid_err err;
	yajl_val v = build(t, &s, &err);
	size_t n;

	if (!v) {
		snprintf(out, sizeof(out), "error(%d): %s", err.code, err.msg);
		return out;
	}
	n = (size_t)snprintf(out, sizeof(out), "%s %s [%s]", str(J(v, "process", "user", "uid")),
			     str(J(v, "process", "user", "gid")),
			     joined(J(v, "process", "user", "additionalGids")));
	/* The reported user must be what the spec says. */
	if (s.user.uid != strtoul(str(J(v, "process", "user", "uid")), NULL, 10))
		snprintf(out + n, sizeof(out) - n, " MISMATCH");
	crid_oci_spec_free(&s);
	yajl_tree_free(v);
	return out;
}

/* No user named: root as the image's /etc/passwd has it, its groups merged unless Strict. */
static void test_default_root_groups(void)
{
	static const char group[] = "root:x:0:\napp:x:1001:\naudio:x:29:app,web\nvideo:x:44:web\n"
				    "staff:x:50:app\n";
	char p[PATH_MAX];
	const char *r;
	struct t t;

	snprintf(p, sizeof(p), "%s/etc/group", rootfs);
	put(p, "root:x:0:\nwheel:x:10:daemon,root\nadm:x:4:root\n");
	t_init(&t, "{}");
	r = user_for(&t);
	CHECK(strcmp(r, "0 0 [0 10 4]") == 0, "no user, Merge: root's image groups: %s", r);
	t.spec.security.groups_policy = CRID_GROUPS_STRICT;
	r = user_for(&t);
	CHECK(strcmp(r, "0 0 [0]") == 0, "no user, Strict: none of them: %s", r);
	put(p, group);
}

static void test_user(void)
{
	const int64_t supp[] = { 5000, 29 };
	struct t t;
	const char *r;

	t_init(&t, "{\"config\":{\"User\":\"app\"}}");
	r = user_for(&t);
	CHECK(strcmp(r, "1000 1001 [1001 29 50]") == 0, "image User name, Merge groups: %s", r);
	t.spec.security.supplemental_groups = supp;
	t.spec.security.n_supplemental_groups = 2;
	r = user_for(&t);
	CHECK(strcmp(r, "1000 1001 [1001 29 50 5000]") == 0, "plus supplemental groups: %s", r);
	t.spec.security.groups_policy = CRID_GROUPS_STRICT;
	r = user_for(&t);
	CHECK(strcmp(r, "1000 1001 [1001 5000 29]") == 0, "Strict: only supplemental: %s", r);

	t_init(&t, "{\"config\":{\"User\":\"33:video\"}}");
	r = user_for(&t);
	CHECK(strcmp(r, "33 44 [44 29 44]") != 0 && strcmp(r, "33 44 [44 29]") == 0,
	      "uid:group name: %s", r);
	t_init(&t, "{\"config\":{\"User\":\"4242:77\"}}");
	r = user_for(&t);
	CHECK(strcmp(r, "4242 77 [77]") == 0, "uid:gid not in passwd: %s", r);
	t_init(&t, "{\"config\":{\"User\":\"4242\"}}");
	r = user_for(&t);
	CHECK(strcmp(r, "4242 0 [0]") == 0, "unknown numeric uid gets gid 0: %s", r);
	t_init(&t, "{\"config\":{\"User\":\"nobody\"}}");
	r = user_for(&t);
	CHECK(strstr(r, "error(16)") && strstr(r, "no user `nobody`"), "unknown user: %s", r);
	t_init(&t, "{\"config\":{\"User\":\"app:nogroup\"}}");
	r = user_for(&t);
	CHECK(strstr(r, "error(16)") && strstr(r, "no group `nogroup`"), "unknown group: %s", r);

	t_init(&t, "{\"config\":{\"User\":\"app\"}}");
	t.spec.security.run_as_username = "web";
	r = user_for(&t);
	CHECK(strcmp(r, "33 33 [33 29 44]") == 0, "run_as_username wins over the image: %s", r);
	t.spec.security.has_run_as_user = true;
	t.spec.security.run_as_user = 1000;
	t.spec.security.has_run_as_group = true;
	t.spec.security.run_as_group = 7;
	r = user_for(&t);
	CHECK(strcmp(r, "1000 7 [7 29 50]") == 0, "run_as_user + run_as_group: %s", r);
	t.spec.security.run_as_user = -1;
	r = user_for(&t);
	CHECK(strstr(r, "run_as_user") != NULL, "negative uid refused: %s", r);
	t_init(&t, "{}");
	t.spec.security.run_as_username = "ghost";
	r = user_for(&t);
	CHECK(strstr(r, "error(22)") && strstr(r, "run_as_username"), "unknown run_as_username: %s",
	      r);
	t_init(&t, "{}");
	r = user_for(&t);
	CHECK(strcmp(r, "0 0 [0]") == 0, "no user at all: root: %s", r);
	test_default_root_groups();
}

/* ---- capabilities ---- */

static const char *caps_for(struct t *t)
{
	static char out[2048];
	struct crid_err err;
	yajl_val v = build(t, NULL, &err);

	if (!v) {
		snprintf(out, sizeof(out), "error(%d): %s", err.code, err.msg);
		return out;
	}
	snprintf(out, sizeof(out), "%s", joined(J(v, "process", "capabilities", "effective")));
	if (strcmp(out, joined(J(v, "process", "capabilities", "bounding"))) ||
	    strcmp(out, joined(J(v, "process", "capabilities", "permitted"))) ||
	    J(v, "process", "capabilities", "inheritable") ||
	    J(v, "process", "capabilities", "ambient"))
		snprintf(out, sizeof(out), "sets differ");
	yajl_tree_free(v);
	return out;
}

static void test_caps(void)
{
	const char *add[] = { "net_admin", "CAP_SYS_TIME" }, *drop[] = { "KILL", "cap_chown" };
	const char *all[] = { "ALL" }, *bad[] = { "NET_RAW", "CAP_FOO" };
	const char *nohost[] = { "SYS_RESOURCE" };
	int ncaps = 0;
	struct t t;
	const char *r;

	t_init(&t, "{}");
	r = caps_for(&t);
	CHECK(strcmp(r, "CAP_CHOWN CAP_DAC_OVERRIDE CAP_FOWNER CAP_FSETID CAP_KILL CAP_SETGID "
			"CAP_SETUID CAP_SETPCAP CAP_NET_BIND_SERVICE") == 0,
	      "default set from the config: %s", r);
	t.spec.security.cap_add = add;
	t.spec.security.n_cap_add = 2;
	t.spec.security.cap_drop = drop;
	t.spec.security.n_cap_drop = 2;
	r = caps_for(&t);
	CHECK(strcmp(r, "CAP_DAC_OVERRIDE CAP_FOWNER CAP_FSETID CAP_SETGID CAP_SETUID CAP_SETPCAP "
			"CAP_NET_BIND_SERVICE CAP_NET_ADMIN CAP_SYS_TIME") == 0,
	      "add/drop with and without CAP_, any case: %s", r);
	t.spec.security.cap_drop = all;
	t.spec.security.n_cap_drop = 1;
	r = caps_for(&t);
	CHECK(strcmp(r, "CAP_NET_ADMIN CAP_SYS_TIME") == 0, "drop ALL then add: %s", r);
	t.spec.security.cap_add = all;
	t.spec.security.n_cap_add = 1;
	t.spec.security.cap_drop = drop;
	t.spec.security.n_cap_drop = 2;
	r = caps_for(&t);
	CHECK(!strstr(r, "CAP_KILL") && !strstr(r, "CAP_CHOWN") && strstr(r, "CAP_SYS_ADMIN"),
	      "add ALL minus drops: %s", r);
	t.spec.security.cap_add = bad;
	t.spec.security.n_cap_add = 2;
	r = caps_for(&t);
	CHECK(strstr(r, "error(22)") && strstr(r, "add_capabilities[1]: unknown capability "
						  "`CAP_FOO`"),
	      "unknown capability: %s", r);
	if (!(host.cap_eff >> 24 & 1)) {
		t.spec.security.cap_add = nohost;
		t.spec.security.n_cap_add = 1;
		r = caps_for(&t);
		CHECK(strstr(r, "does not hold `SYS_RESOURCE`") != NULL,
		      "a capability crid lacks is refused: %s", r);
	}
	t_init(&t, "{}");
	t.spec.security.privileged = true;
	r = caps_for(&t);
	for (const char *p = r; (p = strstr(p, "CAP_")); p++)
		ncaps++;
	CHECK(ncaps == __builtin_popcountll(host.cap_eff & ((1ULL << 41) - 1)),
	      "privileged: exactly the host's %d capabilities (got %d)",
	      __builtin_popcountll(host.cap_eff & ((1ULL << 41) - 1)), ncaps);
	CHECK((host.cap_eff >> 24 & 1) || !strstr(r, "CAP_SYS_RESOURCE"),
	      "privileged lacks what the host lacks");
}

/* ---- paths, mounts ---- */

static void test_masked(void)
{
	const char *mine[] = { "/proc/mine" };
	struct crid_err err;
	struct t t;
	yajl_val v;

	t_init(&t, "{}");
	v = build(&t, NULL, &err);
	CHECK(v && strcmp(joined(J(v, "linux", "maskedPaths")),
			  "/proc/acpi /proc/kcore /proc/keys /proc/latency_stats /proc/timer_list "
			  "/proc/timer_stats /proc/sched_debug /proc/scsi /sys/firmware "
			  "/sys/devices/virtual/powercap") == 0,
	      "masked defaults");
	CHECK(v && strcmp(joined(J(v, "linux", "readonlyPaths")),
			  "/proc/asound /proc/bus /proc/fs /proc/irq /proc/sys "
			  "/proc/sysrq-trigger") == 0,
	      "readonly defaults");
	yajl_tree_free(v);
	t.spec.security.masked_paths = mine;
	t.spec.security.n_masked_paths = 1;
	t.spec.security.masked_paths_set = true;
	t.spec.security.readonly_paths_set = true;
	v = build(&t, NULL, &err);
	CHECK(v && strcmp(joined(J(v, "linux", "maskedPaths")), "/proc/mine") == 0 &&
		  strcmp(joined(J(v, "linux", "readonlyPaths")), "") == 0,
	      "request lists override (empty = none)");
	yajl_tree_free(v);
	t_init(&t, "{}");
	t.spec.security.privileged = true;
	v = build(&t, NULL, &err);
	CHECK(v && strcmp(joined(J(v, "linux", "maskedPaths")), "") == 0 &&
		  strcmp(joined(J(v, "linux", "readonlyPaths")), "") == 0,
	      "privileged: none");
	yajl_tree_free(v);
}

static yajl_val find_mount(yajl_val v, const char *dest, size_t *index)
{
	yajl_val m = J(v, "mounts");

	for (size_t i = 0; YAJL_IS_ARRAY(m) && i < m->u.array.len; i++)
		if (strcmp(str(J(m->u.array.values[i], "destination")), dest) == 0) {
			if (index)
				*index = i;
			return m->u.array.values[i];
		}
	return NULL;
}

/* Undoes every mount stacked on |path|. */
static void unmount_all(const char *path)
{
	while (umount2(path, MNT_DETACH) == 0)
		;
}

/*
 * Sources whose propagation is known whatever the host's "/" is: vol shared,
 * vol2 a slave (a bind of itself made shared, then a second bind on top made
 * its slave), vol3 private. False when mount(2) is not allowed.
 */
static bool propagating_sources(void)
{
	if (mount(vol, vol, NULL, MS_BIND, NULL) < 0 ||
	    mount(NULL, vol, NULL, MS_SHARED, NULL) < 0 ||
	    mount(vol2, vol2, NULL, MS_BIND, NULL) < 0 ||
	    mount(NULL, vol2, NULL, MS_SHARED, NULL) < 0 ||
	    mount(vol2, vol2, NULL, MS_BIND, NULL) < 0 ||
	    mount(NULL, vol2, NULL, MS_SLAVE, NULL) < 0 ||
	    mount(vol3, vol3, NULL, MS_BIND, NULL) < 0 ||
	    mount(NULL, vol3, NULL, MS_PRIVATE, NULL) < 0) {
		unmount_all(vol);
		unmount_all(vol2);
		unmount_all(vol3);
		return false;
	}
	return true;
}

/* Over a private source neither mode can propagate: EBUSY naming the mount. */
static void test_private_source(struct t *t, struct crid_ctr_mount *m)
{
	struct crid_mount_prop mp;
	struct crid_err err;

	CHECK(crid_mount_prop_of(vol, &mp, &err) == 0 && mp.shared && !mp.slave &&
		  strcmp(mp.mount_point, vol) == 0,
	      "vol is shared: %s", mp.mount_point);
	CHECK(crid_mount_prop_of(vol2, &mp, &err) == 0 && mp.slave && !mp.shared, "vol2 a slave");
	t->spec.security.privileged = true;
	m[2].host_path = vol2;
	CHECK(!build(t, NULL, &err) && err.code == EBUSY &&
		  strstr(err.msg, "mounts[2].propagation: Bidirectional needs host_path") &&
		  strstr(err.msg, "on a shared mount; its mount") && strstr(err.msg, "is a slave"),
	      "Bidirectional over a slave refused: %s", err.msg);
	m[2].host_path = vol3;
	CHECK(!build(t, NULL, &err) && err.code == EBUSY && strstr(err.msg, "is private"),
	      "Bidirectional over a private mount refused: %s", err.msg);
	m[2].host_path = vol;
	m[1].host_path = vol3;
	CHECK(!build(t, NULL, &err) && err.code == EBUSY &&
		  strstr(err.msg, "mounts[1].propagation: HostToContainer needs host_path") &&
		  strstr(err.msg, "on a shared or slave mount"),
	      "HostToContainer over a private mount refused: %s", err.msg);
	m[1].host_path = vol2;
}

static void test_mounts(void)
{
	struct crid_ctr_mount m[3] = {
		{ .container_path = "/data/deep/er",
		  .host_path = vol,
		  .readonly = true,
		  .recursive_readonly = true },
		{ .container_path = "/data",
		  .host_path = vol2,
		  .propagation = CRID_PROPAGATION_HOST_TO_CONTAINER },
		{ .container_path = "/dev/shm",
		  .host_path = vol,
		  .propagation = CRID_PROPAGATION_BIDIRECTIONAL },
	};
	size_t i_deep = 0, i_data = 0;
	struct crid_err err;
	struct t t;
	yajl_val v, x;

	if (!propagating_sources()) {
		tap_skip("mounts", "cannot bind-mount the test's sources (not root?)");
		return;
	}
	t_init(&t, "{}");
	t.spec.mounts = m;
	t.spec.n_mounts = 3;
	t.spec.security.privileged = true;
	v = build(&t, NULL, &err);
	if (!CHECK(v, "mounts build: %s", v ? "" : err.msg))
		return;
	x = find_mount(v, "/data/deep/er", &i_deep);
	CHECK(x && strcmp(joined(J(x, "options")), "rbind ro rprivate rro") == 0 &&
		  strcmp(str(J(x, "source")), vol) == 0,
	      "ro + rro + rprivate: %s", x ? joined(J(x, "options")) : "missing");
	x = find_mount(v, "/data", &i_data);
	CHECK(x && strcmp(joined(J(x, "options")), "rbind rw rslave") == 0, "rslave");
	CHECK(i_data < i_deep, "sorted by depth: /data (%zu) before /data/deep/er (%zu)", i_data,
	      i_deep);
	x = find_mount(v, "/dev/shm", NULL);
	CHECK(x && strcmp(joined(J(x, "options")), "rbind rw rshared") == 0 &&
		  strcmp(str(J(x, "source")), vol) == 0,
	      "a request mount replaces the default /dev/shm");
	CHECK(strcmp(str(J(v, "linux", "rootfsPropagation")), "rshared") == 0,
	      "a Bidirectional mount makes the root rshared");
	x = find_mount(v, "/etc/hosts", NULL);
	CHECK(x && strcmp(str(J(x, "source")), "/etc/hosts") == 0 && find_mount(v, "/proc", NULL) &&
		  find_mount(v, "/dev/pts", NULL) && find_mount(v, "/dev/mqueue", NULL) &&
		  find_mount(v, "/sys/fs/cgroup", NULL) &&
		  find_mount(v, "/etc/resolv.conf", NULL) && find_mount(v, "/etc/hostname", NULL),
	      "default and pod file mounts present");
	yajl_tree_free(v);

	t.spec.n_mounts = 2;
	v = build(&t, NULL, &err);
	CHECK(v && strcmp(str(J(v, "linux", "rootfsPropagation")), "rslave") == 0,
	      "HostToContainer alone: rslave");
	yajl_tree_free(v);
	t.spec.n_mounts = 1;
	v = build(&t, NULL, &err);
	CHECK(v && !J(v, "linux", "rootfsPropagation"), "private mounts: the runtime's default");
	yajl_tree_free(v);
	t.spec.n_mounts = 3;
	t.spec.security.privileged = false;
	CHECK(!build(&t, NULL, &err) && err.code == EINVAL &&
		  strstr(err.msg, "mounts[2].propagation: Bidirectional needs a privileged"),
	      "unprivileged Bidirectional refused: %s", err.msg);
	test_private_source(&t, m);
	t.spec.security.privileged = false;
	t.spec.n_mounts = 1;
	v = build(&t, NULL, &err);
	x = v ? find_mount(v, "/sys", NULL) : NULL;
	CHECK(x && strstr(joined(J(x, "options")), "ro"), "/sys read-only");
	yajl_tree_free(v);

	t.spec.n_mounts = 2;
	m[1].host_path = "/nonexistent/crid-test";
	CHECK(!build(&t, NULL, &err) && err.code == ENOENT &&
		  strstr(err.msg, "mounts[1].host_path `/nonexistent/crid-test`"),
	      "missing host path: %s", err.msg);
	m[1].host_path = vol2;
	m[1].image_volume = true;
	CHECK(!build(&t, NULL, &err) && strstr(err.msg, "image volume mounts are not supported"),
	      "image volume refused: %s", err.msg);
	m[1].image_volume = false;
	m[0].readonly = false;
	CHECK(!build(&t, NULL, &err) && strstr(err.msg, "recursive_read_only"),
	      "rro without ro refused: %s", err.msg);
	m[0].readonly = true;
	t.pod.shm_dir = "/run/crid/shm-p1";
	t.spec.n_mounts = 0;
	t.spec.security.privileged = true;
	v = build(&t, NULL, &err);
	x = v ? find_mount(v, "/dev/shm", NULL) : NULL;
	CHECK(x && strcmp(str(J(x, "source")), "/run/crid/shm-p1") == 0 &&
		  strcmp(str(J(x, "type")), "bind") == 0,
	      "/dev/shm is the pod's");
	x = v ? find_mount(v, "/sys", NULL) : NULL;
	CHECK(x && strstr(joined(J(x, "options")), "rw"), "privileged: /sys rw");
	CHECK(v && YAJL_IS_ARRAY(J(v, "linux", "devices")) &&
		  J(v, "linux", "devices")->u.array.len > 0,
	      "privileged: host devices");
	yajl_tree_free(v);
	unmount_all(vol);
	unmount_all(vol2);
	unmount_all(vol3);
}

/* ---- mountinfo ---- */

static void test_mountinfo(void)
{
	char path[128];
	struct crid_mount_prop mp;
	struct crid_err err;

	snprintf(path, sizeof(path), "%s/mountinfo", tmp);
	put(path, "26 1 254:0 / / rw,relatime - ext4 /dev/vda rw\n"
		  "30 26 0:5 / /a\\040b rw shared:7 - tmpfs none rw\n"
		  "31 26 0:5 / /s rw shared:8 master:3 - tmpfs none rw\n"
		  "32 26 0:5 / /m rw master:3 - tmpfs none rw\n"
		  "33 26 0:5 / /bad rw shared:9\n");
	CHECK(crid_mount_prop_find(path, 26, &mp, &err) == 0 && !mp.shared && !mp.slave &&
		  strcmp(mp.mount_point, "/") == 0,
	      "private /");
	CHECK(crid_mount_prop_find(path, 30, &mp, &err) == 0 && mp.shared && !mp.slave &&
		  strcmp(mp.mount_point, "/a\\040b") == 0,
	      "shared: %s", mp.mount_point);
	CHECK(crid_mount_prop_find(path, 31, &mp, &err) == 0 && mp.shared && mp.slave,
	      "shared and slave");
	CHECK(crid_mount_prop_find(path, 32, &mp, &err) == 0 && !mp.shared && mp.slave, "slave");
	CHECK(crid_mount_prop_find(path, 33, &mp, &err) < 0 && err.code == EBADMSG,
	      "no separator: %s", err.msg);
	CHECK(crid_mount_prop_find(path, 3, &mp, &err) < 0 && err.code == ENOENT,
	      "id 3 is no mount (26's prefix 2 neither): %s", err.msg);
	CHECK(crid_mount_prop_find(path, 2, &mp, &err) < 0 && err.code == ENOENT, "no mount 2");
	CHECK(crid_mount_prop_of("/nonexistent/crid-test", &mp, &err) < 0 && err.code == ENOENT,
	      "missing path: %s", err.msg);
}

/* ---- seccomp, namespaces, resources ---- */

/* True when rule list |sc| allows |name| unconditionally. */
static bool allows(yajl_val sc, const char *name)
{
	yajl_val rules = J(sc, "syscalls");

	for (size_t i = 0; YAJL_IS_ARRAY(rules) && i < rules->u.array.len; i++) {
		yajl_val r = rules->u.array.values[i], names = J(r, "names");

		if (strcmp(str(J(r, "action")), "SCMP_ACT_ALLOW") || J(r, "args"))
			continue;
		for (size_t j = 0; YAJL_IS_ARRAY(names) && j < names->u.array.len; j++)
			if (strcmp(str(names->u.array.values[j]), name) == 0)
				return true;
	}
	return false;
}

static void test_seccomp(void)
{
	char good[256], bad[256], noaction[256];
	const char *admin[] = { "SYS_ADMIN" };
	struct crid_err err;
	struct t t;
	yajl_val v, sc;

	snprintf(good, sizeof(good), "%s/good.json", tmp);
	snprintf(bad, sizeof(bad), "%s/bad.json", tmp);
	snprintf(noaction, sizeof(noaction), "%s/noaction.json", tmp);
	t_init(&t, "{}");
	v = build(&t, NULL, &err);
	CHECK(v && !J(v, "linux", "seccomp"), "unset: Unconfined (CRI semantics)");
	yajl_tree_free(v);
	t.spec.security.seccomp = CRID_SECCOMP_RUNTIME_DEFAULT;
	v = build(&t, NULL, &err);
	sc = v ? J(v, "linux", "seccomp") : NULL;
	CHECK(sc && strcmp(str(J(sc, "defaultAction")), "SCMP_ACT_ERRNO") == 0 &&
		  allows(sc, "read") && allows(sc, "execve") && !allows(sc, "mount") &&
		  !allows(sc, "unshare") && !allows(sc, "kexec_load") && !allows(sc, "reboot"),
	      "RuntimeDefault: deny by default, allow read/execve, not mount/unshare/kexec/reboot");
#if defined(__x86_64__)
	CHECK(sc &&
		  strcmp(joined(J(sc, "architectures")),
			 "SCMP_ARCH_X86_64 SCMP_ARCH_X86 SCMP_ARCH_X32") == 0 &&
		  allows(sc, "chown32") && !allows(sc, "no_such_call"),
	      "architectures and names known on any of them: %s",
	      sc ? joined(J(sc, "architectures")) : "");
#endif
	yajl_tree_free(v);
	t.spec.security.cap_add = admin;
	t.spec.security.n_cap_add = 1;
	v = build(&t, NULL, &err);
	CHECK(v && allows(J(v, "linux", "seccomp"), "mount") &&
		  allows(J(v, "linux", "seccomp"), "unshare"),
	      "RuntimeDefault with SYS_ADMIN allows mount and unshare");
	yajl_tree_free(v);
	t.spec.security.n_cap_add = 0;
	t.spec.security.privileged = true;
	v = build(&t, NULL, &err);
	CHECK(v && !J(v, "linux", "seccomp"), "privileged: no filter");
	yajl_tree_free(v);
	t.spec.security.privileged = false;
	t.spec.security.seccomp = CRID_SECCOMP_UNCONFINED;
	v = build(&t, NULL, &err);
	CHECK(v && !J(v, "linux", "seccomp"), "Unconfined: none");
	yajl_tree_free(v);
	t.spec.security.seccomp = CRID_SECCOMP_LOCALHOST;
	t.spec.security.seccomp_localhost = good;
	v = build(&t, NULL, &err);
	sc = v ? J(v, "linux", "seccomp") : NULL;
	CHECK(sc && strcmp(str(J(sc, "defaultAction")), "SCMP_ACT_ALLOW") == 0 &&
		  !strstr(joined(J(sc, "syscalls", "0", "names")), "no_such_call"),
	      "Localhost profile embedded, unknown names dropped");
#if defined(__x86_64__)
	CHECK(sc && strcmp(joined(J(sc, "architectures")), "SCMP_ARCH_X86_64 SCMP_ARCH_X86") == 0,
	      "archMap turned into architectures");
#endif
	CHECK(sc && YAJL_IS_ARRAY(J(sc, "syscalls")) && J(sc, "syscalls")->u.array.len == 1,
	      "Docker includes.caps evaluated (no SYS_ADMIN: mount rule left out)");
	yajl_tree_free(v);
	t.spec.security.seccomp_localhost = "/nonexistent/profile.json";
	CHECK(!build(&t, NULL, &err) && err.code == ENOENT &&
		  strstr(err.msg, "/nonexistent/profile.json"),
	      "missing profile: %s", err.msg);
	t.spec.security.seccomp_localhost = bad;
	CHECK(!build(&t, NULL, &err) && err.code == EINVAL && strstr(err.msg, "invalid JSON"),
	      "invalid JSON: %s", err.msg);
	t.spec.security.seccomp_localhost = noaction;
	CHECK(!build(&t, NULL, &err) && strstr(err.msg, "defaultAction"), "no defaultAction: %s",
	      err.msg);
	t.spec.security.seccomp_localhost = "relative.json";
	CHECK(!build(&t, NULL, &err) && strstr(err.msg, "absolute"), "relative path: %s", err.msg);
}

static void test_namespaces(void)
{
	const char *sysctls[] = { "net.ipv4.ip_forward=1", "kernel.shm_rmid_forced=1" };
	struct crid_err err;
	struct t t;
	yajl_val v;
	char want[512];

	t_init(&t, "{}");
	t.pod.sysctls = sysctls;
	t.pod.n_sysctls = 2;
	v = build(&t, NULL, &err);
	CHECK(v && strcmp(str(J(v, "linux", "namespaces", "0", "path")), "") != 0, "ns build");
	snprintf(want, sizeof(want), "network ipc uts pid mount");
	if (v) {
		yajl_val ns = J(v, "linux", "namespaces");
		char got[512] = "";

		for (size_t i = 0; i < ns->u.array.len; i++) {
			strcat(got, i ? " " : "");
			strcat(got, str(J(ns->u.array.values[i], "type")));
		}
		CHECK(strcmp(got, want) == 0, "namespaces: %s", got);
		CHECK(strcmp(str(J(ns->u.array.values[0], "path")), "/run/crid/ns/net-p1") == 0 &&
			  !J(ns->u.array.values[3], "path"),
		      "network by path; pod pid ns \"\" = new");
		CHECK(strcmp(str(J(v, "hostname")), "pod-host") == 0, "hostname");
		CHECK(strcmp(str(J(v, "linux", "sysctl", "kernel.shm_rmid_forced")), "1") == 0,
		      "sysctls");
		CHECK(strcmp(str(J(v, "linux", "cgroupsPath")), "/kubepods/pod-p1/crid-c1") == 0,
		      "cgroupsPath");
	}
	yajl_tree_free(v);
	t.pod.host_network = true;
	t.pod.netns = "";
	t.pod.utsns = "";
	t.spec.security.pid_mode = CRID_NS_TARGET;
	t.spec.security.pid_target_pid_ns = "/proc/42/ns/pid";
	v = build(&t, NULL, &err);
	if (v) {
		yajl_val ns = J(v, "linux", "namespaces");

		CHECK(ns->u.array.len == 3 &&
			  strcmp(str(J(ns->u.array.values[1], "path")), "/proc/42/ns/pid") == 0,
		      "host network: no network/uts; TARGET pid by path");
		CHECK(!J(v, "hostname"), "no hostname in the host's UTS namespace");
	}
	yajl_tree_free(v);
	t.spec.security.pid_mode = CRID_NS_NODE;
	v = build(&t, NULL, &err);
	CHECK(v && J(v, "linux", "namespaces")->u.array.len == 2, "NODE pid: no pid namespace");
	yajl_tree_free(v);
	t.spec.security.pid_mode = CRID_NS_TARGET;
	t.spec.security.pid_target_pid_ns = "";
	CHECK(!build(&t, NULL, &err) && strstr(err.msg, "target"), "TARGET without a path: %s",
	      err.msg);
}

static void test_resources(void)
{
	const struct crid_hugepage_limit hp[] = { { "2MB", 1 << 21 } };
	const struct crid_ctr_env unified[] = { { "memory.min", "1" } };
	char cdev[] = "/dev/null";
	const struct crid_ctr_device devs[] = { { "/dev/mynull", cdev, "rw" } };
	struct crid_err err;
	struct t t;
	yajl_val v;
	int own = 0;
	FILE *f = fopen("/proc/self/oom_score_adj", "r");

	if (f) {
		if (fscanf(f, "%d", &own) != 1)
			own = 0;
		fclose(f);
	}
	t_init(&t, "{}");
	t.spec.resources = (struct crid_ctr_resources){ .cpu_shares = 512,
							.cpu_quota = 50000,
							.cpu_period = 100000,
							.memory_limit = 64 << 20,
							.cpuset_cpus = "0",
							.oom_score_adj = -999,
							.hugepages = hp,
							.n_hugepages = 1 };
	t.spec.devices = devs;
	t.spec.n_devices = 1;
	v = build(&t, NULL, &err);
	if (!CHECK(v, "resources build: %s", v ? "" : err.msg))
		return;
	CHECK(strcmp(str(J(v, "linux", "resources", "cpu", "shares")), "512") == 0 &&
		  strcmp(str(J(v, "linux", "resources", "cpu", "quota")), "50000") == 0 &&
		  strcmp(str(J(v, "linux", "resources", "cpu", "period")), "100000") == 0 &&
		  strcmp(str(J(v, "linux", "resources", "cpu", "cpus")), "0") == 0,
	      "cpu");
	CHECK(strcmp(str(J(v, "linux", "resources", "memory", "limit")), "67108864") == 0,
	      "memory limit");
	CHECK(strcmp(str(J(v, "linux", "resources", "hugepageLimits", "0", "pageSize")), "2MB") ==
		  0,
	      "hugepages");
	CHECK(atoi(str(J(v, "process", "oomScoreAdj"))) == (own > -999 ? own : -999),
	      "oom_score_adj -999 clamped to crid's own %d without CAP_SYS_RESOURCE: %s", own,
	      str(J(v, "process", "oomScoreAdj")));
	CHECK(strcmp(str(J(v, "linux", "devices", "0", "path")), "/dev/mynull") == 0 &&
		  strcmp(str(J(v, "linux", "devices", "0", "type")), "c") == 0 &&
		  strcmp(str(J(v, "linux", "devices", "0", "major")), "1") == 0 &&
		  strcmp(str(J(v, "linux", "resources", "devices", "1", "access")), "rw") == 0 &&
		  YAJL_IS_FALSE(J(v, "linux", "resources", "devices", "0", "allow")),
	      "device and its cgroup rule after deny-all");
	CHECK(strcmp(str(J(v, "process", "rlimits", "0", "type")), "RLIMIT_NOFILE") == 0,
	      "RLIMIT_NOFILE set (%s)", str(J(v, "process", "rlimits", "0", "hard")));
	yajl_tree_free(v);
	t.spec.resources.unified = unified;
	t.spec.resources.n_unified = 1;
	CHECK(!build(&t, NULL, &err) && strstr(err.msg, "resources.unified"),
	      "unified on a non-v2 host refused: %s", err.msg);
	t.spec.resources.n_unified = 0;
	t.spec.resources.oom_score_adj = 5000;
	CHECK(!build(&t, NULL, &err) && strstr(err.msg, "oom_score_adj"), "oom range: %s", err.msg);
	t.spec.resources.oom_score_adj = 0;
	cdev[1] = 'x';
	CHECK(!build(&t, NULL, &err) && strstr(err.msg, "devices[0].host_path"),
	      "missing device: %s", err.msg);
}

static void test_misc(void)
{
	const struct crid_ctr_env ann[] = { { "io.kubernetes.x", "y" } };
	const char *argv[] = { "/bin/echo", "hi" };
	struct crid_oci_spec s;
	struct crid_err err;
	struct t t;
	yajl_val v, p;
	size_t len;
	char *out;
	int r;

	t_init(&t, "{\"config\":{\"User\":\"app\",\"Env\":[\"E=1\"]}}");
	t.spec.annotations = ann;
	t.spec.n_annotations = 1;
	t.spec.security.readonly_rootfs = true;
	t.spec.security.no_new_privs = true;
	t.spec.tty = true;
	v = build(&t, &s, &err);
	if (!CHECK(v, "misc build: %s", v ? "" : err.msg))
		return;
	CHECK(strcmp(str(J(v, "annotations", "io.kubernetes.x")), "y") == 0, "annotations");
	CHECK(YAJL_IS_TRUE(J(v, "root", "readonly")) &&
		  strcmp(str(J(v, "root", "path")), rootfs) == 0,
	      "readonly root");
	CHECK(YAJL_IS_TRUE(J(v, "process", "noNewPrivileges")) &&
		  YAJL_IS_TRUE(J(v, "process", "terminal")),
	      "no_new_privs and terminal");
	CHECK(crid_oci_spec_exec_process(s.json, argv, 2, false, &out, &len, &err) == 0,
	      "exec process: %s", err.msg);
	p = yajl_tree_parse(out, NULL, 0);
	CHECK(p && strcmp(joined(J(p, "args")), "/bin/echo hi") == 0 &&
		  YAJL_IS_FALSE(J(p, "terminal")) &&
		  strcmp(str(J(p, "user", "uid")), "1000") == 0 &&
		  strstr(joined(J(p, "env")), "E=1") && strcmp(str(J(p, "cwd")), "/") == 0 &&
		  J(p, "capabilities", "bounding") && YAJL_IS_TRUE(J(p, "noNewPrivileges")),
	      "exec process keeps env, user, cwd, caps; replaces args and terminal");
	yajl_tree_free(p);
	crid_free(out);
	CHECK(crid_oci_spec_exec_process(s.json, argv, 2, true, &out, &len, &err) == 0,
	      "tty exec process: %s", err.msg);
	p = yajl_tree_parse(out, NULL, 0);
	{
		const char *env = p ? joined(J(p, "env")) : "";
		const char *term = strstr(env, "TERM=");

		CHECK(p && YAJL_IS_TRUE(J(p, "terminal")) && strstr(env, "E=1") && term &&
			  !strstr(term + 5, "TERM="),
		      "tty exec: terminal, the env kept, one TERM (%s)", env);
	}
	CHECK(p && YAJL_GET_INTEGER(J(p, "consoleSize", "width")) == 80 &&
		  YAJL_GET_INTEGER(J(p, "consoleSize", "height")) == 24,
	      "tty exec without a size: 80x24 before the process runs (%s)", out);
	yajl_tree_free(p);
	crid_free(out);
	CHECK(crid_oci_spec_exec_process_sized(s.json, argv, 2, true, 101, 33, &out, &len, &err) ==
		  0,
	      "sized tty exec process: %s", err.msg);
	p = yajl_tree_parse(out, NULL, 0);
	CHECK(p && YAJL_GET_INTEGER(J(p, "consoleSize", "width")) == 101 &&
		  YAJL_GET_INTEGER(J(p, "consoleSize", "height")) == 33,
	      "sized tty exec: consoleSize 101x33 (%s)", out);
	yajl_tree_free(p);
	crid_free(out);
	out = NULL; /* the message's argument may be read before the call */
	r = crid_oci_spec_exec_process("{\"process\":{\"env\":[\"A=1\"]}}", argv, 2, true, &out,
				       &len, &err);
	CHECK(r == 0 && strstr(out, "\"env\":[\"A=1\",\"TERM=xterm\"]"),
	      "tty exec without TERM gets TERM=xterm: %s", r == 0 ? out : err.msg);
	crid_free(out);
	out = NULL;
	r = crid_oci_spec_exec_process("{\"process\":{\"env\":[\"A=1\"]}}", argv, 2, false, &out,
				       &len, &err);
	CHECK(r == 0 && strstr(out, "\"env\":[\"A=1\"]"), "exec without tty: env untouched: %s",
	      r == 0 ? out : err.msg);
	crid_free(out);
	CHECK(crid_oci_spec_exec_process(s.json, argv, 0, false, &out, &len, &err) < 0,
	      "exec with no argv refused");
	CHECK(crid_oci_spec_exec_process("{}", argv, 1, false, &out, &len, &err) < 0,
	      "exec from a config without process refused");
	crid_oci_spec_free(&s);
	yajl_tree_free(v);
	t.spec.security.apparmor_profile = "localhost/foo";
	if (access("/sys/module/apparmor/parameters/enabled", F_OK) != 0)
		CHECK(!build(&t, NULL, &err) && strstr(err.msg, "AppArmor is not enabled"),
		      "apparmor refused on a host without it: %s", err.msg);
	else
		tap_skip("apparmor refusal", "this host has AppArmor");
}

/* ---- runc run, as root ---- */

static int run(const char *cmd)
{
	int st = system(cmd);

	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void test_runc(void)
{
	const char *cmd[] = { "/bin/sh", "-c", "id -u; id -G; grep CapBnd /proc/self/status" };
	const char *add[] = { "NET_ADMIN" };
	char bundle[128], path[512], shell[4096], out[1024] = "";
	struct crid_oci_spec s;
	struct crid_err err;
	struct t t;
	FILE *f;
	int rc;

	if (geteuid() != 0 || access("/usr/bin/runc", X_OK) != 0 ||
	    access("/bin/busybox", X_OK) != 0) {
		tap_skip("runc run", "needs root, /usr/bin/runc and /bin/busybox (busybox-static)");
		return;
	}
	snprintf(bundle, sizeof(bundle), "%s/bundle", tmp);
	snprintf(
	    shell, sizeof(shell),
	    "mkdir -p %s/rootfs/bin %s/rootfs/etc %s/rootfs/proc %s/rootfs/dev %s/rootfs/sys && "
	    "cp /bin/busybox %s/rootfs/bin/ && for a in sh id grep hostname; do ln -s busybox "
	    "%s/rootfs/bin/$a; done && cp %s/etc/passwd %s/etc/group %s/rootfs/etc/",
	    bundle, bundle, bundle, bundle, bundle, bundle, bundle, rootfs, rootfs, bundle);
	if (!CHECK(run(shell) == 0, "bundle made"))
		return;
	snprintf(path, sizeof(path), "%s/rootfs", bundle);
	t_init(&t, "{\"config\":{\"User\":\"app\"}}");
	t.in.rootfs = path;
	t.spec.command = cmd;
	t.spec.n_command = 3;
	t.spec.security.cap_add = add;
	t.spec.security.n_cap_add = 1;
	t.spec.security.seccomp = CRID_SECCOMP_RUNTIME_DEFAULT;
	t.spec.security.no_new_privs = true;
	t.spec.security.pid_mode = CRID_NS_CONTAINER;
	/* New namespaces all round: no pod paths, and a private UTS for the hostname. */
	t.pod.netns = t.pod.ipcns = t.pod.utsns = "";
	t.pod.host_network = t.pod.host_ipc = true;
	t.pod.hosts_file = t.pod.resolv_file = t.pod.hostname_file = "";
	snprintf(shell, sizeof(shell), "/crid-test-ocispec-%d", (int)getpid());
	t.in.cgroups_path = shell;
	if (!CHECK(crid_oci_spec_build(&t.in, &s, &err) == 0, "runc spec: %s", err.msg))
		return;
	snprintf(path, sizeof(path), "%s/config.json", bundle);
	f = fopen(path, "w");
	if (f) {
		fwrite(s.json, 1, s.len, f);
		fclose(f);
	}
	crid_oci_spec_free(&s);
	snprintf(shell, sizeof(shell),
		 "cd %s && runc --root %s/state run crid-ocispec-%d </dev/null >%s/out 2>&1",
		 bundle, tmp, (int)getpid(), tmp);
	rc = run(shell);
	snprintf(path, sizeof(path), "%s/out", tmp);
	f = fopen(path, "r");
	if (f) {
		size_t n = fread(out, 1, sizeof(out) - 1, f);

		out[n] = '\0';
		fclose(f);
	}
	CHECK(rc == 0, "runc run exits 0 (%d): %s", rc, out);
	/*
	 * The defaults (CHOWN..SETPCAP, NET_BIND_SERVICE) plus NET_ADMIN are 0x15fb. A
	 * non-root user loses its effective set at execve (no ambient caps, as with
	 * containerd), so the bounding set is what shows the request.
	 */
	CHECK(strstr(out, "1000\n1001 29 50\n") != NULL, "runs as app with its groups");
	CHECK(strstr(out, "CapBnd:\t00000000000015fb") != NULL,
	      "bounding caps are the defaults plus NET_ADMIN");
}

int main(void)
{
	setup();
	test_args();
	test_env_cwd();
	test_user();
	test_caps();
	test_masked();
	test_mounts();
	test_mountinfo();
	test_seccomp();
	test_namespaces();
	test_resources();
	test_misc();
	test_runc();
	crid_config_free(&cfg);
	if (tap_failed == 0) {
		char cmd[128];

		snprintf(cmd, sizeof(cmd), "rm -rf %s", tmp);
		if (system(cmd) != 0)
			printf("# could not remove %s\n", tmp);
	}
	return tap_done();
}
