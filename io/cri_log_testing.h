/*
 * The CRI log writer's byte path without the FIFOs, for unit tests and the
 * fuzzer: exactly what the ev_io callbacks do with the bytes they read.
 */
#ifndef CRID_CRI_LOG_TESTING_H
#define CRID_CRI_LOG_TESTING_H

#include <stddef.h>

#include "io/cri_log.h"

/* |stream|: 1 = stdout, 2 = stderr. Formats and writes |len| bytes stamped |unix_ns|. */
void crid_cri_log_feed_for_tests(struct crid_cri_log *log, int stream, const void *buf, size_t len,
				 long long unix_ns);

/*
 * Writes the intent a journaled slice puts in front of its data: the records
 * of the data go to |log_fd| at |off|, |len| bytes (what the writer does
 * before its write, so a test can stage any crash point).
 */
int crid_cri_log_put_intent_for_tests(int journal_fd, int log_fd, long long off, long long len);

#endif
