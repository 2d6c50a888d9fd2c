/*
 * What crid-bench reads about a daemon from /proc: its memory (RSS and PSS
 * from smaps_rollup) and, when no --pid is given, which process serves a
 * unix socket (the listening inode in /proc/net/unix, then /proc/PID/fd).
 */
#ifndef CRID_BENCH_PROCINFO_H
#define CRID_BENCH_PROCINFO_H

#include <stddef.h>
#include <sys/types.h>

#include "reactor/err.h"

struct crid_bench_mem {
	unsigned long rss_kib;
	unsigned long pss_kib;
};

/* Parses the text of /proc/PID/smaps_rollup. Returns 0, or -1 when Rss or Pss is missing. */
int crid_bench_smaps_parse(const char *text, struct crid_bench_mem *out);

/* Reads /proc/|pid|/smaps_rollup. */
int crid_bench_mem_read(pid_t pid, struct crid_bench_mem *out, struct crid_err *err);

/*
 * Finds in the text of /proc/net/unix the inode of the socket listening on
 * |path|. Returns 0, or -1 when there is none.
 */
int crid_bench_unix_inode_parse(const char *text, const char *path, unsigned long *inode);

/* The lowest pid holding the socket that listens on |path|. Returns the pid or -1. */
pid_t crid_bench_pid_for_socket(const char *path, struct crid_err *err);

/* What a runtime runs besides containers, by kind. */
enum crid_bench_kind {
	CRID_BENCH_KIND_DAEMON,
	CRID_BENCH_KIND_SHIM,	 /* containerd-shim-* */
	CRID_BENCH_KIND_CONMON,	 /* conmon */
	CRID_BENCH_KIND_PAUSE,	 /* a sandbox's own process tree (pause) */
	CRID_BENCH_KIND_OTHER,	 /* any other helper of the daemon in its mount namespace */
	CRID_BENCH_KIND_FDSTORE, /* crid-keeper: the node's one fd store */
	CRID_BENCH_KINDS
};

const char *crid_bench_kind_name(int kind);

struct crid_bench_kindmem {
	size_t procs;
	unsigned long rss_kib, pss_kib;
};

/*
 * Sums RSS and PSS by kind over the processes that belong to the runtime
 * whose daemon is |daemon|: the daemon; processes in its mount namespace
 * that descend from it or name |sock| on their command line (containerd's
 * shims do), classified by name; and the trees of |sandbox_pids| (pause).
 * Container processes (their own mount namespace) are not counted.
 */
int crid_bench_runtime_mem(pid_t daemon, const char *sock, const int *sandbox_pids, size_t n,
			   struct crid_bench_kindmem out[CRID_BENCH_KINDS], struct crid_err *err);

/* Open fds of |pid|, or -1. */
long crid_bench_fd_count(pid_t pid);

/* utime + stime of |pid| in clock ticks, or -1. */
long crid_bench_cpu_ticks(pid_t pid);

#endif
