/*
 * Config files -> protobuf-c messages, driven by the descriptors so one
 * walker serves every CRI config message. crictl decodes with Go's
 * encoding/json over sigs.k8s.io/yaml; we mirror the accepted shapes (proto
 * field names, enums as numbers, maps as objects) and add enum names, the
 * camelCase names, and an error for every field we do not know.
 * Calls libc, libyaml, yajl, protobuf-c, pbfield.c and reactor/mem.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <yaml.h>
#include <yajl/yajl_gen.h>
#include <yajl/yajl_parse.h>
#include <yajl/yajl_tree.h>

#include "cli/pbfield.h"
#include "cli/podconfig.h"
#include "reactor/mem.h"

#define MAX_DEPTH 64

static void *pb_alloc(void *data, size_t n)
{
	(void)data;
	return crid_malloc(n ? n : 1);
}

static void pb_free(void *data, void *p)
{
	(void)data;
	crid_free(p);
}

static ProtobufCAllocator pb_allocator = { pb_alloc, pb_free, NULL };

void cridctl_config_free(ProtobufCMessage *m)
{
	if (m)
		protobuf_c_message_free_unpacked(m, &pb_allocator);
}

/* --- the walk over the tree -------------------------------------------------- */

struct walk {
	const char *kind, *name;
	char path[512]; /* "linux.security_context.namespace_options" */
	size_t path_len;
	struct crid_err *err;
};

static int field_err(struct walk *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int field_err(struct walk *w, const char *fmt, ...)
{
	char what[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	return crid_err_invalid(w->err, "%s `%s`: field `%s`: %s", w->kind, w->name, w->path, what);
}

/* Appends ".key" or "[i]" to the path; returns the length to restore. */
static size_t path_push(struct walk *w, const char *key, long index)
{
	size_t old = w->path_len;
	int n;

	if (key)
		n = snprintf(w->path + old, sizeof(w->path) - old, "%s%s", old ? "." : "", key);
	else
		n = snprintf(w->path + old, sizeof(w->path) - old, "[%ld]", index);
	if (n > 0)
		w->path_len =
		    old + (size_t)n < sizeof(w->path) ? old + (size_t)n : sizeof(w->path) - 1;
	return old;
}

static void path_pop(struct walk *w, size_t old)
{
	w->path_len = old;
	w->path[old] = '\0';
}

static const ProtobufCFieldDescriptor *find_field(const ProtobufCMessageDescriptor *d,
						  const char *key)
{
	const ProtobufCFieldDescriptor *f = protobuf_c_message_descriptor_get_field_by_name(d, key);
	char snake[128];
	size_t n = 0;

	if (f)
		return f;
	/* the camelCase JSON name (protojson, inspectp output): logDirectory -> log_directory */
	for (const char *p = key; *p && n + 2 < sizeof(snake); p++) {
		if (*p >= 'A' && *p <= 'Z') {
			snake[n++] = '_';
			snake[n++] = (char)(*p - 'A' + 'a');
		} else {
			snake[n++] = *p;
		}
	}
	snake[n] = '\0';
	return protobuf_c_message_descriptor_get_field_by_name(d, snake);
}

/* Integers: the number as written, no fraction, in range of the field's type. */
static int integer(struct walk *w, const ProtobufCFieldDescriptor *f, yajl_val v, void *dst)
{
	bool is_unsigned = f->type == PROTOBUF_C_TYPE_UINT32 ||
			   f->type == PROTOBUF_C_TYPE_FIXED32 ||
			   f->type == PROTOBUF_C_TYPE_UINT64 || f->type == PROTOBUF_C_TYPE_FIXED64;
	bool wide = cridctl_pb_elem_size(f->type) == 8;
	const char *s;
	char *end;

	if (!YAJL_IS_NUMBER(v))
		return field_err(w, "expected an integer");
	s = v->u.number.r;
	errno = 0;
	if (is_unsigned) {
		unsigned long long u = s[0] == '-' ? 0 : strtoull(s, &end, 10);

		if (s[0] == '-' || errno || *end || (!wide && u > UINT32_MAX))
			return field_err(w, "`%s` is not a %s", s, wide ? "uint64" : "uint32");
		if (wide)
			*(uint64_t *)dst = u;
		else
			*(uint32_t *)dst = (uint32_t)u;
		return 0;
	}
	long long i = strtoll(s, &end, 10);

	if (errno || *end || (!wide && (i < INT32_MIN || i > INT32_MAX)))
		return field_err(w, "`%s` is not an %s", s, wide ? "int64" : "int32");
	if (wide)
		*(int64_t *)dst = i;
	else
		*(int32_t *)dst = (int32_t)i;
	return 0;
}

/* An enum by number or by value name ("NODE"), as protojson accepts it. */
static int enum_value(struct walk *w, const ProtobufCFieldDescriptor *f, yajl_val v, void *dst)
{
	const ProtobufCEnumDescriptor *ed = f->descriptor;
	const ProtobufCEnumValue *ev = NULL;
	char names[256];
	size_t n = 0;

	if (YAJL_IS_STRING(v))
		ev = protobuf_c_enum_descriptor_get_value_by_name(ed, v->u.string);
	else if (YAJL_IS_INTEGER(v) && v->u.number.i >= INT32_MIN && v->u.number.i <= INT32_MAX)
		ev = protobuf_c_enum_descriptor_get_value(ed, (int)v->u.number.i);
	if (ev) {
		*(int *)dst = ev->value;
		return 0;
	}
	names[0] = '\0';
	for (unsigned i = 0; i < ed->n_values && n < sizeof(names); i++) {
		int k = snprintf(names + n, sizeof(names) - n, "%s%s=%d", i ? ", " : "",
				 ed->values[i].name, ed->values[i].value);

		if (k > 0)
			n += (size_t)k;
	}
	if (YAJL_IS_STRING(v))
		return field_err(w, "unknown value `%s` (%s)", v->u.string, names);
	return field_err(w, "expected one of %s", names);
}

/* Replaces the string at |dst| (|dflt| is the descriptor's default, not ours to free). */
static int set_string(struct walk *w, const char *s, char **dst, const void *dflt)
{
	char *copy = crid_strdup(s);

	if (!copy)
		return crid_err_set(w->err, ENOMEM, "%s `%s`", w->kind, w->name);
	if (*dst && *dst != dflt)
		crid_free(*dst);
	*dst = copy;
	return 0;
}

/*
 * A string. Numbers and booleans are taken as their text: YAML users write
 * `version: 1` for a label and mean the string (Go's decoder would refuse it).
 */
static int string_value(struct walk *w, yajl_val v, char **dst, const void *dflt)
{
	if (YAJL_IS_STRING(v))
		return set_string(w, v->u.string, dst, dflt);
	if (YAJL_IS_NUMBER(v))
		return set_string(w, v->u.number.r, dst, dflt);
	if (YAJL_IS_TRUE(v) || YAJL_IS_FALSE(v))
		return set_string(w, YAJL_IS_TRUE(v) ? "true" : "false", dst, dflt);
	return field_err(w, "expected a string");
}

/*
 * A bytes field (KeyValue.value, an env variable's value) from its text:
 * crictl's files carry the value itself, not base64, so the string's bytes
 * are the field's, as for string_value().
 */
static int bytes_value(struct walk *w, yajl_val v, ProtobufCBinaryData *dst)
{
	char *text = NULL;

	if (string_value(w, v, &text, NULL) < 0)
		return -1;
	if (dst->data)
		crid_free(dst->data);
	dst->data = (uint8_t *)text;
	dst->len = strlen(text);
	return 0;
}

static int fill_message(struct walk *w, const ProtobufCMessageDescriptor *d, ProtobufCMessage *m,
			yajl_val obj, int depth);

static int new_message(struct walk *w, const ProtobufCMessageDescriptor *d, yajl_val v, int depth,
		       ProtobufCMessage **dst)
{
	ProtobufCMessage *m;

	if (!YAJL_IS_OBJECT(v))
		return field_err(w, "expected an object");
	m = crid_malloc(d->sizeof_message);
	if (!m)
		return crid_err_set(w->err, ENOMEM, "%s `%s`", w->kind, w->name);
	protobuf_c_message_init(d, m);
	*dst = m; /* owned by the parent from here, freed with it on failure */
	return fill_message(w, d, m, v, depth + 1);
}

/* One value of field |f| into |dst| (the field itself, or one element of a repeated field). */
static int one_value(struct walk *w, const ProtobufCFieldDescriptor *f, yajl_val v, void *dst,
		     int depth)
{
	switch (f->type) {
	case PROTOBUF_C_TYPE_STRING:
		return string_value(w, v, dst, f->default_value);
	case PROTOBUF_C_TYPE_BOOL:
		if (!YAJL_IS_TRUE(v) && !YAJL_IS_FALSE(v))
			return field_err(w, "expected true or false");
		*(protobuf_c_boolean *)dst = YAJL_IS_TRUE(v);
		return 0;
	case PROTOBUF_C_TYPE_ENUM:
		return enum_value(w, f, v, dst);
	case PROTOBUF_C_TYPE_FLOAT:
	case PROTOBUF_C_TYPE_DOUBLE:
		if (!YAJL_IS_NUMBER(v))
			return field_err(w, "expected a number");
		if (f->type == PROTOBUF_C_TYPE_FLOAT)
			*(float *)dst = (float)strtod(v->u.number.r, NULL);
		else
			*(double *)dst = strtod(v->u.number.r, NULL);
		return 0;
	case PROTOBUF_C_TYPE_MESSAGE:
		return new_message(w, f->descriptor, v, depth, dst);
	case PROTOBUF_C_TYPE_BYTES:
		return bytes_value(w, v, dst);
	default:
		return integer(w, f, v, dst);
	}
}

/* A map<string,string> field from a JSON object: one Entry message per key. */
static int map_field(struct walk *w, const ProtobufCFieldDescriptor *f, char *m, yajl_val v)
{
	const ProtobufCMessageDescriptor *ed = f->descriptor;
	const ProtobufCFieldDescriptor *kf = &ed->fields[0], *vf = &ed->fields[1];
	ProtobufCMessage **entries;

	if (!YAJL_IS_OBJECT(v))
		return field_err(w, "expected an object of key: value");
	entries = crid_calloc(v->u.object.len ? v->u.object.len : 1, sizeof(*entries));
	if (!entries)
		return crid_err_set(w->err, ENOMEM, "%s `%s`", w->kind, w->name);
	*(ProtobufCMessage ***)(m + f->offset) = entries;
	for (size_t i = 0; i < v->u.object.len; i++) {
		char *e;
		size_t old;
		int rc;

		entries[i] = crid_malloc(ed->sizeof_message);
		if (!entries[i])
			return crid_err_set(w->err, ENOMEM, "%s `%s`", w->kind, w->name);
		protobuf_c_message_init(ed, entries[i]);
		*(size_t *)(m + f->quantifier_offset) = i + 1;
		e = (char *)entries[i];
		old = path_push(w, v->u.object.keys[i], 0);
		rc = string_value(w, v->u.object.values[i], (char **)(e + vf->offset),
				  vf->default_value);
		path_pop(w, old);
		if (rc < 0 || set_string(w, v->u.object.keys[i], (char **)(e + kf->offset),
					 kf->default_value) < 0)
			return -1;
	}
	return 0;
}

static int repeated_field(struct walk *w, const ProtobufCFieldDescriptor *f, char *m, yajl_val v,
			  int depth)
{
	size_t n, size = cridctl_pb_elem_size(f->type);
	char *arr;

	if (f->type == PROTOBUF_C_TYPE_MESSAGE && cridctl_pb_is_map_entry(f->descriptor))
		return map_field(w, f, m, v);
	if (!YAJL_IS_ARRAY(v))
		return field_err(w, "expected an array");
	n = v->u.array.len;
	arr = crid_calloc(n ? n : 1, size);
	if (!arr)
		return crid_err_set(w->err, ENOMEM, "%s `%s`", w->kind, w->name);
	*(void **)(m + f->offset) = arr;
	for (size_t i = 0; i < n; i++) {
		size_t old = path_push(w, NULL, (long)i);
		int rc;

		/* counted before it is filled: a half-filled element is freed with the rest */
		*(size_t *)(m + f->quantifier_offset) = i + 1;
		if (YAJL_IS_NULL(v->u.array.values[i]))
			rc = field_err(w, "null in an array");
		else
			rc = one_value(w, f, v->u.array.values[i], arr + i * size, depth);
		path_pop(w, old);
		if (rc < 0)
			return -1;
	}
	return 0;
}

static int set_field(struct walk *w, const ProtobufCFieldDescriptor *f, char *m, yajl_val v,
		     int depth)
{
	if (YAJL_IS_NULL(v)) /* Go's decoder leaves the field as it is */
		return 0;
	if (f->label == PROTOBUF_C_LABEL_REPEATED)
		return repeated_field(w, f, m, v, depth);
	if (one_value(w, f, v, m + f->offset, depth) < 0)
		return -1;
	if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF)
		*(uint32_t *)(m + f->quantifier_offset) = f->id;
	else if (f->label == PROTOBUF_C_LABEL_OPTIONAL && f->type != PROTOBUF_C_TYPE_STRING &&
		 f->type != PROTOBUF_C_TYPE_MESSAGE)
		*(protobuf_c_boolean *)(m + f->quantifier_offset) = 1;
	return 0;
}

static int fill_message(struct walk *w, const ProtobufCMessageDescriptor *d, ProtobufCMessage *m,
			yajl_val obj, int depth)
{
	uint64_t seen = 0;

	if (depth > MAX_DEPTH)
		return field_err(w, "nested deeper than %d levels", MAX_DEPTH);
	for (size_t i = 0; i < obj->u.object.len; i++) {
		const char *key = obj->u.object.keys[i];
		const ProtobufCFieldDescriptor *f = find_field(d, key);
		size_t old = path_push(w, key, 0), idx;
		int rc;

		if (!f) {
			crid_err_invalid(w->err, "%s `%s`: unknown field `%s`", w->kind, w->name,
					 w->path);
			return -1;
		}
		idx = (size_t)(f - d->fields);
		if (idx < 64 && (seen & (1ull << idx))) {
			field_err(w, "given twice");
			return -1;
		}
		if (idx < 64)
			seen |= 1ull << idx;
		rc = set_field(w, f, (char *)m, obj->u.object.values[i], depth);
		path_pop(w, old);
		if (rc < 0)
			return -1;
	}
	return 0;
}

/* --- JSON ------------------------------------------------------------------------ */

/* yajl_tree_parse reports no position; a bare parse of the same bytes gives the line. */
static int json_syntax_error(const char *kind, const char *name, const char *text, size_t len,
			     struct crid_err *err)
{
	yajl_handle h = yajl_alloc(NULL, NULL, NULL);
	yajl_status st;
	size_t off, line = 1;
	unsigned char *msg;

	if (!h)
		return crid_err_set(err, ENOMEM, "%s `%s`", kind, name);
	st = yajl_parse(h, (const unsigned char *)text, len);
	off = yajl_get_bytes_consumed(h);
	if (st == yajl_status_ok) {
		st = yajl_complete_parse(h);
		off = len; /* what is missing is missing at the end */
	}
	if (st == yajl_status_ok) {
		yajl_free(h);
		return 0;
	}
	for (size_t i = 0; i < off && i < len; i++)
		line += text[i] == '\n';
	msg = yajl_get_error(h, 0, NULL, 0);
	crid_err_invalid(err, "%s `%s`: line %zu: %s", kind, name, line,
			 msg ? (const char *)msg : "invalid JSON");
	/* yajl's message is "parse error: ...\n" */
	if (msg) {
		size_t n = strlen(err->msg);

		while (n && (err->msg[n - 1] == '\n' || err->msg[n - 1] == ' '))
			err->msg[--n] = '\0';
		yajl_free_error(h, msg);
	}
	yajl_free(h);
	return -1;
}

static int parse_json(const char *kind, const char *name, const char *text, size_t len,
		      yajl_val *out, struct crid_err *err)
{
	char ebuf[256];

	if (json_syntax_error(kind, name, text, len, err) < 0)
		return -1;
	*out = yajl_tree_parse(text, ebuf, sizeof(ebuf));
	if (!*out)
		return crid_err_invalid(err, "%s `%s`: %s", kind, name, ebuf);
	return 0;
}

/* --- YAML -> JSON text ------------------------------------------------------------ */

struct yaml_conv {
	yaml_parser_t parser;
	yajl_gen gen;
	int depth;
	bool in_map[MAX_DEPTH], want_key[MAX_DEPTH];
};

/* A plain scalar that is a JSON number as written (YAML 1.2 core schema, JSON-compatible). */
static bool json_number(const char *s)
{
	const char *p = s;

	if (*p == '-')
		p++;
	if (*p == '0')
		p++;
	else if (*p >= '1' && *p <= '9')
		while (*p >= '0' && *p <= '9')
			p++;
	else
		return false;
	if (*p == '.') {
		if (!(*++p >= '0' && *p <= '9'))
			return false;
		while (*p >= '0' && *p <= '9')
			p++;
	}
	if (*p == 'e' || *p == 'E') {
		p++;
		if (*p == '+' || *p == '-')
			p++;
		if (!(*p >= '0' && *p <= '9'))
			return false;
		while (*p >= '0' && *p <= '9')
			p++;
	}
	return *p == '\0';
}

static void yaml_scalar(struct yaml_conv *c, const yaml_event_t *ev)
{
	const char *s = (const char *)ev->data.scalar.value;
	size_t n = ev->data.scalar.length;
	bool key = c->depth > 0 && c->in_map[c->depth - 1] && c->want_key[c->depth - 1];

	if (c->depth > 0 && c->in_map[c->depth - 1])
		c->want_key[c->depth - 1] = !c->want_key[c->depth - 1];
	if (key || ev->data.scalar.style != YAML_PLAIN_SCALAR_STYLE) {
		yajl_gen_string(c->gen, (const unsigned char *)s, n);
	} else if (n == 0 || strcmp(s, "~") == 0 || strcmp(s, "null") == 0 ||
		   strcmp(s, "Null") == 0 || strcmp(s, "NULL") == 0) {
		yajl_gen_null(c->gen);
	} else if (strcmp(s, "true") == 0 || strcmp(s, "True") == 0 || strcmp(s, "TRUE") == 0) {
		yajl_gen_bool(c->gen, 1);
	} else if (strcmp(s, "false") == 0 || strcmp(s, "False") == 0 || strcmp(s, "FALSE") == 0) {
		yajl_gen_bool(c->gen, 0);
	} else if (json_number(s)) {
		yajl_gen_number(c->gen, s, n);
	} else {
		yajl_gen_string(c->gen, (const unsigned char *)s, n);
	}
}

/* Opens a mapping or sequence; a container is a value of its parent map (flip want_key). */
static int yaml_open(struct yaml_conv *c, bool map)
{
	if (c->depth >= MAX_DEPTH)
		return -1;
	if (c->depth > 0 && c->in_map[c->depth - 1]) {
		if (c->want_key[c->depth - 1])
			return -2;
		c->want_key[c->depth - 1] = true;
	}
	c->in_map[c->depth] = map;
	c->want_key[c->depth] = true;
	c->depth++;
	if (map)
		yajl_gen_map_open(c->gen);
	else
		yajl_gen_array_open(c->gen);
	return 0;
}

/* One event; returns 1 at the end of the first document, 0 to go on, -1 with |err| set. */
static int yaml_event(struct yaml_conv *c, const yaml_event_t *ev, const char *kind,
		      const char *name, struct crid_err *err)
{
	size_t line = ev->start_mark.line + 1;
	int rc;

	switch (ev->type) {
	case YAML_SCALAR_EVENT:
		yaml_scalar(c, ev);
		return 0;
	case YAML_MAPPING_START_EVENT:
	case YAML_SEQUENCE_START_EVENT:
		rc = yaml_open(c, ev->type == YAML_MAPPING_START_EVENT);
		if (rc == -1)
			return crid_err_invalid(err,
						"%s `%s`: line %zu: nested deeper than %d levels",
						kind, name, line, MAX_DEPTH);
		if (rc < 0)
			return crid_err_invalid(err, "%s `%s`: line %zu: a key must be a scalar",
						kind, name, line);
		return 0;
	case YAML_MAPPING_END_EVENT:
		c->depth--;
		yajl_gen_map_close(c->gen);
		return 0;
	case YAML_SEQUENCE_END_EVENT:
		c->depth--;
		yajl_gen_array_close(c->gen);
		return 0;
	case YAML_ALIAS_EVENT:
		return crid_err_invalid(err, "%s `%s`: line %zu: aliases are not supported", kind,
					name, line);
	case YAML_DOCUMENT_END_EVENT:
	case YAML_STREAM_END_EVENT:
		return 1;
	default:
		return 0;
	}
}

/* The first YAML document as compact JSON text in c->gen. */
static int yaml_to_json(struct yaml_conv *c, const char *kind, const char *name, const char *text,
			size_t len, struct crid_err *err)
{
	yaml_event_t ev;
	int rc = 0;

	yaml_parser_set_input_string(&c->parser, (const unsigned char *)text, len);
	while (rc == 0) {
		if (!yaml_parser_parse(&c->parser, &ev)) {
			const yaml_parser_t *p = &c->parser;

			return crid_err_invalid(
			    err, "%s `%s`: line %zu: %s%s%s", kind, name, p->problem_mark.line + 1,
			    p->problem ? p->problem : "invalid YAML", p->context ? " " : "",
			    p->context ? p->context : "");
		}
		rc = yaml_event(c, &ev, kind, name, err);
		yaml_event_delete(&ev);
	}
	return rc < 0 ? -1 : 0;
}

static int parse_yaml(const char *kind, const char *name, const char *text, size_t len,
		      yajl_val *out, struct crid_err *err)
{
	struct yaml_conv c = { .depth = 0 };
	const unsigned char *json;
	size_t jlen;
	int rc = -1;

	if (!yaml_parser_initialize(&c.parser))
		return crid_err_set(err, ENOMEM, "%s `%s`", kind, name);
	c.gen = yajl_gen_alloc(NULL);
	if (!c.gen) {
		yaml_parser_delete(&c.parser);
		return crid_err_set(err, ENOMEM, "%s `%s`", kind, name);
	}
	if (yaml_to_json(&c, kind, name, text, len, err) < 0)
		goto out;
	if (yajl_gen_get_buf(c.gen, &json, &jlen) != yajl_gen_status_ok || jlen == 0) {
		crid_err_invalid(err, "%s `%s`: no document", kind, name);
		goto out;
	}
	/* our own generator's output: a parse failure here can only be memory */
	*out = yajl_tree_parse((const char *)json, NULL, 0);
	if (!*out) {
		crid_err_set(err, ENOMEM, "%s `%s`", kind, name);
		goto out;
	}
	rc = 0;
out:
	yajl_gen_free(c.gen);
	yaml_parser_delete(&c.parser);
	return rc;
}

/* --- entry points ----------------------------------------------------------------- */

int cridctl_config_parse(const char *kind, const char *name, const char *text, size_t len,
			 const ProtobufCMessageDescriptor *desc, ProtobufCMessage **out,
			 struct crid_err *err)
{
	struct walk w = { .kind = kind, .name = name, .err = err };
	ProtobufCMessage *m = NULL;
	yajl_val tree = NULL;
	size_t i = 0;
	int rc;

	while (i < len && (text[i] == ' ' || text[i] == '\t' || text[i] == '\n' || text[i] == '\r'))
		i++;
	if (i < len && text[i] == '{')
		rc = parse_json(kind, name, text, len, &tree, err);
	else
		rc = parse_yaml(kind, name, text, len, &tree, err);
	if (rc < 0)
		return -1;
	if (!YAJL_IS_OBJECT(tree)) {
		yajl_tree_free(tree);
		return crid_err_invalid(err, "%s `%s`: expected an object at the top", kind, name);
	}
	rc = -1;
	m = crid_malloc(desc->sizeof_message);
	if (!m) {
		crid_err_set(err, ENOMEM, "%s `%s`", kind, name);
		goto out;
	}
	protobuf_c_message_init(desc, m);
	if (fill_message(&w, desc, m, tree, 0) < 0)
		goto out;
	*out = m;
	m = NULL;
	rc = 0;
out:
	cridctl_config_free(m);
	yajl_tree_free(tree);
	return rc;
}

static int read_file(const char *path, char **buf, size_t *len, struct crid_err *err)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat st;
	ssize_t n;
	size_t got = 0;

	if (fd < 0)
		return crid_err_set(err, errno, "open `%s`", path);
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size > CRIDCTL_CONFIG_MAX_BYTES) {
		crid_err_invalid(err, "`%s`: not a regular file of at most %d bytes", path,
				 CRIDCTL_CONFIG_MAX_BYTES);
		close(fd);
		return -1;
	}
	*buf = crid_malloc((size_t)st.st_size + 1);
	if (!*buf) {
		close(fd);
		return crid_err_set(err, ENOMEM, "read `%s`", path);
	}
	while (got < (size_t)st.st_size &&
	       (n = read(fd, *buf + got, (size_t)st.st_size - got)) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			crid_err_set(err, errno, "read `%s`", path);
			crid_free(*buf);
			close(fd);
			return -1;
		}
		got += (size_t)n;
	}
	close(fd);
	(*buf)[got] = '\0';
	*len = got;
	return 0;
}

int cridctl_podconfig_load(const char *path, Runtime__V1__PodSandboxConfig **out,
			   struct crid_err *err)
{
	Runtime__V1__PodSandboxConfig *c;
	ProtobufCMessage *m;
	char *text;
	size_t len = 0;
	int rc;

	if (read_file(path, &text, &len, err) < 0)
		return -1;
	rc = cridctl_config_parse("pod config", path, text, len,
				  &runtime__v1__pod_sandbox_config__descriptor, &m, err);
	crid_free(text);
	if (rc < 0)
		return -1;
	c = (Runtime__V1__PodSandboxConfig *)m;
	if (!c->metadata) {
		cridctl_config_free(m);
		return crid_err_invalid(err, "pod config `%s`: metadata is not set", path);
	}
	if (!c->metadata->name[0] || !c->metadata->namespace_[0]) {
		cridctl_config_free(m);
		return crid_err_invalid(err,
					"pod config `%s`: metadata.name and "
					"metadata.namespace must be set",
					path);
	}
	*out = c;
	return 0;
}

int cridctl_ctrconfig_load(const char *path, Runtime__V1__ContainerConfig **out,
			   struct crid_err *err)
{
	Runtime__V1__ContainerConfig *c;
	ProtobufCMessage *m;
	char *text;
	size_t len = 0;
	int rc;

	if (read_file(path, &text, &len, err) < 0)
		return -1;
	rc = cridctl_config_parse("container config", path, text, len,
				  &runtime__v1__container_config__descriptor, &m, err);
	crid_free(text);
	if (rc < 0)
		return -1;
	c = (Runtime__V1__ContainerConfig *)m;
	if (!c->metadata || !c->metadata->name[0]) {
		cridctl_config_free(m);
		return crid_err_invalid(err, "container config `%s`: metadata.name must be set",
					path);
	}
	if (!c->image || !c->image->image[0]) {
		cridctl_config_free(m);
		return crid_err_invalid(err, "container config `%s`: image.image must be set",
					path);
	}
	*out = c;
	return 0;
}
