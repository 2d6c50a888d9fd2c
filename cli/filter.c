/*
 * cridctl's one filter: what a list verb (pods, ps, inspect, inspectp, rmp)
 * shows, selected and ordered as crictl does (cri-tools cmd/crictl
 * sandbox.go, container.go): the shared filter options, name and namespace
 * regexps applied client-side, label selectors sent to the daemon, newest
 * first cut by --latest/--last; and the string maps those lists carry.
 * Calls only libc, protobuf-c and reactor/mem.
 */
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cridctl.h"
#include "reactor/mem.h"

int cridctl_filter_opt(struct cridctl_filter *f, const char *verb, int opt, const char *arg)
{
	char *end;

	switch (opt) {
	case 'l':
		f->latest = true;
		return 0;
	case 'n':
		f->last = strtol(arg, &end, 10);
		if (*end || f->last < 0) {
			fprintf(stderr, "cridctl: %s: invalid --last `%s`\n", verb, arg);
			return -1;
		}
		return 0;
	case 's':
		f->state = arg;
		return 0;
	case 'I':
		f->id = arg;
		return 0;
	case 'N':
		f->name = arg;
		return 0;
	case 'S':
		f->ns = arg;
		return 0;
	case 'L':
		if (f->n_labels == CRIDCTL_MAX_LABELS) {
			fprintf(stderr, "cridctl: %s: more than %d labels\n", verb,
				CRIDCTL_MAX_LABELS);
			return -1;
		}
		f->labels[f->n_labels++] = arg;
		return 0;
	default:
		return 1;
	}
}

bool cridctl_filter_matches(const char *pattern, const char *s)
{
	regex_t re;
	bool ok;

	if (!pattern || !pattern[0])
		return true;
	if (regcomp(&re, pattern, REG_EXTENDED | REG_NOSUB) != 0)
		return false;
	ok = regexec(&re, s ? s : "", 0, NULL, 0) == 0;
	regfree(&re);
	return ok;
}

int cridctl_filter_labels(const struct cridctl_filter *f, const char *verb,
			  const ProtobufCMessageDescriptor *desc, void *ents, void **ptrs,
			  char *buf, size_t buflen)
{
	size_t used = 0;

	for (size_t i = 0; i < f->n_labels; i++) {
		const char *l = f->labels[i], *eq = strchr(l, '=');
		struct cridctl_kv *e = (void *)((char *)ents + i * desc->sizeof_message);
		size_t n = strlen(l) + 1;

		if (!eq || strchr(eq + 1, '=') || used + n > buflen) {
			fprintf(stderr, "cridctl: %s: incorrectly specified label: %s\n", verb, l);
			return -1;
		}
		memcpy(buf + used, l, n);
		buf[used + (size_t)(eq - l)] = '\0';
		protobuf_c_message_init(desc, e);
		e->key = buf + used;
		e->value = buf + used + (size_t)(eq - l) + 1;
		ptrs[i] = e;
		used += n;
	}
	return 0;
}

static int newest_first(const void *a, const void *b, void *off)
{
	int64_t x = *(const int64_t *)(*(const char *const *)a + *(size_t *)off);
	int64_t y = *(const int64_t *)(*(const char *const *)b + *(size_t *)off);

	return (x < y) - (x > y);
}

size_t cridctl_filter_newest(const struct cridctl_filter *f, void *items, size_t n,
			     size_t created_off)
{
	size_t keep = f->latest ? 1 : n;

	if (n)
		qsort_r(items, n, sizeof(void *), newest_first, &created_off);
	if (f->last > 0)
		keep = (size_t)f->last;
	return keep < n ? keep : n;
}

static int kv_cmp(const void *a, const void *b)
{
	return strcmp((*(struct cridctl_kv *const *)a)->key, (*(struct cridctl_kv *const *)b)->key);
}

void cridctl_kv_sort(void *entries, size_t n)
{
	if (n)
		qsort(entries, n, sizeof(struct cridctl_kv *), kv_cmp);
}

const char *cridctl_kv_get(void *entries, size_t n, const char *key)
{
	struct cridctl_kv **e = entries;

	for (size_t i = 0; i < n; i++)
		if (strcmp(e[i]->key, key) == 0)
			return e[i]->value;
	return "unknown";
}

void cridctl_ids_free(char **ids, size_t n)
{
	for (size_t i = 0; ids && i < n; i++)
		crid_free(ids[i]);
	crid_free(ids);
}
