/*
 * Serves no RPC by itself: the protobuf-as-JSON of verbose status
 * (handlers/status_info.c), as handlers/pb_json.h describes. Walks
 * protobuf-c descriptors only.
 */
#include "handlers/pb_json.h"

#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "reactor/mem.h"

#define GSTR(g, s) yajl_gen_string((g), (const unsigned char *)(s), strlen(s))

static void gen_u64(yajl_gen g, uint64_t v)
{
	char buf[24];
	int n = snprintf(buf, sizeof(buf), "%" PRIu64, v);

	yajl_gen_number(g, buf, (size_t)n);
}

/* Length of the valid UTF-8 sequence at |p| (at most |n| bytes), 0 when invalid. */
static size_t utf8_seq(const unsigned char *p, size_t n)
{
	size_t len = p[0] < 0x80		   ? 1
		     : p[0] >= 0xc2 && p[0] < 0xe0 ? 2
		     : p[0] >= 0xe0 && p[0] < 0xf0 ? 3
		     : p[0] >= 0xf0 && p[0] < 0xf5 ? 4
						   : 0;

	if (!len || len > n)
		return 0;
	for (size_t i = 1; i < len; i++)
		if ((p[i] & 0xc0) != 0x80)
			return 0;
	if ((len == 3 && p[0] == 0xe0 && p[1] < 0xa0) ||
	    (len == 3 && p[0] == 0xed && p[1] >= 0xa0) ||
	    (len == 4 && p[0] == 0xf0 && p[1] < 0x90) || (len == 4 && p[0] == 0xf4 && p[1] >= 0x90))
		return 0; /* overlong, surrogate, past U+10FFFF */
	return len;
}

/*
 * Text as Go's encoding/json writes a string: bytes that are not UTF-8 become
 * U+FFFD, so the info value stays valid UTF-8 (protobuf clients reject it
 * otherwise). KeyValue.value is `bytes` in crid's proto (env values need not
 * be UTF-8) but `string` upstream, so it is shown as text too.
 */
static void gen_text(yajl_gen g, const unsigned char *p, size_t n)
{
	unsigned char *copy;
	size_t i = 0, o = 0, k;

	while (i < n && (k = utf8_seq(p + i, n - i)))
		i += k;
	if (i == n) {
		yajl_gen_string(g, p, n);
		return;
	}
	copy = crid_malloc(n * 3 + 1);
	if (!copy) {
		yajl_gen_null(g);
		return;
	}
	for (i = 0; i < n;) {
		k = utf8_seq(p + i, n - i);
		if (k) {
			memcpy(copy + o, p + i, k);
			o += k, i += k;
		} else {
			memcpy(copy + o, "\xef\xbf\xbd", 3);
			o += 3, i++;
		}
	}
	yajl_gen_string(g, copy, o);
	crid_free(copy);
}

static void gen_str(yajl_gen g, const char *s)
{
	gen_text(g, (const unsigned char *)(s ? s : ""), s ? strlen(s) : 0);
}

static size_t elem_size(ProtobufCType t)
{
	switch (t) {
	case PROTOBUF_C_TYPE_INT64:
	case PROTOBUF_C_TYPE_SINT64:
	case PROTOBUF_C_TYPE_SFIXED64:
	case PROTOBUF_C_TYPE_UINT64:
	case PROTOBUF_C_TYPE_FIXED64:
	case PROTOBUF_C_TYPE_DOUBLE:
		return 8;
	case PROTOBUF_C_TYPE_BOOL:
		return sizeof(protobuf_c_boolean);
	case PROTOBUF_C_TYPE_STRING:
	case PROTOBUF_C_TYPE_MESSAGE:
		return sizeof(void *);
	case PROTOBUF_C_TYPE_BYTES:
		return sizeof(ProtobufCBinaryData);
	default:
		return 4;
	}
}

/* Go's omitempty: the zero value of the field's type is left out. */
static bool is_zero(const ProtobufCFieldDescriptor *f, const void *p)
{
	switch (f->type) {
	case PROTOBUF_C_TYPE_STRING:
		return !*(char *const *)p || !**(char *const *)p;
	case PROTOBUF_C_TYPE_MESSAGE:
		return !*(void *const *)p;
	case PROTOBUF_C_TYPE_BYTES:
		return ((const ProtobufCBinaryData *)p)->len == 0;
	case PROTOBUF_C_TYPE_BOOL:
		return !*(const protobuf_c_boolean *)p;
	case PROTOBUF_C_TYPE_FLOAT:
		return *(const float *)p == 0;
	case PROTOBUF_C_TYPE_DOUBLE:
		return *(const double *)p == 0;
	default:
		return elem_size(f->type) == 8 ? *(const uint64_t *)p == 0
					       : *(const uint32_t *)p == 0;
	}
}

static void gen_value(yajl_gen g, const ProtobufCFieldDescriptor *f, const void *p)
{
	switch (f->type) {
	case PROTOBUF_C_TYPE_INT32:
	case PROTOBUF_C_TYPE_SINT32:
	case PROTOBUF_C_TYPE_SFIXED32:
	case PROTOBUF_C_TYPE_ENUM: /* Go enums are int32: numbers, not names */
		yajl_gen_integer(g, *(const int32_t *)p);
		break;
	case PROTOBUF_C_TYPE_UINT32:
	case PROTOBUF_C_TYPE_FIXED32:
		yajl_gen_integer(g, *(const uint32_t *)p);
		break;
	case PROTOBUF_C_TYPE_INT64:
	case PROTOBUF_C_TYPE_SINT64:
	case PROTOBUF_C_TYPE_SFIXED64:
		yajl_gen_integer(g, (long long)*(const int64_t *)p);
		break;
	case PROTOBUF_C_TYPE_UINT64:
	case PROTOBUF_C_TYPE_FIXED64:
		gen_u64(g, *(const uint64_t *)p);
		break;
	case PROTOBUF_C_TYPE_FLOAT:
		yajl_gen_double(g, *(const float *)p);
		break;
	case PROTOBUF_C_TYPE_DOUBLE:
		yajl_gen_double(g, *(const double *)p);
		break;
	case PROTOBUF_C_TYPE_BOOL:
		yajl_gen_bool(g, *(const protobuf_c_boolean *)p);
		break;
	case PROTOBUF_C_TYPE_STRING:
		gen_str(g, *(char *const *)p);
		break;
	case PROTOBUF_C_TYPE_BYTES:
		gen_text(g, ((const ProtobufCBinaryData *)p)->data,
			 ((const ProtobufCBinaryData *)p)->len);
		break;
	case PROTOBUF_C_TYPE_MESSAGE:
		crid_pb_json_gen(g, *(ProtobufCMessage *const *)p);
		break;
	}
}

static bool is_map_entry(const ProtobufCMessageDescriptor *d)
{
	size_t n = strlen(d->name);

	return d->n_fields == 2 && n > 5 && strcmp(d->name + n - 5, "Entry") == 0 &&
	       strcmp(d->fields[0].name, "key") == 0 && strcmp(d->fields[1].name, "value") == 0;
}

/* map<string, V> arrives as repeated {key, value} entries; Go shows it as an object. */
static void gen_map(yajl_gen g, const ProtobufCFieldDescriptor *f, void *const *ents, size_t n)
{
	const ProtobufCMessageDescriptor *d = f->descriptor;
	const ProtobufCFieldDescriptor *k = &d->fields[0], *v = &d->fields[1];
	char buf[24];

	yajl_gen_map_open(g);
	for (size_t i = 0; i < n; i++) {
		const char *e = ents[i];

		if (k->type == PROTOBUF_C_TYPE_STRING) {
			gen_str(g, *(char *const *)(e + k->offset));
		} else {
			snprintf(buf, sizeof(buf), "%" PRId64,
				 elem_size(k->type) == 8 ? *(const int64_t *)(e + k->offset)
							 : *(const int32_t *)(e + k->offset));
			GSTR(g, buf);
		}
		gen_value(g, v, e + v->offset);
	}
	yajl_gen_map_close(g);
}

static void gen_repeated(yajl_gen g, const ProtobufCFieldDescriptor *f, const char *base)
{
	size_t n = *(const size_t *)(base + f->quantifier_offset);
	const char *arr = *(char *const *)(base + f->offset);
	size_t sz = elem_size(f->type);

	if (!n)
		return;
	GSTR(g, f->name);
	if (f->type == PROTOBUF_C_TYPE_MESSAGE && is_map_entry(f->descriptor)) {
		gen_map(g, f, (void *const *)arr, n);
		return;
	}
	yajl_gen_array_open(g);
	for (size_t i = 0; i < n; i++)
		gen_value(g, f, arr + i * sz);
	yajl_gen_array_close(g);
}

static void gen_field(yajl_gen g, const ProtobufCFieldDescriptor *f, const char *base)
{
	const void *p = base + f->offset;

	if (f->label == PROTOBUF_C_LABEL_REPEATED) {
		gen_repeated(g, f, base);
		return;
	}
	if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) {
		if (*(const uint32_t *)(base + f->quantifier_offset) != f->id)
			return;
	} else if (f->label == PROTOBUF_C_LABEL_OPTIONAL && f->quantifier_offset &&
		   f->type != PROTOBUF_C_TYPE_MESSAGE && f->type != PROTOBUF_C_TYPE_STRING) {
		if (!*(const protobuf_c_boolean *)(base + f->quantifier_offset))
			return;
	}
	if (is_zero(f, p))
		return;
	GSTR(g, f->name);
	gen_value(g, f, p);
}

void crid_pb_json_gen(yajl_gen g, const ProtobufCMessage *m)
{
	if (!m) {
		yajl_gen_null(g);
		return;
	}
	yajl_gen_map_open(g);
	for (unsigned i = 0; i < m->descriptor->n_fields; i++)
		gen_field(g, &m->descriptor->fields[i], (const char *)m);
	yajl_gen_map_close(g);
}
