/*
 * The CRI container log writer: reads a container's stdout and stderr FIFOs
 * on the loop and appends kubelet's log format to the container's log file:
 *
 *   <RFC3339Nano time> <stdout|stderr> <F|P> <line>\n
 *
 * F ends a line; a line longer than 16 KiB (or cut by EOF, or by the end of
 * a read slice) is written in P pieces, as CRI-O and containerd do. Time is
 * UTC with 9 fraction digits. What was read is in the file when the callback
 * returns (no line is held in memory between iterations). Reads and writes are bounded per loop
 * iteration (a slow disk never stalls the loop; the pipe fills and the
 * container's writes wait — nothing is dropped). ReopenContainerLog reopens
 * the path after kubelet rotated it. With a size limit the writer stops
 * writing (and says so once in the log) when the file reaches it.
 */
#ifndef CRID_CRI_LOG_H
#define CRID_CRI_LOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "reactor/loop.h"

struct crid_cri_log;

/*
 * Opens (append, creating 0640) |path| and starts reading |out_fd| and
 * |err_fd| (either may be -1; made non-blocking; not closed by the writer:
 * the caller owns them). |max_size| < 0 = no limit.
 */
struct crid_cri_log *crid_cri_log_open(struct crid_loop *loop, const char *path, int out_fd,
				       int err_fd, long long max_size, struct crid_err *err);

/*
 * Makes the writer lose and double nothing across a kill -9 of crid (how:
 * io/cri_log.c, "the journal"): each FIFO stream gets a journal file
 * `<dir>/<stdout|stderr>.journal` that outlives the process; what a killed
 * daemon left in it is settled against the log here, first. Call right
 * after crid_cri_log_open, before the loop runs. A stream that is not a pipe
 * (a terminal's pty) keeps read-then-write. On error the streams without a
 * journal keep read-then-write; the log stays usable.
 */
int crid_cri_log_journal(struct crid_cri_log *log, const char *dir, struct crid_err *err);

/* Reopens the path (kubelet renamed the old file). Fails if the new file cannot be created. */
int crid_cri_log_reopen(struct crid_cri_log *log, struct crid_err *err);

/*
 * |fn| runs once when both streams reached EOF (every writer closed them) and
 * everything read was written: the container's output is complete.
 */
void crid_cri_log_on_eof(struct crid_cri_log *log, void (*fn)(void *user), void *user);

/*
 * Called with each slice of |stream| (1 stdout, 2 stderr; a terminal's is
 * stdout) once it is in the log (or discarded over the size limit), in the
 * log's order; the bytes are valid during the call. Returning false pauses
 * the writer as crid_cri_log_pause(log, 1) does. A FIFO's journaled slice
 * is handed over from the read-back the writer does anyway, so a tap costs
 * no extra copy and no tap costs nothing.
 */
typedef bool (*crid_cri_log_tap_fn)(void *user, int stream, const uint8_t *data, size_t len);

/* Sets the tap (one per writer; NULL removes it). */
void crid_cri_log_set_tap(struct crid_cri_log *log, crid_cri_log_tap_fn fn, void *user);

/*
 * |paused| 1: stops reading the streams (their pipes fill and the
 * container's writes wait; nothing is dropped); 0: reads again.
 */
void crid_cri_log_pause(struct crid_cri_log *log, int paused);

/* True once both streams reached EOF and the file has everything. */
int crid_cri_log_done(const struct crid_cri_log *log);

/* Stops reading and closes the file (not the fds). */
void crid_cri_log_close(struct crid_cri_log *log);

/*
 * Formats one record (with its '\n') into |buf| (for tests and the fuzzer);
 * returns its length. When that exceeds |size| nothing is written.
 */
size_t crid_cri_log_format(char *buf, size_t size, long long unix_ns, const char *stream, char tag,
			   const char *line, size_t len);

#endif
