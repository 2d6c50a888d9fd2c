/* The image store: layers by chainID, images and names, removal, reload after restart. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "reactor/mem.h"
#include "runtime/image/image_store.h"
#include "tap.h"

#define D(c) "sha256:" c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c

static char root[] = "/tmp/crid-image-store-XXXXXX";

static void layer(struct crid_layer_info *l, const char *chain, uint64_t bytes)
{
	memset(l, 0, sizeof(*l));
	strcpy(l->chain_id, chain);
	strcpy(l->diff_id, D("dd"));
	strcpy(l->blob_digest, D("bb"));
	l->blob_size = bytes / 2;
	l->bytes = bytes;
	l->inodes = 3;
}

static int stage_layer(struct crid_image_store *s, const char *chain, uint64_t bytes)
{
	struct crid_layer_info l;
	struct crid_err err;
	char path[4096];
	int fd = crid_image_store_stage(s, path, sizeof(path), &err), f;

	if (fd < 0)
		return -1;
	f = openat(fd, "hello", O_CREAT | O_WRONLY, 0644);
	if (f >= 0) {
		if (write(f, "hi\n", 3) != 3)
			return -1;
		close(f);
	}
	close(fd);
	layer(&l, chain, bytes);
	return crid_image_store_commit_layer(s, path, &l, &err);
}

static int add_image(struct crid_image_store *s, const char *id, const char *tag,
		     const char *const *layers, size_t n)
{
	struct crid_image img = { 0 };
	char *tags[] = { (char *)tag, NULL };
	struct crid_err err;
	int r;

	strcpy(img.id, id);
	img.tags.v = tag ? tags : NULL;
	img.tags.n = tag ? 1 : 0;
	img.layers.v = (char **)layers;
	img.layers.n = n;
	img.size = 1234;
	img.config_json = "{\"architecture\":\"amd64\"}";
	r = crid_image_store_add(s, &img, &err);
	if (r < 0)
		printf("# add: %s\n", err.msg);
	return r;
}

static size_t count_dir(const char *sub)
{
	char cmd[4200];
	FILE *p;
	size_t n = 0;

	snprintf(cmd, sizeof(cmd), "ls -A %s/images/%s | wc -l", root, sub);
	p = popen(cmd, "r");
	if (p) {
		if (fscanf(p, "%zu", &n) != 1)
			n = 0;
		pclose(p);
	}
	return n;
}

int main(void)
{
	const char *l1[] = { D("a1") }, *l12[] = { D("a1"), D("a2") };
	struct crid_image_store *s;
	struct crid_image *img;
	struct crid_err err;
	char path[4200];
	uint64_t bytes, inodes;
	size_t n;

	if (!mkdtemp(root))
		return 1;
	CHECK(crid_image_store_open(root, &s, &err) == 0, "open a fresh store");
	CHECK(stage_layer(s, D("a1"), 100) == 0, "commit layer a1");
	CHECK(stage_layer(s, D("a2"), 200) == 0, "commit layer a2");
	CHECK(stage_layer(s, D("a2"), 200) == 0, "committing an existing layer is a no-op");
	{
		struct crid_layer_info l;
		char staged[4096], wrap[4096];
		int fd = crid_image_store_stage(s, staged, sizeof(staged), &err);

		close(fd);
		layer(&l, D("a2"), 200);
		CHECK(crid_image_store_commit_begin(s, staged, &l, wrap, sizeof(wrap), &err) == 1 &&
			  access(staged, F_OK) < 0,
		      "begin of a layer already there: 1, staging discarded");
	}
	crid_image_store_layer_path(s, D("a1"), path, sizeof(path));
	strcat(path, "/hello");
	CHECK(access(path, F_OK) == 0, "layer content at layers/<chain>/diff");
	crid_image_store_usage(s, &bytes, &inodes);
	CHECK(bytes == 300 && inodes == 6, "usage counts each layer once (%llu)",
	      (unsigned long long)bytes);
	CHECK(add_image(s, D("11"), "docker.io/library/busybox:latest", l1, 1) == 0,
	      "add image 11");
	CHECK(add_image(s, D("22"), "docker.io/library/big:1", l12, 2) == 0, "add image 22");
	CHECK(add_image(s, D("33"), "x:1", (const char *[]){ D("ff") }, 1) < 0,
	      "an image with a missing layer is refused");
	img = crid_image_store_find(s, "docker.io/library/busybox:latest");
	CHECK(img && strcmp(img->id, D("11")) == 0, "find by tag");
	CHECK(crid_image_store_find(s, D("22")) != NULL, "find by id");
	CHECK(crid_image_store_find(s, "2222") != NULL, "find by id prefix");
	CHECK(crid_image_store_find(s, "1") == NULL, "too short a prefix finds nothing");
	CHECK(add_image(s, D("22"), "docker.io/library/busybox:latest", l12, 2) == 0,
	      "retag busybox:latest onto 22");
	img = crid_image_store_find(s, D("11"));
	CHECK(img && img->tags.n == 0, "old image lost the tag and stays, dangling");
	img = crid_image_store_find(s, D("22"));
	CHECK(img && img->tags.n == 2, "new image has both tags");
	CHECK(crid_image_store_remove(s, "docker.io/library/big:1", &err) == 0 &&
		  crid_image_store_find(s, D("22")) != NULL,
	      "removing one of two tags keeps the image");
	img->users = 1;
	CHECK(crid_image_store_remove(s, D("22"), &err) < 0 && err.code == EBUSY,
	      "an image in use is refused: %s", err.msg);
	img->users = 0;

	crid_image_store_close(s);
	CHECK(crid_image_store_open(root, &s, &err) == 0, "reopen");
	crid_image_store_list(s, &n);
	CHECK(n == 2, "both images reloaded (%zu)", n);
	img = crid_image_store_find(s, "docker.io/library/busybox:latest");
	CHECK(img && strcmp(img->id, D("22")) == 0 && img->layers.n == 2 &&
		  strcmp(img->config_json, "{\"architecture\":\"amd64\"}") == 0,
	      "record reloaded with tags, layers and config");
	CHECK(crid_image_store_remove(s, D("22"), &err) == 0, "remove 22 by id");
	CHECK(crid_image_store_layer(s, D("a2")) == NULL && crid_image_store_layer(s, D("a1")),
	      "a2 freed, a1 still used by 11");
	crid_image_store_usage(s, &bytes, &inodes);
	CHECK(bytes == 100, "usage follows removal (%llu)", (unsigned long long)bytes);
	CHECK(crid_image_store_remove(s, D("11"), &err) == 0 && count_dir("layers") == 0,
	      "last image gone: no layer left");
	CHECK(crid_image_store_remove(s, D("11"), &err) < 0 && err.code == ENOENT,
	      "removing again says not found");

	/*
	 * A crash mid-pull leaves a staging dir, here a layer begun but never
	 * ended (its sync had not returned): it must not appear after a restart.
	 * A corrupt record is dropped on open.
	 */
	crid_image_store_stage(s, path, sizeof(path), &err);
	{
		struct crid_layer_info l;
		char staged[4096], wrap[4096];
		int fd = crid_image_store_stage(s, staged, sizeof(staged), &err);

		close(fd);
		layer(&l, D("a3"), 10);
		CHECK(crid_image_store_commit_begin(s, staged, &l, wrap, sizeof(wrap), &err) == 0 &&
			  crid_image_store_layer(s, D("a3")) == NULL && count_dir("layers") == 0,
		      "a begun commit is not visible before its end");
	}
	crid_image_store_close(s);
	snprintf(path, sizeof(path), "%s/images/images/%s.json", root, "ab");
	close(open(path, O_CREAT | O_WRONLY, 0600));
	CHECK(crid_image_store_open(root, &s, &err) == 0, "reopen after a crash");
	CHECK(count_dir("staging") == 0 && count_dir("images") == 0 && count_dir("layers") == 0 &&
		  crid_image_store_layer(s, D("a3")) == NULL,
	      "staging swept (the begun layer too), corrupt record dropped");
	CHECK(count_dir("trash") > 0, "swept dirs wait in trash for off-loop deletion");
	crid_image_store_close(s);
	snprintf(path, sizeof(path), "rm -rf %s", root);
	if (system(path) != 0)
		return 1;
	return tap_done();
}
