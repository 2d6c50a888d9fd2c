/*
 * gRPC-over-HTTP/2 details that do not depend on a connection: status
 * codes, the 5-byte message prefix, grpc-timeout and grpc-message
 * percent-encoding, as grpc's doc/PROTOCOL-HTTP2.md defines them.
 */
#ifndef CRID_GRPC_WIRE_H
#define CRID_GRPC_WIRE_H

#include <stddef.h>
#include <stdint.h>

enum crid_grpc_status {
	CRID_GRPC_OK = 0,
	CRID_GRPC_CANCELLED = 1,
	CRID_GRPC_UNKNOWN = 2,
	CRID_GRPC_INVALID_ARGUMENT = 3,
	CRID_GRPC_DEADLINE_EXCEEDED = 4,
	CRID_GRPC_NOT_FOUND = 5,
	CRID_GRPC_ALREADY_EXISTS = 6,
	CRID_GRPC_PERMISSION_DENIED = 7,
	CRID_GRPC_RESOURCE_EXHAUSTED = 8,
	CRID_GRPC_FAILED_PRECONDITION = 9,
	CRID_GRPC_ABORTED = 10,
	CRID_GRPC_OUT_OF_RANGE = 11,
	CRID_GRPC_UNIMPLEMENTED = 12,
	CRID_GRPC_INTERNAL = 13,
	CRID_GRPC_UNAVAILABLE = 14,
	CRID_GRPC_DATA_LOSS = 15,
	CRID_GRPC_UNAUTHENTICATED = 16,
};

#define CRID_GRPC_PREFIX_LEN 5
#define CRID_GRPC_MAX_MESSAGE (16u * 1024 * 1024)

/* "OK", "Canceled", ... as grpc-go prints codes (crictl users know these names). */
const char *crid_grpc_status_name(int status);

/* Writes the prefix: compressed flag then big-endian length. */
void crid_grpc_prefix_write(uint8_t out[CRID_GRPC_PREFIX_LEN], int compressed, uint32_t len);

/* Reads a prefix; returns the length and sets |*compressed| to the flag byte. */
uint32_t crid_grpc_prefix_read(const uint8_t in[CRID_GRPC_PREFIX_LEN], uint8_t *compressed);

/*
 * Parses a grpc-timeout value (1 to 8 ASCII digits followed by one of
 * H M S m u n) into nanoseconds. Returns 0, or -1 when malformed.
 */
int crid_grpc_timeout_parse(const char *s, size_t len, int64_t *ns);

/*
 * Formats |ns| as the shortest exact-enough grpc-timeout ("100m", "2S"),
 * rounding up so a deadline is never shortened. |out| needs 10 bytes.
 */
void crid_grpc_timeout_format(int64_t ns, char out[10]);

/*
 * Percent-encodes a grpc-message: bytes outside 0x20..0x7E and '%' become
 * %XX. Returns the encoded length (excluding the NUL); writes at most
 * |cap| bytes including the NUL, truncating on a character boundary.
 */
size_t crid_grpc_percent_encode(const char *in, size_t len, char *out, size_t cap);

/*
 * Decodes a grpc-message; malformed escapes are kept literally, as the spec
 * asks of receivers. Returns the decoded length; |out| has room for |len|+1.
 */
size_t crid_grpc_percent_decode(const char *in, size_t len, char *out);

#endif
