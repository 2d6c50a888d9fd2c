/*
 * libFuzzer target for handlers/request_check: the first byte picks a CRI
 * method, the rest is decoded as its request by protobuf-c and walked. The
 * walk must never crash, and its verdict must agree with a flat re-check:
 * when it accepts, every string it could reach is valid UTF-8, so packing
 * the message again and walking the copy accepts too; when it rejects, the
 * path it names is itself valid UTF-8 (it goes into the gRPC reply).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "handlers/request_check.h"
#include "io/utf8.h"
#include "proto/api.pb-c.h"

static const ProtobufCMessageDescriptor *pick(uint8_t b)
{
	const ProtobufCServiceDescriptor *rt = &runtime__v1__runtime_service__descriptor;
	const ProtobufCServiceDescriptor *img = &runtime__v1__image_service__descriptor;
	unsigned i = b % (rt->n_methods + img->n_methods);

	return i < rt->n_methods ? rt->methods[i].input : img->methods[i - rt->n_methods].input;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const ProtobufCMessageDescriptor *d;
	ProtobufCMessage *m, *again;
	char path[256], name[128];
	size_t at, len;
	uint8_t *buf;
	bool ok;

	if (size < 1)
		return 0;
	d = pick(data[0]);
	m = protobuf_c_message_unpack(d, NULL, size - 1, data + 1);
	if (!m)
		return 0;
	ok = crid_request_utf8_ok(m, path, sizeof(path), &at);
	if (!ok && crid_utf8_invalid_at((const uint8_t *)path, strlen(path)) != strlen(path))
		abort();
	crid_request_largest_field(m, name, sizeof(name));
	if (ok) {
		len = protobuf_c_message_get_packed_size(m);
		buf = malloc(len + 1);
		if (!buf)
			abort();
		protobuf_c_message_pack(m, buf);
		/* NULL: protobuf-c keeps some unknown fields (tag 0) it cannot read back */
		again = protobuf_c_message_unpack(d, NULL, len, buf);
		if (again && !crid_request_utf8_ok(again, path, sizeof(path), &at))
			abort();
		if (again)
			protobuf_c_message_free_unpacked(again, NULL);
		free(buf);
	}
	protobuf_c_message_free_unpacked(m, NULL);
	return 0;
}
