#include "reactor/err.h"

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

int crid_err_wrap(struct crid_err *err, const char *fmt, ...)
{
	char prefix[CRID_ERR_MSG_MAX];
	char old[CRID_ERR_MSG_MAX];
	va_list ap;

	if (!err)
		return -1;
	va_start(ap, fmt);
	vsnprintf(prefix, sizeof(prefix), fmt, ap);
	va_end(ap);
	memcpy(old, err->msg, sizeof(old));
	snprintf(err->msg, sizeof(err->msg), "%s: %s", prefix, old);
	return -1;
}

void crid_err_clear(struct crid_err *err)
{
	if (!err)
		return;
	err->code = 0;
	err->msg[0] = '\0';
}
