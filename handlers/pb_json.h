/*
 * A protobuf message as JSON the way containerd shows CRI configs in verbose
 * status: Go's encoding/json over the cri-api structs, so keys are the proto
 * field names (`log_path`, `security_context`), zero values are left out
 * (omitempty), enums and 64-bit integers are numbers, maps are objects, and
 * text that is not UTF-8 is shown with U+FFFD as Go would. `crictl inspect | jq .info.config.log_path` then reads
 * the same on crid as on containerd.
 */
#ifndef CRID_HANDLERS_PB_JSON_H
#define CRID_HANDLERS_PB_JSON_H

#include <protobuf-c/protobuf-c.h>
#include <yajl/yajl_gen.h>

/* Writes |m| (NULL: JSON null) to |g| as one object. */
void crid_pb_json_gen(yajl_gen g, const ProtobufCMessage *m);

#endif
