/*
 * Checks every decoded request before its handler sees it, generically over
 * protobuf-c's descriptors (one walk covers every method's message): what a
 * Go gRPC server checks while decoding and protobuf-c does not, and the field
 * that makes a request too big to keep.
 */
#ifndef CRID_REQUEST_CHECK_H
#define CRID_REQUEST_CHECK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <protobuf-c/protobuf-c.h>

#include "reactor/err.h"

/*
 * True when every `string` field of |msg| is valid UTF-8: nested messages,
 * repeated fields, set oneof members and map entries included. Otherwise
 * false with |path| (|size| bytes, truncated if need be) naming the first bad
 * field as the request spells it ("config.metadata.name",
 * "config.envs[1].value", "config.labels[\"app\"]" for a value,
 * "config.labels[0].key" for a key) and *offset the bad byte's offset in it.
 */
bool crid_request_utf8_ok(const ProtobufCMessage *msg, char *path, size_t size, size_t *offset);

/*
 * The top-level field of |msg| taking the most bytes on the wire: its name
 * is written to |name| (|size| bytes) and its size returned; 0 and "" for a
 * message with nothing set. Repeated fields and maps count as a whole.
 */
size_t crid_request_largest_field(const ProtobufCMessage *msg, char *name, size_t size);

/*
 * For an EMSGSIZE |err| (a record over its limit): prefixes its message with
 * the largest field of |msg|, "|prefix|.annotations is 12582912 bytes: ...",
 * so the client learns what to shrink. Other errors are left alone.
 */
void crid_request_blame_largest(struct crid_err *err, const char *prefix,
				const ProtobufCMessage *msg);

#endif
