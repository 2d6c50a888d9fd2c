/*
 * Request checks over protobuf-c descriptors. grpc-go's codec rejects a
 * `string` field holding invalid UTF-8 while decoding (google.golang.org/
 * protobuf: "string field contains invalid UTF-8"); protobuf-c copies the
 * bytes as they come. A pod accepted with such a name is stored, and every
 * ListPodSandbox reply after it is undecodable by kubelet, so the walk below
 * runs on every request before its handler (handlers/router.c calls it).
 */
#include "handlers/request_check.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "io/utf8.h"

/* ---- the walk ---- */

struct walk {
	char *path;
	size_t size;
	size_t *offset;
};

/* Appends to |w->path| at |at|; returns the new length (clamped to the buffer). */
static size_t __attribute__((format(printf, 3, 4)))
path_add(struct walk *w, size_t at, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (at >= w->size)
		return at;
	va_start(ap, fmt);
	n = vsnprintf(w->path + at, w->size - at, fmt, ap);
	va_end(ap);
	if (n < 0)
		return at;
	return at + (size_t)n < w->size ? at + (size_t)n : w->size - 1;
}

static const void *member(const ProtobufCMessage *m, unsigned offset)
{
	return (const char *)m + offset;
}

static bool str_ok(struct walk *w, const char *s)
{
	size_t len, at;

	if (!s)
		return true;
	len = strlen(s);
	at = crid_utf8_invalid_at((const uint8_t *)s, len);
	if (at == len)
		return true;
	*w->offset = at;
	return false;
}

/* map<string, V> fields arrive as repeated `XxxEntry { key = 1; value = 2; }` messages. */
static bool is_map_entry(const ProtobufCMessageDescriptor *d)
{
	size_t n = strlen(d->name);

	return n > 5 && strcmp(d->name + n - 5, "Entry") == 0 && d->n_fields == 2 &&
	       d->fields[0].id == 1 && strcmp(d->fields[0].name, "key") == 0 &&
	       d->fields[0].type == PROTOBUF_C_TYPE_STRING && d->fields[1].id == 2 &&
	       strcmp(d->fields[1].name, "value") == 0;
}

static bool msg_ok(struct walk *w, const ProtobufCMessage *m, size_t at);

static bool entry_ok(struct walk *w, const ProtobufCMessage *e, size_t at, size_t i)
{
	const ProtobufCFieldDescriptor *vf = &e->descriptor->fields[1];
	const char *key = *(char *const *)member(e, e->descriptor->fields[0].offset);

	if (!str_ok(w, key)) {
		path_add(w, at, "[%zu].key", i);
		return false;
	}
	at = path_add(w, at, "[\"%.64s%s\"]", key ? key : "", key && strlen(key) > 64 ? "..." : "");
	if (vf->type == PROTOBUF_C_TYPE_STRING)
		return str_ok(w, *(char *const *)member(e, vf->offset));
	if (vf->type == PROTOBUF_C_TYPE_MESSAGE)
		return msg_ok(w, *(ProtobufCMessage *const *)member(e, vf->offset), at);
	return true;
}

static bool repeated_ok(struct walk *w, const ProtobufCMessage *m,
			const ProtobufCFieldDescriptor *f, size_t at)
{
	size_t n = *(const size_t *)member(m, f->quantifier_offset);
	const void *arr = *(const void *const *)member(m, f->offset);

	for (size_t i = 0; i < n; i++) {
		if (f->type == PROTOBUF_C_TYPE_STRING) {
			if (!str_ok(w, ((char *const *)arr)[i])) {
				path_add(w, at, "[%zu]", i);
				return false;
			}
			continue;
		}
		const ProtobufCMessage *sub = ((ProtobufCMessage *const *)arr)[i];

		if (is_map_entry(f->descriptor) ? !entry_ok(w, sub, at, i)
						: !msg_ok(w, sub, path_add(w, at, "[%zu]", i)))
			return false;
	}
	return true;
}

static bool field_ok(struct walk *w, const ProtobufCMessage *m, const ProtobufCFieldDescriptor *f,
		     size_t at)
{
	if (f->type != PROTOBUF_C_TYPE_STRING && f->type != PROTOBUF_C_TYPE_MESSAGE)
		return true;
	if ((f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) &&
	    *(const uint32_t *)member(m, f->quantifier_offset) != f->id)
		return true; /* another member of the oneof is set */
	at = path_add(w, at, "%s%s", at ? "." : "", f->name);
	if (f->label == PROTOBUF_C_LABEL_REPEATED)
		return repeated_ok(w, m, f, at);
	if (f->type == PROTOBUF_C_TYPE_STRING)
		return str_ok(w, *(char *const *)member(m, f->offset));
	return msg_ok(w, *(ProtobufCMessage *const *)member(m, f->offset), at);
}

static bool msg_ok(struct walk *w, const ProtobufCMessage *m, size_t at)
{
	if (!m)
		return true;
	for (unsigned i = 0; i < m->descriptor->n_fields; i++) {
		w->path[at < w->size ? at : w->size - 1] = '\0';
		if (!field_ok(w, m, &m->descriptor->fields[i], at))
			return false;
	}
	return true;
}

bool crid_request_utf8_ok(const ProtobufCMessage *msg, char *path, size_t size, size_t *offset)
{
	struct walk w = { path, size, offset };

	if (!size)
		return true;
	path[0] = '\0';
	if (msg_ok(&w, msg, 0))
		return true;
	crid_utf8_scrub(path); /* a map key cut short mid-character goes into the reply */
	return false;
}

/* ---- sizes ---- */

static size_t one_size(const ProtobufCFieldDescriptor *f, const void *p)
{
	switch (f->type) {
	case PROTOBUF_C_TYPE_STRING:
		return *(char *const *)p ? strlen(*(char *const *)p) : 0;
	case PROTOBUF_C_TYPE_BYTES:
		return ((const ProtobufCBinaryData *)p)->len;
	case PROTOBUF_C_TYPE_MESSAGE:
		return *(ProtobufCMessage *const *)p
			   ? protobuf_c_message_get_packed_size(*(ProtobufCMessage *const *)p)
			   : 0;
	default:
		return 8; /* scalars: a handful of bytes at most */
	}
}

static size_t elem_size(ProtobufCType t)
{
	switch (t) {
	case PROTOBUF_C_TYPE_STRING:
		return sizeof(char *);
	case PROTOBUF_C_TYPE_MESSAGE:
		return sizeof(ProtobufCMessage *);
	case PROTOBUF_C_TYPE_BYTES:
		return sizeof(ProtobufCBinaryData);
	default:
		return 0; /* scalar arrays: not what makes a request big */
	}
}

static size_t field_size(const ProtobufCMessage *m, const ProtobufCFieldDescriptor *f)
{
	size_t n, total = 0, es = elem_size(f->type);
	const char *arr;

	if (f->label != PROTOBUF_C_LABEL_REPEATED)
		return one_size(f, member(m, f->offset));
	n = *(const size_t *)member(m, f->quantifier_offset);
	arr = *(const char *const *)member(m, f->offset);
	if (!es)
		return n * 8;
	for (size_t i = 0; i < n; i++)
		total += one_size(f, arr + i * es);
	return total;
}

size_t crid_request_largest_field(const ProtobufCMessage *msg, char *name, size_t size)
{
	size_t best = 0;

	if (size)
		name[0] = '\0';
	for (unsigned i = 0; msg && i < msg->descriptor->n_fields; i++) {
		const ProtobufCFieldDescriptor *f = &msg->descriptor->fields[i];
		size_t s;

		if ((f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) &&
		    *(const uint32_t *)member(msg, f->quantifier_offset) != f->id)
			continue;
		s = field_size(msg, f);
		if (s > best) {
			best = s;
			snprintf(name, size, "%s", f->name);
		}
	}
	return best;
}

void crid_request_blame_largest(struct crid_err *err, const char *prefix,
				const ProtobufCMessage *msg)
{
	char name[128];
	size_t n;

	if (!err || err->code != EMSGSIZE)
		return;
	n = crid_request_largest_field(msg, name, sizeof(name));
	if (n)
		crid_err_wrap(err, "%s.%s is %zu bytes", prefix, name, n);
}
