#include "io/grpc_wire.h"

#include <stdio.h>
#include <string.h>

static const char *const status_names[] = {
	"OK",
	"Canceled",
	"Unknown",
	"InvalidArgument",
	"DeadlineExceeded",
	"NotFound",
	"AlreadyExists",
	"PermissionDenied",
	"ResourceExhausted",
	"FailedPrecondition",
	"Aborted",
	"OutOfRange",
	"Unimplemented",
	"Internal",
	"Unavailable",
	"DataLoss",
	"Unauthenticated",
};

const char *crid_grpc_status_name(int status)
{
	if (status < 0 || (size_t)status >= sizeof(status_names) / sizeof(status_names[0]))
		return "Unknown";
	return status_names[status];
}

void crid_grpc_prefix_write(uint8_t out[CRID_GRPC_PREFIX_LEN], int compressed, uint32_t len)
{
	out[0] = compressed ? 1 : 0;
	out[1] = (uint8_t)(len >> 24);
	out[2] = (uint8_t)(len >> 16);
	out[3] = (uint8_t)(len >> 8);
	out[4] = (uint8_t)len;
}

uint32_t crid_grpc_prefix_read(const uint8_t in[CRID_GRPC_PREFIX_LEN], uint8_t *compressed)
{
	*compressed = in[0];
	return (uint32_t)in[1] << 24 | (uint32_t)in[2] << 16 | (uint32_t)in[3] << 8 | in[4];
}

static int64_t unit_ns(char u)
{
	switch (u) {
	case 'H':
		return 3600LL * 1000000000LL;
	case 'M':
		return 60LL * 1000000000LL;
	case 'S':
		return 1000000000LL;
	case 'm':
		return 1000000LL;
	case 'u':
		return 1000LL;
	case 'n':
		return 1;
	default:
		return 0;
	}
}

int crid_grpc_timeout_parse(const char *s, size_t len, int64_t *ns)
{
	int64_t value = 0, unit;

	/* TimeoutValue is 1 to 8 digits, then the unit. */
	if (len < 2 || len > 9)
		return -1;
	unit = unit_ns(s[len - 1]);
	if (!unit)
		return -1;
	for (size_t i = 0; i < len - 1; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		value = value * 10 + (s[i] - '0');
	}
	if (value > INT64_MAX / unit)
		*ns = INT64_MAX; /* 99999999H is ~11,000 years: effectively no deadline */
	else
		*ns = value * unit;
	return 0;
}

void crid_grpc_timeout_format(int64_t ns, char out[10])
{
	static const struct {
		char unit;
		int64_t ns;
	} units[] = { { 'n', 1 },
		      { 'u', 1000LL },
		      { 'm', 1000000LL },
		      { 'S', 1000000000LL },
		      { 'M', 60000000000LL },
		      { 'H', 3600000000000LL } };

	if (ns < 0)
		ns = 0;
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		int64_t v = ns / units[i].ns + (ns % units[i].ns != 0);

		if (v <= 99999999 || i == sizeof(units) / sizeof(units[0]) - 1) {
			if (v > 99999999)
				v = 99999999;
			snprintf(out, 10, "%d%c", (int)v, units[i].unit);
			return;
		}
	}
}

static int needs_escape(unsigned char c)
{
	return c < 0x20 || c > 0x7e || c == '%';
}

size_t crid_grpc_percent_encode(const char *in, size_t len, char *out, size_t cap)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t o = 0;

	if (cap == 0)
		return 0;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)in[i];

		if (!needs_escape(c)) {
			if (o + 1 >= cap)
				break;
			out[o++] = (char)c;
			continue;
		}
		if (o + 3 >= cap)
			break;
		out[o++] = '%';
		out[o++] = hex[c >> 4];
		out[o++] = hex[c & 15];
	}
	out[o] = '\0';
	return o;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

size_t crid_grpc_percent_decode(const char *in, size_t len, char *out)
{
	size_t o = 0;

	for (size_t i = 0; i < len; i++) {
		int hi, lo;

		if (in[i] == '%' && i + 2 < len && (hi = hexval(in[i + 1])) >= 0 &&
		    (lo = hexval(in[i + 2])) >= 0) {
			out[o++] = (char)(hi << 4 | lo);
			i += 2;
			continue;
		}
		out[o++] = in[i];
	}
	out[o] = '\0';
	return o;
}
