/* Unit tests for runtime/cni_status: which CNI config wins, and when it is re-read. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "reactor/log.h"
#include "reactor/mem.h"
#include "runtime/cni/cni_status.h"
#include "tap.h"

#define REAL_PLUGIN_DIR "/usr/lib/cni"
#define SHIPPED_CONFLIST "cni/10-crid-bridge.conflist"
#define NOT_READY "NetworkPluginNotReady"
#define SMALL_CONF "{\"cniVersion\": \"1.0.0\", \"name\": \"n\", \"type\": \"bridge\"}"

static char root[64];
static char conf_dir[128];
static char bin_dir[128];
static char bin_dir2[128];

static void die(const char *what)
{
	fprintf(stderr, "test setup: %s: %s\n", what, strerror(errno));
	exit(2);
}

static void write_file(const char *dir, const char *name, const char *content, mode_t mode)
{
	char path[512];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "w");
	if (!f || fputs(content, f) < 0 || fclose(f) != 0)
		die(path);
	if (chmod(path, mode) < 0)
		die(path);
}

static void remove_file(const char *dir, const char *name)
{
	char path[512];

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	if (unlink(path) < 0)
		die(path);
}

/* Sets mtime (and atime) of |path| to |secs| seconds in the past plus |nsec|. */
static void backdate(const char *path, time_t secs, long nsec)
{
	struct timespec ts[2];

	clock_gettime(CLOCK_REALTIME, &ts[0]);
	ts[0].tv_sec -= secs;
	ts[0].tv_nsec = nsec;
	ts[1] = ts[0];
	if (utimensat(AT_FDCWD, path, ts, 0) < 0)
		die(path);
}

static void backdate_in(const char *dir, const char *name, time_t secs, long nsec)
{
	char path[512];

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	backdate(path, secs, nsec);
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static void empty_conf_dir(void)
{
	nftw(conf_dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	if (mkdir(conf_dir, 0755) < 0)
		die(conf_dir);
}

static struct crid_cni_watch *new_watch(const char *dir, const char *d1, const char *d2)
{
	char *dirs[2] = { (char *)d1, (char *)d2 };
	struct crid_strv sv = { dirs, d2 ? 2 : (d1 ? 1 : 0) };
	struct crid_cni_watch *w = crid_cni_watch_new(dir, &sv);

	if (!w)
		die("crid_cni_watch_new");
	return w;
}

static struct crid_cni_watch *new_watch_maybe(const char *dir, const char *d1)
{
	char *dirs[1] = { (char *)d1 };
	struct crid_strv sv = { dirs, 1 };

	return crid_cni_watch_new(dir, &sv);
}

/* Status of a fresh watch on conf_dir with bin_dir as the only plugin dir. */
static struct crid_cni_status status_once(void)
{
	struct crid_cni_watch *w = new_watch(conf_dir, bin_dir, NULL);
	struct crid_cni_status st = *crid_cni_watch_status(w);

	crid_cni_watch_free(w);
	return st;
}

static bool has(const char *hay, const char *needle)
{
	bool ok = strstr(hay, needle) != NULL;

	if (!ok)
		printf("# `%s` not in `%s`\n", needle, hay);
	return ok;
}

static bool not_ready_with(const struct crid_cni_status *st, const char *needle)
{
	return !st->ready && strcmp(st->reason, NOT_READY) == 0 &&
	       has(st->message, "Network plugin returns error: ") && has(st->message, needle) &&
	       !st->network[0] && !st->config_file[0];
}

static const char *conflist(const char *name, const char *t1, const char *t2)
{
	static char buf[512];

	snprintf(buf, sizeof(buf),
		 "{\"cniVersion\": \"1.0.0\", \"name\": \"%s\", \"plugins\": ["
		 "{\"type\": \"%s\", \"bridge\": \"x0\"}, {\"type\": \"%s\"}]}",
		 name, t1, t2);
	return buf;
}

static void setup(void)
{
	snprintf(root, sizeof(root), "/tmp/crid-cni-test-XXXXXX");
	if (!mkdtemp(root))
		die("mkdtemp");
	snprintf(conf_dir, sizeof(conf_dir), "%s/net.d", root);
	snprintf(bin_dir, sizeof(bin_dir), "%s/bin", root);
	snprintf(bin_dir2, sizeof(bin_dir2), "%s/bin2", root);
	if (mkdir(conf_dir, 0755) < 0 || mkdir(bin_dir, 0755) < 0)
		die("mkdir");
	write_file(bin_dir, "bridge", "#!/bin/sh\n", 0755);
	write_file(bin_dir, "portmap", "#!/bin/sh\n", 0755);
	write_file(bin_dir, "noexec", "#!/bin/sh\n", 0644);
}

static void test_missing_and_empty(void)
{
	char missing[256], want[512];
	struct crid_cni_watch *w;
	struct crid_cni_status st;

	snprintf(missing, sizeof(missing), "%s/nonexistent", root);
	w = new_watch(missing, bin_dir, NULL);
	st = *crid_cni_watch_status(w);
	snprintf(want, sizeof(want),
		 "Network plugin returns error: No CNI configuration file in %s. Has your network "
		 "provider started?",
		 missing);
	CHECK(!st.ready && strcmp(st.reason, NOT_READY) == 0 && strcmp(st.message, want) == 0,
	      "missing conf dir: CRI-O's message");
	crid_cni_watch_free(w);

	st = status_once();
	CHECK(not_ready_with(&st, "No CNI configuration file in "), "empty conf dir");

	write_file(conf_dir, "README.txt", "hello", 0644);
	write_file(conf_dir, "10-x.conf~", conflist("x", "bridge", "portmap"), 0644);
	snprintf(want, sizeof(want), "%s/20-dir.conf", conf_dir);
	if (mkdir(want, 0755) < 0)
		die(want);
	st = status_once();
	CHECK(not_ready_with(&st, "No CNI configuration file in "),
	      "other extensions and directories are not configs");
	empty_conf_dir();
}

static void test_valid_conflist(void)
{
	struct crid_cni_status st;
	char want[512];

	write_file(conf_dir, "10-net.conflist", conflist("mynet", "bridge", "portmap"), 0644);
	st = status_once();
	snprintf(want, sizeof(want), "%s/10-net.conflist", conf_dir);
	CHECK(st.ready && !st.reason[0] && !st.message[0], "valid conflist: ready, no reason");
	CHECK(strcmp(st.network, "mynet") == 0 && strcmp(st.cni_version, "1.0.0") == 0 &&
		  strcmp(st.plugins, "bridge,portmap") == 0 && strcmp(st.config_file, want) == 0,
	      "valid conflist: network, version, plugins, file");
	empty_conf_dir();

	write_file(conf_dir, "10-single.conf",
		   "{\"cniVersion\": \"0.4.0\", \"name\": \"one\", \"type\": \"bridge\"}", 0644);
	st = status_once();
	CHECK(st.ready && strcmp(st.network, "one") == 0 && strcmp(st.plugins, "bridge") == 0 &&
		  strcmp(st.cni_version, "0.4.0") == 0,
	      ".conf with a single plugin");
	empty_conf_dir();
}

static void expect_invalid(const char *content, const char *needle, const char *name)
{
	struct crid_cni_status st;

	write_file(conf_dir, "10-bad.conflist", content, 0644);
	st = status_once();
	CHECK(not_ready_with(&st, "No valid CNI configuration file in ") &&
		  has(st.message, "`10-bad.conflist`: ") && has(st.message, needle),
	      name);
	empty_conf_dir();
}

static void test_invalid(void)
{
	char want[256];
	char *big;

	expect_invalid("{\"cniVersion\": \"1.0.0\", \"name\": ", "invalid JSON: ", "bad JSON");
	expect_invalid("", "invalid JSON", "empty file");
	expect_invalid("[1, 2]", "not a JSON object", "JSON array at top level");
	expect_invalid("{\"name\": \"n\", \"type\": \"bridge\"}", "missing \"cniVersion\"",
		       "missing cniVersion");
	expect_invalid("{\"cniVersion\": \"0.2.0\", \"name\": \"n\", \"type\": \"bridge\"}",
		       "unsupported cniVersion \"0.2.0\"", "unsupported cniVersion");
	expect_invalid("{\"cniVersion\": \"1.0.0\", \"type\": \"bridge\"}", "missing \"name\"",
		       "missing name");
	expect_invalid("{\"cniVersion\": \"1.0.0\", \"name\": \"../x\", \"type\": \"bridge\"}",
		       "invalid network name \"../x\"", "network name with a path in it");
	expect_invalid("{\"cniVersion\": \"1.0.0\", \"name\": \"n\"}",
		       "has neither \"plugins\" nor \"type\"", "neither plugins nor type");
	expect_invalid("{\"cniVersion\": \"1.0.0\", \"name\": \"n\", \"plugins\": []}",
		       "\"plugins\" is not a non-empty array", "empty plugins list");
	expect_invalid("{\"cniVersion\": \"1.0.0\", \"name\": \"n\", \"plugins\": [{\"a\": 1}]}",
		       "plugin 0 has no \"type\"", "plugin without type");
	expect_invalid(conflist("n", "bridge", "../../bin/sh"),
		       "invalid plugin type \"../../bin/sh\"", "plugin type with a path in it");
	snprintf(want, sizeof(want), "plugin `nosuch` not found in %s", bin_dir);
	expect_invalid(conflist("n", "bridge", "nosuch"), want, "missing plugin binary");
	snprintf(want, sizeof(want), "plugin `noexec` not executable in %s", bin_dir);
	expect_invalid(conflist("n", "bridge", "noexec"), want, "plugin not executable");

	big = calloc(1, 4096);
	if (!big)
		die("calloc");
	strcpy(big, "{\"cniVersion\": \"1.0.0\", \"name\": \"n\", \"type\": \"bridge\", \"x\": ");
	for (int i = 0; i < 100; i++)
		strcat(big, "[");
	for (int i = 0; i < 100; i++)
		strcat(big, "]");
	strcat(big, "}");
	expect_invalid(big, "nested deeper than", "deep nesting refused before parsing");
	/* A bracket hidden in a comment or string must not hide the nesting. */
	strcpy(big, "{\"cniVersion\": \"1.0.0\", \"name\": \"n\", \"type\": \"bridge\", \"x\": "
		    "/* \" */ \"[{\\\"\", \"y\": ");
	for (int i = 0; i < 100; i++)
		strcat(big, "[");
	expect_invalid(big, "nested deeper than", "deep nesting after a comment and string");
	free(big);

	big = malloc(CRID_CNI_MAX_FILE_SIZE + 64);
	if (!big)
		die("malloc");
	memset(big, ' ', CRID_CNI_MAX_FILE_SIZE + 63);
	big[CRID_CNI_MAX_FILE_SIZE + 63] = '\0';
	memcpy(big, SMALL_CONF, strlen(SMALL_CONF));
	expect_invalid(big, "larger than 1048576 bytes", "file over the size cap");
	free(big);
}

static void test_lexical_order(void)
{
	struct crid_cni_status st;

	write_file(conf_dir, "9-z.conf",
		   "{\"cniVersion\": \"1.0.0\", \"name\": \"z\", \"type\": \"bridge\"}", 0644);
	write_file(conf_dir, "20-b.conflist", conflist("b", "bridge", "portmap"), 0644);
	write_file(conf_dir, "10-a.json",
		   "{\"cniVersion\": \"1.1.0\", \"name\": \"a\", \"type\": \"portmap\"}", 0644);
	write_file(conf_dir, "05-broken.conflist", "{", 0644);
	write_file(conf_dir, "00-noplugin.conflist", conflist("n", "bridge", "nosuch"), 0644);
	st = status_once();
	CHECK(st.ready && strcmp(st.network, "a") == 0,
	      "first valid file in byte order wins (\"10-\" < \"20-\" < \"9-\"), invalid ones "
	      "skipped");
	remove_file(conf_dir, "10-a.json");
	st = status_once();
	CHECK(st.ready && strcmp(st.network, "b") == 0, "next valid file when the winner goes");
	remove_file(conf_dir, "20-b.conflist");
	remove_file(conf_dir, "9-z.conf");
	st = status_once();
	CHECK(not_ready_with(&st, "`00-noplugin.conflist`: plugin `nosuch` not found") &&
		  has(st.message, "(1 more invalid)"),
	      "no valid file: the first problem is named, the rest counted");
	empty_conf_dir();
}

static void test_file_limit(void)
{
	struct crid_cni_status st;
	char name[64];

	for (int i = 0; i < 70; i++) {
		snprintf(name, sizeof(name), "%02d-bad.conf", i);
		write_file(conf_dir, name, "{", 0644);
	}
	write_file(conf_dir, "99-good.conf",
		   "{\"cniVersion\": \"1.0.0\", \"name\": \"g\", \"type\": \"bridge\"}", 0644);
	st = status_once();
	CHECK(not_ready_with(&st, "only the first 64 of 71 files read") &&
		  has(st.message, "`00-bad.conf`"),
	      "never reads more than 64 files");
	empty_conf_dir();
}

static void test_special_files(void)
{
	struct crid_cni_status st;
	char path[512];

	snprintf(path, sizeof(path), "%s/10-fifo.conf", conf_dir);
	if (mkfifo(path, 0644) < 0)
		die(path);
	st = status_once();
	CHECK(not_ready_with(&st, "`10-fifo.conf`: not a regular file"),
	      "a FIFO is refused without opening it (no hang)");
	empty_conf_dir();

	snprintf(path, sizeof(path), "%s/05-dangling.conf", conf_dir);
	if (symlink("/nonexistent/crid-test", path) < 0)
		die(path);
	st = status_once();
	CHECK(not_ready_with(&st, "`05-dangling.conf`: cannot read: No such file or directory"),
	      "dangling symlink");
	empty_conf_dir();

	write_file(conf_dir, "10-\xff\x01.conf", "{", 0644);
	st = status_once();
	CHECK(not_ready_with(&st, "`10-??.conf`: invalid JSON"),
	      "non-UTF-8 and control bytes in names are replaced in the message");
	empty_conf_dir();
}

/* Moves every timestamp the watch depends on 100 s (+|nsec|) into the past. */
static void backdate_all(long nsec)
{
	static const char *const bins[] = { "bridge", "portmap", "noexec" };
	struct dirent *de;
	DIR *d;

	d = opendir(conf_dir);
	if (!d)
		die(conf_dir);
	while ((de = readdir(d)))
		if (de->d_name[0] != '.')
			backdate_in(conf_dir, de->d_name, 100, nsec);
	closedir(d);
	backdate(conf_dir, 100, nsec);
	for (size_t i = 0; i < sizeof(bins) / sizeof(bins[0]); i++)
		backdate_in(bin_dir, bins[i], 100, nsec);
	backdate(bin_dir, 100, nsec);
}

static void test_cache(void)
{
	struct crid_cni_watch *w = new_watch(conf_dir, bin_dir, NULL);
	const struct crid_cni_status *st;
	char path[512];
	bool same = true;

	write_file(conf_dir, "10-net.conflist", conflist("one", "bridge", "portmap"), 0644);
	backdate_all(0);
	st = crid_cni_watch_status(w);
	CHECK(st->ready && strcmp(st->network, "one") == 0 && crid_cni_watch_scans(w) == 1,
	      "cache: first call scans");
	for (int i = 0; i < 5; i++)
		same = same && crid_cni_watch_status(w) == st && st->ready;
	CHECK(same && crid_cni_watch_scans(w) == 1, "cache: nothing changed, nothing re-read");

	/* Same size, new content, then an older mtime: only the timestamps tell. */
	write_file(conf_dir, "10-net.conflist", conflist("two", "bridge", "portmap"), 0644);
	backdate_all(1000);
	st = crid_cni_watch_status(w);
	CHECK(st->ready && strcmp(st->network, "two") == 0 && crid_cni_watch_scans(w) == 2,
	      "cache: rewritten file (same size, other mtime) is re-read");
	crid_cni_watch_status(w);
	CHECK(crid_cni_watch_scans(w) == 2, "cache: settles again");

	snprintf(path, sizeof(path), "%s/10-net.conflist", conf_dir);
	backdate(path, 200, 0);
	crid_cni_watch_status(w);
	CHECK(crid_cni_watch_scans(w) == 3,
	      "cache: utimensat to another mtime triggers a re-check");

	write_file(conf_dir, "05-first.conf",
		   "{\"cniVersion\": \"1.0.0\", \"name\": \"first\", \"type\": \"bridge\"}", 0644);
	backdate_all(2000);
	st = crid_cni_watch_status(w);
	CHECK(st->ready && strcmp(st->network, "first") == 0 && crid_cni_watch_scans(w) == 4,
	      "cache: a new file in the dir is seen");

	write_file(conf_dir, "05-first.conf", "{", 0644);
	backdate_all(3000);
	st = crid_cni_watch_status(w);
	CHECK(st->ready && strcmp(st->network, "two") == 0,
	      "cache: winner broken in place is seen");

	crid_cni_watch_invalidate(w);
	crid_cni_watch_status(w);
	CHECK(crid_cni_watch_scans(w) == 6, "cache: invalidate forces a re-scan");

	/* Not backdated: a timestamp this fresh could hide a write in the same tick. */
	write_file(conf_dir, "10-net.conflist", conflist("six", "bridge", "portmap"), 0644);
	st = crid_cni_watch_status(w);
	crid_cni_watch_status(w);
	CHECK(strcmp(st->network, "six") == 0 && crid_cni_watch_scans(w) == 8,
	      "cache: a just-written file is checked again on the next call");
	crid_cni_watch_free(w);
	empty_conf_dir();
}

static void test_plugin_dirs(void)
{
	char later[256], want[512];
	struct crid_cni_watch *w;
	const struct crid_cni_status *st;

	write_file(conf_dir, "10-net.conflist", conflist("n", "bridge", "later"), 0644);
	w = new_watch(conf_dir, bin_dir2, bin_dir);
	st = crid_cni_watch_status(w);
	snprintf(want, sizeof(want), "plugin `later` not found in %s:%s", bin_dir2, bin_dir);
	CHECK(not_ready_with(st, want), "missing plugin dir and binary: both dirs named");

	if (mkdir(bin_dir2, 0755) < 0)
		die(bin_dir2);
	write_file(bin_dir2, "later", "#!/bin/sh\n", 0755);
	st = crid_cni_watch_status(w);
	CHECK(st->ready && strcmp(st->plugins, "bridge,later") == 0,
	      "plugin dir created and plugin installed later: ready");

	snprintf(later, sizeof(later), "%s/later", bin_dir2);
	chmod(later, 0644);
	st = crid_cni_watch_status(w);
	CHECK(not_ready_with(st, "plugin `later` not executable"), "chmod -x of a chosen plugin");
	chmod(later, 0755);
	st = crid_cni_watch_status(w);
	CHECK(st->ready, "chmod +x again: ready");
	crid_cni_watch_free(w);

	w = new_watch(conf_dir, NULL, NULL);
	st = crid_cni_watch_status(w);
	CHECK(not_ready_with(st, "no CNI plugin directory configured"), "no plugin dirs at all");
	crid_cni_watch_free(w);
	empty_conf_dir();
}

static void test_shipped_conflist(void)
{
	const char *name = "shipped cni/10-crid-bridge.conflist is valid with " REAL_PLUGIN_DIR;
	struct crid_cni_watch *w;
	const struct crid_cni_status *st;

	if (access(SHIPPED_CONFLIST, R_OK) < 0) {
		tap_skip(name, SHIPPED_CONFLIST " not found: run from the repo root");
		return;
	}
	if (access(REAL_PLUGIN_DIR "/bridge", X_OK) < 0) {
		tap_skip(name,
			 REAL_PLUGIN_DIR "/bridge missing: install containernetworking-plugins");
		return;
	}
	w = new_watch("cni", REAL_PLUGIN_DIR, NULL);
	st = crid_cni_watch_status(w);
	if (!st->ready)
		printf("# %s\n", st->message);
	CHECK(st->ready && strcmp(st->network, "crid") == 0 &&
		  strcmp(st->cni_version, "1.0.0") == 0 &&
		  strcmp(st->plugins, "bridge,portmap,firewall,tuning") == 0 &&
		  strcmp(st->config_file, SHIPPED_CONFLIST) == 0,
	      name);
	crid_cni_watch_free(w);
}

/* Every allocation failing in turn: no crash, no leak, and the next call recovers. */
static void test_alloc_failures(void)
{
	struct crid_cni_watch *w;
	bool recovered = true;
	size_t base = crid_mem_used();

	write_file(conf_dir, "10-net.conflist", conflist("n", "bridge", "portmap"), 0644);
	for (long n = 1; n < 64; n++) {
		crid_mem_fail_after(n);
		w = new_watch_maybe(conf_dir, bin_dir);
		if (w) {
			crid_cni_watch_status(w);
			crid_mem_fail_after(0);
			recovered = recovered && crid_cni_watch_status(w)->ready;
			crid_cni_watch_free(w);
		}
		crid_mem_fail_after(0);
	}
	CHECK(recovered && crid_mem_used() == base,
	      "allocation failures: recovered, nothing leaked");
	empty_conf_dir();
}

int main(void)
{
	size_t base = crid_mem_used();

	crid_log_set_level(CRID_LOG_ERROR);
	setup();
	test_missing_and_empty();
	test_valid_conflist();
	test_invalid();
	test_lexical_order();
	test_file_limit();
	test_special_files();
	test_cache();
	test_plugin_dirs();
	test_shipped_conflist();
	test_alloc_failures();
	CHECK(crid_mem_used() == base, "no memory left allocated");
	nftw(root, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	return tap_done();
}
