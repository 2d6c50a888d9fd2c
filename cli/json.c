/*
 * cridctl's JSON output: documents are generated compact with yajl, then
 * printed in the layout of Go's json.Indent(prefix "", indent "  "), the way
 * crictl prints them, so scripts and eyes used to crictl see the same shape.
 */
#include <stdlib.h>
#include <string.h>

#include "cli/cridctl.h"
#include "reactor/mem.h"

yajl_gen cridctl_json_new(void)
{
	return yajl_gen_alloc(NULL);
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
