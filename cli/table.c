/*
 * cridctl's one table writer: every verb's table laid out as crictl's Go
 * tabwriter lays it out, and the verbose text blocks (string maps, info)
 * crictl prints beside its tables. Calls only libc and reactor/mem.
 */
#include <stdio.h>
#include <string.h>

#include "cli/cridctl.h"
#include "reactor/mem.h"

int cridctl_table_add(struct cridctl_table *t, const char *const *vals)
{
	if (t->rows == t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 16;
		void *p = crid_realloc(t->cells, cap * sizeof(*t->cells));

		if (!p)
			return -1;
		t->cells = p;
		t->cap = cap;
	}
	for (size_t c = 0; c < t->cols; c++)
		t->cells[t->rows][c] = crid_strdup(vals[c]);
	for (size_t c = 0; c < t->cols; c++)
		if (!t->cells[t->rows][c]) {
			for (size_t d = 0; d < t->cols; d++)
				crid_free(t->cells[t->rows][d]);
			return -1;
		}
	t->rows++;
	return 0;
}

/* Go tabwriter(minwidth 20, tabwidth 1, padding 3, ' ', 0); the last column is not padded. */
void cridctl_table_print(const struct cridctl_table *t)
{
	size_t width[CRIDCTL_TABLE_COLS] = { 0 };

	for (size_t r = 0; r < t->rows; r++)
		for (size_t c = 0; c + 1 < t->cols; c++) {
			size_t w = strlen(t->cells[r][c]) + 3;

			if (w > width[c])
				width[c] = w;
		}
	for (size_t c = 0; c + 1 < t->cols; c++)
		if (width[c] < 20)
			width[c] = 20;
	for (size_t r = 0; r < t->rows; r++) {
		for (size_t c = 0; c + 1 < t->cols; c++)
			printf("%-*s", (int)width[c], t->cells[r][c]);
		printf("%s\n", t->cells[r][t->cols - 1]);
	}
}

void cridctl_table_free(struct cridctl_table *t)
{
	for (size_t r = 0; r < t->rows; r++)
		for (size_t c = 0; c < t->cols; c++)
			crid_free(t->cells[r][c]);
	crid_free(t->cells);
}

int cridctl_table_finish(struct cridctl_table *t, int rc, const char *verb)
{
	if (rc == 0)
		cridctl_table_print(t);
	else if (verb)
		fprintf(stderr, "cridctl: %s: out of memory\n", verb);
	cridctl_table_free(t);
	return rc != 0;
}

void cridctl_text_map(const char *title, void *entries, size_t n)
{
	struct cridctl_kv **e = entries;

	if (!n)
		return;
	cridctl_kv_sort(e, n);
	printf("%s:\n", title);
	for (size_t i = 0; i < n; i++)
		printf("\t%s -> %s\n", e[i]->key, e[i]->value);
}

void cridctl_text_info(void *entries, size_t n)
{
	struct cridctl_kv **e = entries;

	cridctl_kv_sort(e, n);
	printf("Info: map[");
	for (size_t i = 0; i < n; i++)
		printf("%s%s:%s", i ? " " : "", e[i]->key, e[i]->value);
	printf("]\n");
}
