#include "reactor/err.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

int crid_err_set(struct crid_err *err, int code, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (!err)
		return -1;
	err->code = code;
	va_start(ap, fmt);
	n = vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	va_end(ap);
	if (n < 0)
		n = 0;
	if (code > 0 && (size_t)n < sizeof(err->msg))
		snprintf(err->msg + n, sizeof(err->msg) - n, ": %s", strerror(code));
	return -1;
}

int crid_err_invalid(struct crid_err *err, const char *fmt, ...)
{
	va_list ap;

	if (!err)
		return -1;
	err->code = EINVAL;
	va_start(ap, fmt);
	vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	va_end(ap);
	return -1;
}

int crid_err_cause(struct crid_err *err, int code, const char *fmt, ...)
{
	va_list ap;

	if (!err)
		return -1;
	err->code = code;
	va_start(ap, fmt);
	vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	va_end(ap);
	return -1;
}

int crid_err_wrap(struct crid_err *err, const char *fmt, ...)
{
	char prefix[CRID_ERR_MSG_MAX];
	char old[CRID_ERR_MSG_MAX];
	size_t n;
	va_list ap;

	if (!err)
		return -1;
	va_start(ap, fmt);
	vsnprintf(prefix, sizeof(prefix), fmt, ap);
	va_end(ap);
	memcpy(old, err->msg, sizeof(old));
	/* Built piecewise: the result is truncated on purpose when it grows too long. */
	n = strlen(prefix);
	memcpy(err->msg, prefix, n);
	if (n + 2 < sizeof(err->msg)) {
		memcpy(err->msg + n, ": ", 2);
		n += 2;
	}
	memcpy(err->msg + n, old, strnlen(old, sizeof(err->msg) - 1 - n));
	err->msg[n + strnlen(old, sizeof(err->msg) - 1 - n)] = '\0';
	return -1;
}

void crid_err_clear(struct crid_err *err)
{
	if (!err)
		return;
	err->code = 0;
	err->msg[0] = '\0';
}
