/*
 * Seccomp for the OCI spec.
 *
 * The built-in RuntimeDefault denies by default (EPERM) and allows the
 * syscalls ordinary programs use, the same shape as Docker's default profile
 * (moby profiles/seccomp/default.json), which CRI-O and containerd also ship:
 * namespace, mount, module, clock, reboot, keyring, bpf/perf and similar
 * calls are allowed only when the container holds the capability that would
 * make them succeed anyway. ptrace and process_vm_* are allowed (Docker does
 * so on kernels >= 4.8, where ptrace can no longer bypass seccomp). Names
 * libseccomp does not know for any of the profile's architectures are left
 * out, as runc and crun would otherwise refuse or skip them.
 */
#include "runtime/oci/oci_seccomp.h"

#include <errno.h>
#include <seccomp.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/capability.h>
#include <sys/utsname.h>

#include "reactor/mem.h"
#include "runtime/oci/oci_json.h"

#define PROFILE_MAX (1024 * 1024)

#if defined(__x86_64__)
#define NATIVE_ARCH "SCMP_ARCH_X86_64"
#define DOCKER_ARCH "amd64"
static const char *const arch_names[] = { "SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32" };
static const uint32_t arch_tokens[] = { SCMP_ARCH_X86_64, SCMP_ARCH_X86, SCMP_ARCH_X32 };
#elif defined(__aarch64__)
#define NATIVE_ARCH "SCMP_ARCH_AARCH64"
#define DOCKER_ARCH "arm64"
static const char *const arch_names[] = { "SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM" };
static const uint32_t arch_tokens[] = { SCMP_ARCH_AARCH64, SCMP_ARCH_ARM };
#else
#define NATIVE_ARCH ""
#define DOCKER_ARCH ""
static const char *const arch_names[] = { "" };
static const uint32_t arch_tokens[] = { SCMP_ARCH_NATIVE };
#endif
#define N_ARCH (sizeof(arch_tokens) / sizeof(arch_tokens[0]))

/* clang-format off */
static const char base_allow[] =
	"accept accept4 access adjtimex alarm bind brk capget capset chdir chmod chown chown32 "
	"clock_adjtime clock_adjtime64 clock_getres clock_getres_time64 clock_gettime "
	"clock_gettime64 clock_nanosleep clock_nanosleep_time64 close close_range connect "
	"copy_file_range creat dup dup2 dup3 epoll_create epoll_create1 epoll_ctl epoll_ctl_old "
	"epoll_pwait epoll_pwait2 epoll_wait epoll_wait_old eventfd eventfd2 execve execveat exit "
	"exit_group faccessat faccessat2 fadvise64 fadvise64_64 fallocate fanotify_mark fchdir "
	"fchmod fchmodat fchown fchown32 fchownat fcntl fcntl64 fdatasync fgetxattr flistxattr "
	"flock fork fremovexattr fsetxattr fstat fstat64 fstatat64 fstatfs fstatfs64 fsync "
	"ftruncate ftruncate64 futex futex_time64 futex_waitv futimesat getcpu getcwd getdents "
	"getdents64 getegid getegid32 geteuid geteuid32 getgid getgid32 getgroups getgroups32 "
	"getitimer getpeername getpgid getpgrp getpid getppid getpriority getrandom getresgid "
	"getresgid32 getresuid getresuid32 getrlimit get_robust_list getrusage getsid getsockname "
	"getsockopt get_thread_area gettid gettimeofday getuid getuid32 getxattr inotify_add_watch "
	"inotify_init inotify_init1 inotify_rm_watch io_cancel ioctl io_destroy io_getevents "
	"io_pgetevents io_pgetevents_time64 ioprio_get ioprio_set io_setup io_submit "
	"io_uring_enter io_uring_register io_uring_setup ipc kill landlock_add_rule "
	"landlock_create_ruleset landlock_restrict_self lchown lchown32 lgetxattr link linkat "
	"listen listxattr llistxattr _llseek lremovexattr lseek lsetxattr lstat lstat64 madvise "
	"membarrier memfd_create memfd_secret mincore mkdir mkdirat mknod mknodat mlock mlock2 "
	"mlockall mmap mmap2 mprotect mq_getsetattr mq_notify mq_open mq_timedreceive "
	"mq_timedreceive_time64 mq_timedsend mq_timedsend_time64 mq_unlink mremap msgctl msgget "
	"msgrcv msgsnd msync munlock munlockall munmap name_to_handle_at nanosleep newfstatat "
	"_newselect open openat openat2 pause pidfd_open pidfd_send_signal pipe pipe2 pkey_alloc "
	"pkey_free pkey_mprotect poll ppoll ppoll_time64 prctl pread64 preadv preadv2 prlimit64 "
	"process_mrelease pselect6 pselect6_time64 pwrite64 pwritev pwritev2 read readahead "
	"readlink readlinkat readv recv recvfrom recvmmsg recvmmsg_time64 recvmsg "
	"remap_file_pages removexattr rename renameat renameat2 restart_syscall rmdir rseq "
	"rt_sigaction rt_sigpending rt_sigprocmask rt_sigqueueinfo rt_sigreturn rt_sigsuspend "
	"rt_sigtimedwait rt_sigtimedwait_time64 rt_tgsigqueueinfo sched_getaffinity "
	"sched_getattr sched_getparam sched_get_priority_max sched_get_priority_min "
	"sched_getscheduler sched_rr_get_interval sched_rr_get_interval_time64 "
	"sched_setaffinity sched_setattr sched_setparam sched_setscheduler sched_yield seccomp "
	"select semctl semget semop semtimedop semtimedop_time64 send sendfile sendfile64 "
	"sendmmsg sendmsg sendto setfsgid setfsgid32 setfsuid setfsuid32 setgid setgid32 "
	"setgroups setgroups32 setitimer setpgid setpriority setregid setregid32 setresgid "
	"setresgid32 setresuid setresuid32 setreuid setreuid32 setrlimit set_robust_list setsid "
	"setsockopt set_thread_area set_tid_address setuid setuid32 setxattr shmat shmctl shmdt "
	"shmget shutdown sigaltstack signalfd signalfd4 sigprocmask sigreturn socketcall "
	"socketpair splice stat stat64 statfs statfs64 statx symlink symlinkat sync "
	"sync_file_range syncfs sysinfo tee tgkill time timer_create timer_delete "
	"timer_getoverrun timer_gettime timer_gettime64 timer_settime timer_settime64 "
	"timerfd_create timerfd_gettime timerfd_gettime64 timerfd_settime timerfd_settime64 "
	"times tkill truncate truncate64 ugetrlimit umask uname unlink unlinkat utime utimensat "
	"utimensat_time64 utimes vfork vmsplice wait4 waitid waitpid write writev "
	"process_vm_readv process_vm_writev ptrace";
/* clang-format on */

enum { NONE = -1 };

int crid_oci_cap_parse(const char *name)
{
	char buf[64];
	cap_value_t v;

	if (strncasecmp(name, "CAP_", 4) == 0)
		name += 4;
	/* cap_from_name() also takes numbers: only names are capabilities here. */
	if (!*name || strlen(name) > 40 ||
	    strspn(name, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz_") != strlen(name))
		return -1;
	snprintf(buf, sizeof(buf), "cap_%s", name);
	if (cap_from_name(buf, &v) < 0 || v < 0 || v > 63)
		return -1;
	return (int)v;
}

struct arg_rule {
	unsigned index;
	unsigned long long value;
	const char *op;
};

/* One rule: |names| allowed (or errno'd) when the cap conditions hold. */
struct rule {
	const char *names;
	int errno_ret;	/* 0 = SCMP_ACT_ALLOW, else SCMP_ACT_ERRNO with this errno */
	int if_cap;	/* only when the container holds this capability */
	int unless_cap; /* only when it does not */
	struct arg_rule arg;
	bool has_arg;
};

#define RULE(n, e, i, u) .names = (n), .errno_ret = (e), .if_cap = (i), .unless_cap = (u)
#define ARG(i, v, o) .arg = { (i), (v), (o) }, .has_arg = true

/* CLONE_NEWNS|NEWCGROUP|NEWUTS|NEWIPC|NEWUSER|NEWPID|NEWNET: clone may not create namespaces. */
#define CLONE_NS_MASK 2114060288ULL

static const struct rule rules[] = {
	{ RULE(base_allow, 0, NONE, NONE) },
	/* AF_VSOCK sockets reach the hypervisor: not for containers. */
	{ RULE("socket", 0, NONE, NONE), ARG(0, 40, "SCMP_CMP_NE") },
	/* personality: only PER_LINUX, PER_LINUX32, UNAME26 variants and the query. */
	{ RULE("personality", 0, NONE, NONE), ARG(0, 0, "SCMP_CMP_EQ") },
	{ RULE("personality", 0, NONE, NONE), ARG(0, 8, "SCMP_CMP_EQ") },
	{ RULE("personality", 0, NONE, NONE), ARG(0, 131072, "SCMP_CMP_EQ") },
	{ RULE("personality", 0, NONE, NONE), ARG(0, 131080, "SCMP_CMP_EQ") },
	{ RULE("personality", 0, NONE, NONE), ARG(0, 4294967295ULL, "SCMP_CMP_EQ") },
#if defined(__x86_64__)
	{ RULE("arch_prctl modify_ldt", 0, NONE, NONE) },
#elif defined(__aarch64__)
	{ RULE(
	    "arm_fadvise64_64 arm_sync_file_range sync_file_range2 breakpoint cacheflush set_tls",
	    0, NONE, NONE) },
#endif
	{ RULE("open_by_handle_at", 0, CAP_DAC_READ_SEARCH, NONE) },
	{ RULE(
	    "bpf clone clone3 fanotify_init fsconfig fsmount fsopen fspick lookup_dcookie mount "
	    "mount_setattr move_mount open_tree perf_event_open quotactl quotactl_fd setdomainname "
	    "sethostname setns syslog umount umount2 unshare",
	    0, CAP_SYS_ADMIN, NONE) },
	{ RULE("clone", 0, NONE, CAP_SYS_ADMIN), ARG(0, CLONE_NS_MASK, "SCMP_CMP_MASKED_EQ") },
	/* clone3's flags are in memory seccomp cannot read: make libc fall back to clone. */
	{ RULE("clone3", ENOSYS, NONE, CAP_SYS_ADMIN) },
	{ RULE("reboot", 0, CAP_SYS_BOOT, NONE) },
	{ RULE("chroot", 0, CAP_SYS_CHROOT, NONE) },
	{ RULE("delete_module init_module finit_module", 0, CAP_SYS_MODULE, NONE) },
	{ RULE("acct", 0, CAP_SYS_PACCT, NONE) },
	{ RULE("kcmp pidfd_getfd process_madvise", 0, CAP_SYS_PTRACE, NONE) },
	{ RULE("iopl ioperm", 0, CAP_SYS_RAWIO, NONE) },
	{ RULE("settimeofday stime clock_settime clock_settime64", 0, CAP_SYS_TIME, NONE) },
	{ RULE("vhangup", 0, CAP_SYS_TTY_CONFIG, NONE) },
	{ RULE("get_mempolicy mbind set_mempolicy set_mempolicy_home_node", 0, CAP_SYS_NICE,
	       NONE) },
	{ RULE("syslog", 0, CAP_SYSLOG, NONE) },
	{ RULE("bpf", 0, CAP_BPF, NONE) },
	{ RULE("perf_event_open", 0, CAP_PERFMON, NONE) },
};

#define N_RULES (sizeof(rules) / sizeof(rules[0]))

static bool has_cap(uint64_t caps, int cap)
{
	return cap >= 0 && cap < 64 && (caps >> cap) & 1;
}

/* True when libseccomp knows |name| on at least one of the profile's architectures. */
static bool known_syscall(const char *name)
{
	for (size_t i = 0; i < N_ARCH; i++)
		if (seccomp_syscall_resolve_name_arch(arch_tokens[i], name) >= 0)
			return true;
	return false;
}

/*
 * Writes the names of |list| (space-separated) that libseccomp knows. The
 * answer for each built-in name is cached: resolving ~350 names on three
 * architectures for every container would cost milliseconds.
 */
static void gen_names(yajl_gen g, size_t rule, const char *list)
{
	static signed char cache[N_RULES][512];
	size_t k = 0;
	char name[64];

	yajl_gen_array_open(g);
	for (const char *p = list; *p; k++) {
		size_t len = strcspn(p, " ");

		if (len < sizeof(name) && k < 512) {
			memcpy(name, p, len);
			name[len] = '\0';
			if (!cache[rule][k])
				cache[rule][k] = known_syscall(name) ? 1 : -1;
			if (cache[rule][k] > 0)
				yajl_gen_string(g, (const unsigned char *)name, len);
		}
		p += len;
		p += strspn(p, " ");
	}
	yajl_gen_array_close(g);
}

static void gen_arches(yajl_gen g)
{
	CRID_OCI_GSTR(g, "architectures");
	yajl_gen_array_open(g);
	for (size_t i = 0; i < N_ARCH; i++)
		if (*arch_names[i])
			CRID_OCI_GSTR(g, arch_names[i]);
	yajl_gen_array_close(g);
}

static void gen_arg(yajl_gen g, const struct arg_rule *a)
{
	char num[32];
	int n = snprintf(num, sizeof(num), "%llu", a->value);

	CRID_OCI_GSTR(g, "args");
	yajl_gen_array_open(g);
	yajl_gen_map_open(g);
	CRID_OCI_GSTR(g, "index");
	yajl_gen_integer(g, a->index);
	CRID_OCI_GSTR(g, "value");
	yajl_gen_number(g, num, (size_t)n);
	CRID_OCI_GSTR(g, "op");
	CRID_OCI_GSTR(g, a->op);
	yajl_gen_map_close(g);
	yajl_gen_array_close(g);
}

static void gen_builtin(yajl_gen g, uint64_t caps)
{
	yajl_gen_map_open(g);
	CRID_OCI_GSTR(g, "defaultAction");
	CRID_OCI_GSTR(g, "SCMP_ACT_ERRNO");
	CRID_OCI_GSTR(g, "defaultErrnoRet");
	yajl_gen_integer(g, EPERM);
	gen_arches(g);
	CRID_OCI_GSTR(g, "syscalls");
	yajl_gen_array_open(g);
	for (size_t i = 0; i < N_RULES; i++) {
		const struct rule *r = &rules[i];

		if ((r->if_cap != NONE && !has_cap(caps, r->if_cap)) ||
		    (r->unless_cap != NONE && has_cap(caps, r->unless_cap)))
			continue;
		yajl_gen_map_open(g);
		CRID_OCI_GSTR(g, "names");
		gen_names(g, i, r->names);
		CRID_OCI_GSTR(g, "action");
		CRID_OCI_GSTR(g, r->errno_ret ? "SCMP_ACT_ERRNO" : "SCMP_ACT_ALLOW");
		if (r->errno_ret) {
			CRID_OCI_GSTR(g, "errnoRet");
			yajl_gen_integer(g, r->errno_ret);
		}
		if (r->has_arg)
			gen_arg(g, &r->arg);
		yajl_gen_map_close(g);
	}
	yajl_gen_array_close(g);
	yajl_gen_map_close(g);
}

/* ---- profile files ---- */

static const char *const actions[] = {
	"SCMP_ACT_KILL",  "SCMP_ACT_KILL_PROCESS", "SCMP_ACT_KILL_THREAD",
	"SCMP_ACT_TRAP",  "SCMP_ACT_ERRNO",	   "SCMP_ACT_TRACE",
	"SCMP_ACT_ALLOW", "SCMP_ACT_LOG",	   "SCMP_ACT_NOTIFY",
};

static const char *const ops[] = {
	"SCMP_CMP_NE", "SCMP_CMP_LT", "SCMP_CMP_LE",	    "SCMP_CMP_EQ",
	"SCMP_CMP_GE", "SCMP_CMP_GT", "SCMP_CMP_MASKED_EQ",
};

static bool one_of(const char *s, const char *const *list, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(s, list[i]) == 0)
			return true;
	return false;
}

static bool str_array(yajl_val v)
{
	if (!YAJL_IS_ARRAY(v))
		return false;
	for (size_t i = 0; i < v->u.array.len; i++)
		if (!YAJL_IS_STRING(v->u.array.values[i]))
			return false;
	return true;
}

static int check_args(yajl_val args, const char *what, size_t i, struct crid_err *err)
{
	if (!YAJL_IS_ARRAY(args))
		return crid_err_invalid(err, "%s: syscalls[%zu].args must be an array", what, i);
	for (size_t j = 0; j < args->u.array.len; j++) {
		yajl_val a = args->u.array.values[j];
		yajl_val op = crid_oci_get(a, "op", yajl_t_string);

		if (!YAJL_IS_OBJECT(a) || !crid_oci_get(a, "index", yajl_t_number) || !op ||
		    !one_of(op->u.string, ops, sizeof(ops) / sizeof(ops[0])))
			return crid_err_invalid(err,
						"%s: syscalls[%zu].args[%zu] needs an index and a "
						"known op",
						what, i, j);
	}
	return 0;
}

static int check_syscall(yajl_val sc, const char *what, size_t i, struct crid_err *err)
{
	yajl_val names = crid_oci_get(sc, "names", yajl_t_any);
	yajl_val name = crid_oci_get(sc, "name", yajl_t_any);
	yajl_val action = crid_oci_get(sc, "action", yajl_t_any);
	yajl_val args = crid_oci_get(sc, "args", yajl_t_any);

	if (!YAJL_IS_OBJECT(sc))
		return crid_err_invalid(err, "%s: syscalls[%zu] must be an object", what, i);
	if ((names && !str_array(names)) || (name && !YAJL_IS_STRING(name)) || (!names && !name))
		return crid_err_invalid(err, "%s: syscalls[%zu].names must be an array of strings",
					what, i);
	if (!YAJL_IS_STRING(action) ||
	    !one_of(action->u.string, actions, sizeof(actions) / sizeof(actions[0])))
		return crid_err_invalid(err, "%s: syscalls[%zu].action must be a SCMP_ACT_ value",
					what, i);
	if (args && !YAJL_IS_NULL(args) && check_args(args, what, i, err) < 0)
		return -1;
	return 0;
}

/* Checks the parts of a profile crid reads; runc and crun check the rest. */
static int check_profile(yajl_val root, const char *what, struct crid_err *err)
{
	yajl_val def = crid_oci_get(root, "defaultAction", yajl_t_any);
	yajl_val arches = crid_oci_get(root, "architectures", yajl_t_any);
	yajl_val scs = crid_oci_get(root, "syscalls", yajl_t_any);

	if (!YAJL_IS_OBJECT(root))
		return crid_err_invalid(err, "%s: not a JSON object", what);
	if (!YAJL_IS_STRING(def) ||
	    !one_of(def->u.string, actions, sizeof(actions) / sizeof(actions[0])))
		return crid_err_invalid(err, "%s: defaultAction must be a SCMP_ACT_ value", what);
	if (arches && !YAJL_IS_NULL(arches) && !str_array(arches))
		return crid_err_invalid(err, "%s: architectures must be an array of strings", what);
	if (!scs || YAJL_IS_NULL(scs))
		return 0;
	if (!YAJL_IS_ARRAY(scs))
		return crid_err_invalid(err, "%s: syscalls must be an array", what);
	for (size_t i = 0; i < scs->u.array.len; i++)
		if (check_syscall(scs->u.array.values[i], what, i, err) < 0)
			return -1;
	return 0;
}

int crid_oci_seccomp_load(struct crid_oci_seccomp *s, const char *path, const char *field,
			  struct crid_err *err)
{
	char ebuf[256], what[4200];
	char *buf;

	s->builtin = path == NULL;
	s->tree = NULL;
	if (!path)
		return 0;
	snprintf(what, sizeof(what), "%s: seccomp profile `%s`", field, path);
	if (path[0] != '/')
		return crid_err_invalid(err, "%s: must be an absolute path", what);
	if (crid_oci_read_file(NULL, path, PROFILE_MAX, &buf, NULL, err) < 0)
		return crid_err_wrap(err, "%s", field);
	s->tree = yajl_tree_parse(buf, ebuf, sizeof(ebuf));
	crid_free(buf);
	if (!s->tree) {
		ebuf[strcspn(ebuf, "\n")] = '\0';
		return crid_err_invalid(err, "%s: invalid JSON: %s", what, ebuf);
	}
	if (check_profile(s->tree, what, err) < 0) {
		crid_oci_seccomp_free(s);
		return -1;
	}
	return 0;
}

void crid_oci_seccomp_free(struct crid_oci_seccomp *s)
{
	if (s->tree)
		yajl_tree_free(s->tree);
	s->tree = NULL;
}

/* "CAP_SYS_ADMIN" or "SYS_ADMIN" held in |caps|; unknown names are not held. */
static bool has_cap_name(uint64_t caps, const char *name)
{
	return has_cap(caps, crid_oci_cap_parse(name));
}

static int kernel_cmp(const char *min)
{
	static unsigned kmaj, kmin;
	unsigned maj = 0, mn = 0;

	if (!kmaj) {
		struct utsname u;

		if (uname(&u) < 0 || sscanf(u.release, "%u.%u", &kmaj, &kmin) < 1)
			kmaj = 1;
	}
	if (sscanf(min, "%u.%u", &maj, &mn) < 1)
		return 0;
	return kmaj != maj ? (kmaj > maj ? 1 : -1) : (kmin > mn) - (kmin < mn);
}

static bool list_has(yajl_val list, const char *s)
{
	if (!YAJL_IS_ARRAY(list))
		return false;
	for (size_t i = 0; i < list->u.array.len; i++)
		if (YAJL_IS_STRING(list->u.array.values[i]) &&
		    strcmp(list->u.array.values[i]->u.string, s) == 0)
			return true;
	return false;
}

/* Docker's "includes": every condition given must hold. */
static bool included(yajl_val inc, uint64_t caps)
{
	yajl_val c = crid_oci_get(inc, "caps", yajl_t_array);
	yajl_val a = crid_oci_get(inc, "arches", yajl_t_array);
	yajl_val k = crid_oci_get(inc, "minKernel", yajl_t_string);

	if (c)
		for (size_t i = 0; i < c->u.array.len; i++)
			if (!YAJL_IS_STRING(c->u.array.values[i]) ||
			    !has_cap_name(caps, c->u.array.values[i]->u.string))
				return false;
	if (a && a->u.array.len && !list_has(a, DOCKER_ARCH))
		return false;
	return !k || kernel_cmp(k->u.string) >= 0;
}

/* Docker's "excludes": any condition that holds excludes the rule. */
static bool excluded(yajl_val exc, uint64_t caps)
{
	yajl_val c = crid_oci_get(exc, "caps", yajl_t_array);
	yajl_val a = crid_oci_get(exc, "arches", yajl_t_array);
	yajl_val k = crid_oci_get(exc, "minKernel", yajl_t_string);

	if (c)
		for (size_t i = 0; i < c->u.array.len; i++)
			if (YAJL_IS_STRING(c->u.array.values[i]) &&
			    has_cap_name(caps, c->u.array.values[i]->u.string))
				return true;
	if (a && list_has(a, DOCKER_ARCH))
		return true;
	return k && kernel_cmp(k->u.string) >= 0;
}

static void gen_file_names(yajl_gen g, yajl_val sc)
{
	yajl_val names = crid_oci_get(sc, "names", yajl_t_array);
	yajl_val name = crid_oci_get(sc, "name", yajl_t_string);

	yajl_gen_array_open(g);
	if (name && known_syscall(name->u.string))
		CRID_OCI_GSTR(g, name->u.string);
	for (size_t i = 0; names && i < names->u.array.len; i++)
		if (known_syscall(names->u.array.values[i]->u.string))
			CRID_OCI_GSTR(g, names->u.array.values[i]->u.string);
	yajl_gen_array_close(g);
}

/* architectures as given, else the archMap entry of this machine with its sub-architectures. */
static void gen_file_arches(yajl_gen g, yajl_val root)
{
	yajl_val arches = crid_oci_get(root, "architectures", yajl_t_array);
	yajl_val map = crid_oci_get(root, "archMap", yajl_t_array);

	if (arches) {
		CRID_OCI_GSTR(g, "architectures");
		crid_oci_gen_tree(g, arches);
		return;
	}
	for (size_t i = 0; map && i < map->u.array.len; i++) {
		yajl_val a = crid_oci_get(map->u.array.values[i], "architecture", yajl_t_string);
		yajl_val sub =
		    crid_oci_get(map->u.array.values[i], "subArchitectures", yajl_t_array);

		if (!a || strcmp(a->u.string, NATIVE_ARCH) != 0)
			continue;
		CRID_OCI_GSTR(g, "architectures");
		yajl_gen_array_open(g);
		CRID_OCI_GSTR(g, a->u.string);
		for (size_t j = 0; sub && j < sub->u.array.len; j++)
			if (YAJL_IS_STRING(sub->u.array.values[j]))
				CRID_OCI_GSTR(g, sub->u.array.values[j]->u.string);
		yajl_gen_array_close(g);
		return;
	}
}

static void gen_file(yajl_gen g, yajl_val root, uint64_t caps)
{
	static const char *const copied[] = { "defaultAction", "defaultErrnoRet", "flags",
					      "listenerPath", "listenerMetadata" };
	yajl_val scs = crid_oci_get(root, "syscalls", yajl_t_array);

	yajl_gen_map_open(g);
	for (size_t i = 0; i < sizeof(copied) / sizeof(copied[0]); i++) {
		yajl_val v = crid_oci_get(root, copied[i], yajl_t_any);

		if (v && !YAJL_IS_NULL(v)) {
			CRID_OCI_GSTR(g, copied[i]);
			crid_oci_gen_tree(g, v);
		}
	}
	gen_file_arches(g, root);
	CRID_OCI_GSTR(g, "syscalls");
	yajl_gen_array_open(g);
	for (size_t i = 0; scs && i < scs->u.array.len; i++) {
		yajl_val sc = scs->u.array.values[i];
		yajl_val inc = crid_oci_get(sc, "includes", yajl_t_object);
		yajl_val exc = crid_oci_get(sc, "excludes", yajl_t_object);
		yajl_val v;

		if ((inc && !included(inc, caps)) || (exc && excluded(exc, caps)))
			continue;
		yajl_gen_map_open(g);
		CRID_OCI_GSTR(g, "names");
		gen_file_names(g, sc);
		CRID_OCI_GSTR(g, "action");
		crid_oci_gen_tree(g, crid_oci_get(sc, "action", yajl_t_string));
		if ((v = crid_oci_get(sc, "errnoRet", yajl_t_number))) {
			CRID_OCI_GSTR(g, "errnoRet");
			crid_oci_gen_tree(g, v);
		}
		if ((v = crid_oci_get(sc, "args", yajl_t_array))) {
			CRID_OCI_GSTR(g, "args");
			crid_oci_gen_tree(g, v);
		}
		yajl_gen_map_close(g);
	}
	yajl_gen_array_close(g);
	yajl_gen_map_close(g);
}

void crid_oci_seccomp_gen(yajl_gen g, const struct crid_oci_seccomp *s, uint64_t caps)
{
	if (s->tree)
		gen_file(g, s->tree, caps);
	else
		gen_builtin(g, caps);
}
