/*
 * Unit tests for what every cridctl list and inspect verb shares: the one
 * filter (options, label selector, newest first with --latest/--last) and
 * the outputStatusData document of the one JSON printer.
 */
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "cli/cridctl.h"
#include "tap.h"

static void test_filter_opts(void)
{
	struct cridctl_filter f = { 0 };

	CHECK(cridctl_filter_opt(&f, "pods", 'l', NULL) == 0 && f.latest, "-l");
	CHECK(cridctl_filter_opt(&f, "pods", 'n', "3") == 0 && f.last == 3, "-n 3");
	CHECK(cridctl_filter_opt(&f, "pods", 'n', "x") < 0, "-n x refused");
	CHECK(cridctl_filter_opt(&f, "pods", 'n', "-1") < 0, "-n -1 refused");
	CHECK(cridctl_filter_opt(&f, "pods", 'N', "web") == 0 && strcmp(f.name, "web") == 0,
	      "--name");
	CHECK(cridctl_filter_opt(&f, "pods", 'q', NULL) == 1, "-q is not a filter option");
	for (int i = 0; i < CRIDCTL_MAX_LABELS; i++)
		cridctl_filter_opt(&f, "pods", 'L', "a=b");
	CHECK(f.n_labels == CRIDCTL_MAX_LABELS, "labels up to the limit");
	CHECK(cridctl_filter_opt(&f, "pods", 'L', "a=b") < 0, "one label too many refused");
}

static void test_filter_labels(void)
{
	struct cridctl_filter f = { .labels = { "app=web", "tier=" }, .n_labels = 2 };
	Runtime__V1__ContainerFilter__LabelSelectorEntry ents[CRIDCTL_MAX_LABELS];
	void *ptrs[CRIDCTL_MAX_LABELS];
	char buf[64];

	CHECK(cridctl_filter_labels(
		  &f, "ps", &runtime__v1__container_filter__label_selector_entry__descriptor, ents,
		  ptrs, buf, sizeof(buf)) == 0,
	      "k=v and k= accepted");
	CHECK(ptrs[0] == &ents[0] && strcmp(ents[0].key, "app") == 0 &&
		  strcmp(ents[0].value, "web") == 0,
	      "first entry app=web");
	CHECK(ptrs[1] == &ents[1] && strcmp(ents[1].key, "tier") == 0 && ents[1].value[0] == 0,
	      "second entry tier=");
	CHECK(ents[1].base.descriptor ==
		  &runtime__v1__container_filter__label_selector_entry__descriptor,
	      "entries initialized as their message type");
	f.labels[1] = "a=b=c";
	CHECK(cridctl_filter_labels(
		  &f, "ps", &runtime__v1__container_filter__label_selector_entry__descriptor, ents,
		  ptrs, buf, sizeof(buf)) < 0,
	      "two '=' refused, as crictl does");
	f.labels[1] = "plain";
	CHECK(cridctl_filter_labels(
		  &f, "ps", &runtime__v1__container_filter__label_selector_entry__descriptor, ents,
		  ptrs, buf, sizeof(buf)) < 0,
	      "no '=' refused");
}

static void test_newest(void)
{
	Runtime__V1__PodSandbox p[4] = { RUNTIME__V1__POD_SANDBOX__INIT,
					 RUNTIME__V1__POD_SANDBOX__INIT,
					 RUNTIME__V1__POD_SANDBOX__INIT,
					 RUNTIME__V1__POD_SANDBOX__INIT };
	Runtime__V1__PodSandbox *items[4] = { &p[0], &p[1], &p[2], &p[3] };
	size_t off = offsetof(Runtime__V1__PodSandbox, created_at);
	struct cridctl_filter f = { 0 };

	p[0].created_at = 20, p[1].created_at = 40, p[2].created_at = 10, p[3].created_at = 30;
	CHECK(cridctl_filter_newest(&f, items, 4, off) == 4, "no limit keeps all");
	CHECK(items[0] == &p[1] && items[1] == &p[3] && items[2] == &p[0] && items[3] == &p[2],
	      "newest first");
	f.latest = true;
	CHECK(cridctl_filter_newest(&f, items, 4, off) == 1, "--latest keeps one");
	f.last = 3;
	CHECK(cridctl_filter_newest(&f, items, 4, off) == 3, "--last wins over --latest");
	f.last = 9;
	CHECK(cridctl_filter_newest(&f, items, 4, off) == 4, "--last beyond the list keeps all");
	CHECK(cridctl_filter_newest(&f, items, 0, off) == 0, "empty list");
}

static void emit_str(yajl_gen g, const void *arg)
{
	cridctl_json_str(g, arg);
}

/* The compact document for info keys |keys|, valued "1", "2", ... in the order given. */
static void status_doc(const char *const *keys, size_t n, bool info_wins, char *out, size_t len)
{
	Runtime__V1__PodSandboxStatusResponse__InfoEntry e[4], *ptrs[4];
	char vals[4][24];
	yajl_gen g = cridctl_json_new();
	const unsigned char *buf;
	size_t blen;

	for (size_t i = 0; i < n; i++) {
		runtime__v1__pod_sandbox_status_response__info_entry__init(&e[i]);
		snprintf(vals[i], sizeof(vals[i]), "%zu", i + 1);
		e[i].key = (char *)keys[i];
		e[i].value = vals[i];
		ptrs[i] = &e[i];
	}
	cridctl_json_status_doc(g, emit_str, "S", ptrs, n, info_wins);
	yajl_gen_get_buf(g, &buf, &blen);
	snprintf(out, len, "%.*s", (int)blen, buf);
	yajl_gen_free(g);
}

static void test_status_doc(void)
{
	static const char *const mixed[] = { "zeta", "info", "alpha" };
	static const char *const clash[] = { "status", "a" };
	char doc[256];

	status_doc(mixed, 3, false, doc, sizeof(doc));
	CHECK(strcmp(doc, "{\"alpha\":\"3\",\"info\":\"2\",\"status\":\"S\",\"zeta\":\"1\"}") == 0,
	      "status among the info keys in Go map order: %s", doc);
	status_doc(NULL, 0, false, doc, sizeof(doc));
	CHECK(strcmp(doc, "{\"status\":\"S\"}") == 0, "no info: the status alone: %s", doc);
	status_doc(clash, 2, false, doc, sizeof(doc));
	CHECK(strcmp(doc, "{\"a\":\"2\",\"status\":\"S\"}") == 0,
	      "pods/containers: an info \"status\" is dropped: %s", doc);
	status_doc(clash, 2, true, doc, sizeof(doc));
	CHECK(strcmp(doc, "{\"a\":\"2\",\"status\":\"1\"}") == 0,
	      "images: an info \"status\" replaces the image: %s", doc);
}

int main(void)
{
	test_filter_opts();
	test_filter_labels();
	test_newest();
	test_status_doc();
	return tap_done();
}
