/* cridctl tables, laid out as crictl's Go tabwriter lays them out. */
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
