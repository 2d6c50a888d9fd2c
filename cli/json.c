/*
 * cridctl's JSON output: documents are generated compact with yajl, then
 * printed in the layout of Go's json.Indent(prefix "", indent "  "), the way
 * crictl prints them, so scripts and eyes used to crictl see the same shape.
 * The one JSON printer of every verb: documents, protobuf messages in
 * protojson style, and crictl's outputStatusData (status plus info) layout.
 * Calls only libc, yajl, protobuf-c and reactor/mem.
 */
#include <ctype.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cridctl.h"
#include "cli/pbfield.h"
#include "reactor/mem.h"

yajl_gen cridctl_json_new(void)
{
	return yajl_gen_alloc(NULL);
}

yajl_gen cridctl_json_begin(const char *verb)
{
	yajl_gen g = cridctl_json_new();

	if (!g)
		fprintf(stderr, "cridctl: %s: out of memory\n", verb);
	return g;
}

int cridctl_json_print_message(const ProtobufCMessage *m, const char *verb)
{
	yajl_gen g = cridctl_json_begin(verb);

	if (!g)
		return 1;
	cridctl_json_message(g, m, NULL, NULL);
	cridctl_json_print(g, stdout);
	return 0;
}

static void newline(FILE *f, int depth)
{
	fputc('\n', f);
	for (int i = 0; i < depth; i++)
		fputs("  ", f);
}

/* Go's json.Indent over compact input: "{}"/"[]" stay closed, ": " after keys. */
static void indent(FILE *f, const unsigned char *s, size_t n)
{
	bool in_str = false, esc = false;
	int depth = 0;

	for (size_t i = 0; i < n; i++) {
		unsigned char ch = s[i];

		if (in_str) {
			fputc(ch, f);
			if (esc)
				esc = false;
			else if (ch == '\\')
				esc = true;
			else if (ch == '"')
				in_str = false;
			continue;
		}
		switch (ch) {
		case '"':
			in_str = true;
			fputc(ch, f);
			break;
		case '{':
		case '[':
			fputc(ch, f);
			if (i + 1 < n && (s[i + 1] == '}' || s[i + 1] == ']')) {
				fputc(s[++i], f);
				break;
			}
			newline(f, ++depth);
			break;
		case '}':
		case ']':
			newline(f, --depth);
			fputc(ch, f);
			break;
		case ',':
			fputc(ch, f);
			newline(f, depth);
			break;
		case ':':
			fputs(": ", f);
			break;
		default:
			fputc(ch, f);
		}
	}
	fputc('\n', f);
}

void cridctl_json_print(yajl_gen g, FILE *f)
{
	const unsigned char *buf;
	size_t len;

	if (yajl_gen_get_buf(g, &buf, &len) == yajl_gen_status_ok)
		indent(f, buf, len);
	yajl_gen_free(g);
}

void cridctl_json_str(yajl_gen g, const char *s)
{
	yajl_gen_string(g, (const unsigned char *)s, strlen(s));
}

void cridctl_json_kv_str(yajl_gen g, const char *key, const char *value)
{
	cridctl_json_str(g, key);
	cridctl_json_str(g, value ? value : "");
}

void cridctl_json_kv_i64(yajl_gen g, const char *key, int64_t v)
{
	char buf[32];

	snprintf(buf, sizeof(buf), "%" PRId64, v);
	cridctl_json_kv_str(g, key, buf);
}

void cridctl_json_kv_u64(yajl_gen g, const char *key, uint64_t v)
{
	char buf[32];

	snprintf(buf, sizeof(buf), "%" PRIu64, v);
	cridctl_json_kv_str(g, key, buf);
}

void cridctl_json_kv_strv(yajl_gen g, const char *key, char *const *v, size_t n)
{
	cridctl_json_str(g, key);
	yajl_gen_array_open(g);
	for (size_t i = 0; i < n; i++)
		cridctl_json_str(g, v[i]);
	yajl_gen_array_close(g);
}

void cridctl_json_kv_map(yajl_gen g, const char *key, void *entries, size_t n, bool sort)
{
	struct cridctl_kv **e = entries;

	if (sort)
		cridctl_kv_sort(e, n);
	cridctl_json_str(g, key);
	yajl_gen_map_open(g);
	for (size_t i = 0; i < n; i++)
		cridctl_json_kv_str(g, e[i]->key, e[i]->value);
	yajl_gen_map_close(g);
}

void cridctl_json_kv_bool(yajl_gen g, const char *key, bool value)
{
	cridctl_json_str(g, key);
	yajl_gen_bool(g, value);
}

static int cmp_index(const void *a, const void *b, void *keys)
{
	const char **k = keys;

	return strcmp(k[*(const size_t *)a], k[*(const size_t *)b]);
}

static void sorted_object(yajl_gen g, yajl_val v)
{
	size_t n = v->u.object.len;
	size_t *order = crid_malloc((n ? n : 1) * sizeof(*order));

	yajl_gen_map_open(g);
	if (order) {
		for (size_t i = 0; i < n; i++)
			order[i] = i;
		qsort_r(order, n, sizeof(*order), cmp_index, v->u.object.keys);
		for (size_t i = 0; i < n; i++) {
			cridctl_json_str(g, v->u.object.keys[order[i]]);
			cridctl_json_sorted(g, v->u.object.values[order[i]]);
		}
		crid_free(order);
	}
	yajl_gen_map_close(g);
}

void cridctl_json_sorted(yajl_gen g, yajl_val v)
{
	if (!v) {
		yajl_gen_null(g);
		return;
	}
	switch (v->type) {
	case yajl_t_string:
		cridctl_json_str(g, v->u.string);
		break;
	case yajl_t_number: /* the number as written; Go would reformat it as float64 */
		yajl_gen_number(g, v->u.number.r, strlen(v->u.number.r));
		break;
	case yajl_t_object:
		sorted_object(g, v);
		break;
	case yajl_t_array:
		yajl_gen_array_open(g);
		for (size_t i = 0; i < v->u.array.len; i++)
			cridctl_json_sorted(g, v->u.array.values[i]);
		yajl_gen_array_close(g);
		break;
	case yajl_t_true:
		yajl_gen_bool(g, 1);
		break;
	case yajl_t_false:
		yajl_gen_bool(g, 0);
		break;
	default:
		yajl_gen_null(g);
	}
}

/* An info value: a JSON object is embedded, anything else is a string with quotes trimmed. */
void cridctl_json_info_value(yajl_gen g, const char *value)
{
	size_t start = 0, end = strlen(value);
	yajl_val v = NULL;

	if (value[0] == '{')
		v = yajl_tree_parse(value, NULL, 0);
	if (v && YAJL_IS_OBJECT(v)) {
		cridctl_json_sorted(g, v);
		yajl_tree_free(v);
		return;
	}
	yajl_tree_free(v);
	while (start < end && value[start] == '"')
		start++;
	while (end > start && value[end - 1] == '"')
		end--;
	yajl_gen_string(g, (const unsigned char *)value + start, end - start);
}

yajl_val cridctl_json_tree(void (*emit)(yajl_gen g, const void *arg), const void *arg)
{
	yajl_gen g = cridctl_json_new();
	const unsigned char *buf;
	size_t len;
	yajl_val v = NULL;

	if (!g)
		return NULL;
	emit(g, arg);
	if (yajl_gen_get_buf(g, &buf, &len) == yajl_gen_status_ok)
		v = yajl_tree_parse((const char *)buf, NULL, 0);
	yajl_gen_free(g);
	return v;
}

int cridctl_json_each(const char *verb, bool json, char *const *ids, size_t n,
		      int (*one)(void *user, const char *id, yajl_gen g), void *user)
{
	yajl_gen g = NULL;
	int rc = 0;

	if (n == 0) {
		fprintf(stderr, "cridctl: %s: no IDs provided or nothing found per filter\n", verb);
		return 1;
	}
	if (json && !(g = cridctl_json_begin(verb)))
		return 1;
	if (g && n > 1)
		yajl_gen_array_open(g);
	for (size_t i = 0; rc == 0 && i < n; i++)
		rc = one(user, ids[i], g) != 0;
	if (g && n > 1)
		yajl_gen_array_close(g);
	if (g && rc == 0)
		cridctl_json_print(g, stdout);
	else if (g)
		yajl_gen_free(g);
	return rc;
}

void cridctl_json_sorted_tree(yajl_gen g, const void *tree)
{
	cridctl_json_sorted(g, (yajl_val)tree);
}

/* Go's map order puts "status" among the info keys; only one "status" key is kept. */
void cridctl_json_status_doc(yajl_gen g, void (*status)(yajl_gen g, const void *arg),
			     const void *arg, void *info, size_t n_info, bool info_wins)
{
	struct cridctl_kv **e = info;
	bool done = false;

	cridctl_kv_sort(e, n_info);
	yajl_gen_map_open(g);
	for (size_t i = 0; i <= n_info; i++) {
		int c = i < n_info ? strcmp(e[i]->key, "status") : 1;

		if (!done && c >= 0) {
			done = true;
			if (c > 0 || !info_wins) {
				cridctl_json_str(g, "status");
				status(g, arg);
			}
		}
		if (i == n_info || (c == 0 && !info_wins))
			continue;
		cridctl_json_str(g, e[i]->key);
		cridctl_json_info_value(g, e[i]->value);
	}
	yajl_gen_map_close(g);
}

/* --- protobuf messages, protojson style ------------------------------------------- */

/* protojson's JSON name: lowerCamelCase of the proto field name. */
static void camel(const char *name, char *buf, size_t n)
{
	size_t o = 0;
	bool up = false;

	for (; *name && o + 1 < n; name++) {
		if (*name == '_') {
			up = true;
			continue;
		}
		buf[o++] = up ? (char)toupper((unsigned char)*name) : *name;
		up = false;
	}
	buf[o] = '\0';
}

static void json_i64(yajl_gen g, bool is_signed, uint64_t v)
{
	char buf[32];

	if (is_signed)
		snprintf(buf, sizeof(buf), "%" PRId64, (int64_t)v);
	else
		snprintf(buf, sizeof(buf), "%" PRIu64, v);
	cridctl_json_str(g, buf);
}

static void json_value(yajl_gen g, const ProtobufCFieldDescriptor *f, const void *p)
{
	const ProtobufCEnumValue *ev;

	switch (f->type) {
	case PROTOBUF_C_TYPE_INT32:
	case PROTOBUF_C_TYPE_SINT32:
	case PROTOBUF_C_TYPE_SFIXED32:
		yajl_gen_integer(g, *(const int32_t *)p);
		break;
	case PROTOBUF_C_TYPE_UINT32:
	case PROTOBUF_C_TYPE_FIXED32:
		yajl_gen_integer(g, *(const uint32_t *)p);
		break;
	case PROTOBUF_C_TYPE_INT64:
	case PROTOBUF_C_TYPE_SINT64:
	case PROTOBUF_C_TYPE_SFIXED64:
		json_i64(g, true, *(const uint64_t *)p);
		break;
	case PROTOBUF_C_TYPE_UINT64:
	case PROTOBUF_C_TYPE_FIXED64:
		json_i64(g, false, *(const uint64_t *)p);
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
	case PROTOBUF_C_TYPE_ENUM:
		ev = protobuf_c_enum_descriptor_get_value(f->descriptor, *(const int *)p);
		if (ev)
			cridctl_json_str(g, ev->name);
		else
			yajl_gen_integer(g, *(const int *)p);
		break;
	case PROTOBUF_C_TYPE_STRING:
		cridctl_json_str(g, *(char *const *)p ? *(char *const *)p : "");
		break;
	case PROTOBUF_C_TYPE_BYTES: /* rare in output; shown as text rather than base64 */
		yajl_gen_string(g, ((const ProtobufCBinaryData *)p)->data,
				((const ProtobufCBinaryData *)p)->len);
		break;
	case PROTOBUF_C_TYPE_MESSAGE:
		cridctl_json_message(g, *(ProtobufCMessage *const *)p, NULL, NULL);
		break;
	}
}

static void json_map_entries(yajl_gen g, const ProtobufCFieldDescriptor *f, void *const *ents,
			     size_t n)
{
	const ProtobufCMessageDescriptor *d = f->descriptor;

	yajl_gen_map_open(g);
	for (size_t i = 0; i < n; i++) {
		const char *e = ents[i];
		const ProtobufCFieldDescriptor *k = &d->fields[0], *v = &d->fields[1];

		if (k->type == PROTOBUF_C_TYPE_STRING) {
			cridctl_json_str(g, *(char *const *)(e + k->offset));
		} else {
			char buf[32];

			snprintf(buf, sizeof(buf), "%" PRId64,
				 cridctl_pb_elem_size(k->type) == 8
				     ? *(const int64_t *)(e + k->offset)
				     : *(const int32_t *)(e + k->offset));
			cridctl_json_str(g, buf);
		}
		json_value(g, v, e + v->offset);
	}
	yajl_gen_map_close(g);
}

static void json_field(yajl_gen g, const ProtobufCFieldDescriptor *f, const ProtobufCMessage *m)
{
	const char *base = (const char *)m;
	char key[128];

	camel(f->name, key, sizeof(key));
	if (f->label == PROTOBUF_C_LABEL_REPEATED) {
		size_t n = *(const size_t *)(base + f->quantifier_offset);
		const char *arr = *(const char *const *)(base + f->offset);

		cridctl_json_str(g, key);
		if (f->type == PROTOBUF_C_TYPE_MESSAGE && cridctl_pb_is_map_entry(f->descriptor)) {
			json_map_entries(g, f, (void *const *)arr, n);
			return;
		}
		yajl_gen_array_open(g);
		for (size_t i = 0; i < n; i++)
			json_value(g, f, arr + i * cridctl_pb_elem_size(f->type));
		yajl_gen_array_close(g);
		return;
	}
	if ((f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) &&
	    *(const uint32_t *)(base + f->quantifier_offset) != f->id)
		return;
	if (f->type == PROTOBUF_C_TYPE_MESSAGE && !*(ProtobufCMessage *const *)(base + f->offset))
		return;
	cridctl_json_str(g, key);
	json_value(g, f, base + f->offset);
}

void cridctl_json_message(yajl_gen g, const ProtobufCMessage *m, cridctl_json_hook hook, void *user)
{
	const ProtobufCMessageDescriptor *d = m->descriptor;

	yajl_gen_map_open(g);
	for (unsigned i = 0; i < d->n_fields; i++)
		if (!hook || !hook(g, &d->fields[i], m, user))
			json_field(g, &d->fields[i], m);
	yajl_gen_map_close(g);
}
