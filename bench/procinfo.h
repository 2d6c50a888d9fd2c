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

#endif
