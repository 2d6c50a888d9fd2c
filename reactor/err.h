/* Error values: errno plus a message that gains context on the way up. */
#ifndef CRID_ERR_H
#define CRID_ERR_H

#include <stddef.h>

#define CRID_ERR_MSG_MAX 512

/*
 * A fallible function returns a negative int and fills |err|. |code| is an
 * errno value (0 when the cause is not a system call) and |msg| reads like
 * "open `/run/crid/x`: No such file or directory". Callers may pass NULL.
 */
struct crid_err {
	int code;
	char msg[CRID_ERR_MSG_MAX];
};

/* Sets |err| from |fmt|; appends ": strerror(code)" when |code| > 0. Returns -1. */
int crid_err_set(struct crid_err *err, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Bad input: sets the message with code EINVAL and no strerror suffix. Returns -1. */
int crid_err_invalid(struct crid_err *err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/*
 * A failure that is not a system call's: |code| says what kind (ENOENT for
 * "no such pod", EBUSY for "not running") for the gRPC status, and the
 * message stands alone (no strerror suffix). Returns -1.
 */
int crid_err_cause(struct crid_err *err, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Prefixes the message with context: "ctx: old message". Returns -1. */
int crid_err_wrap(struct crid_err *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Clears |err| to "no error". */
void crid_err_clear(struct crid_err *err);

#endif
