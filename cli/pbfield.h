/* Protobuf-c field reflection shared by cridctl's JSON printer and config reader. */
#ifndef CRIDCTL_PBFIELD_H
#define CRIDCTL_PBFIELD_H

#include <stdbool.h>
#include <stddef.h>

#include <protobuf-c/protobuf-c.h>

/* |d| is a map<string, ...> entry as protoc generates it ("...Entry" of key and value). */
bool cridctl_pb_is_map_entry(const ProtobufCMessageDescriptor *d);

/* Bytes one element of a repeated field of type |t| takes in its array. */
size_t cridctl_pb_elem_size(ProtobufCType t);

#endif
