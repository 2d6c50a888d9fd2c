/* The incremental parser of the exec/attach resize stream (term_size.h). */
#include "runtime/stream/term_size.h"

#include <stdbool.h>
#include <string.h>
#include <strings.h>
#include <yajl/yajl_tree.h>

void crid_term_size_init(struct crid_term_size_parser *p)
{
	p->len = 0;
	p->skipping = 0;
}

static bool dim(yajl_val v, uint16_t *out)
{
	long long n;

	if (!YAJL_IS_INTEGER(v))
		return false;
	n = YAJL_GET_INTEGER(v);
	if (n < 0 || n > 65535)
		return false;
	*out = (uint16_t)n;
	return true;
}

/* Parses one complete line in |p->buf|; blank lines are skipped quietly. */
static void parse_line(struct crid_term_size_parser *p, crid_term_size_fn fn, void *user)
{
	uint16_t w = 0, h = 0;
	yajl_val root;
	size_t i;
	bool ok = true;

	p->buf[p->len] = '\0';
	if (strspn(p->buf, " \t\r") == p->len)
		return;
	root = yajl_tree_parse(p->buf, NULL, 0);
	if (!root || !YAJL_IS_OBJECT(root)) {
		yajl_tree_free(root);
		return;
	}
	for (i = 0; i < root->u.object.len && ok; i++) {
		const char *k = root->u.object.keys[i];
		yajl_val v = root->u.object.values[i];

		if (strcasecmp(k, "Width") == 0)
			ok = dim(v, &w);
		else if (strcasecmp(k, "Height") == 0)
			ok = dim(v, &h);
	}
	yajl_tree_free(root);
	if (ok)
		fn(user, w, h);
}

void crid_term_size_feed(struct crid_term_size_parser *p, const uint8_t *data, size_t len,
			 crid_term_size_fn fn, void *user)
{
	size_t i;

	for (i = 0; i < len; i++) {
		char c = (char)data[i];

		if (c == '\n') {
			if (!p->skipping)
				parse_line(p, fn, user);
			p->len = 0;
			p->skipping = 0;
		} else if (p->skipping) {
			continue;
		} else if (c == '\0' || p->len + 1 >= sizeof(p->buf)) {
			/* NUL would cut the line short for the parser; too long is garbage */
			p->skipping = 1;
			p->len = 0;
		} else {
			p->buf[p->len++] = c;
		}
	}
}
