/*
 * The one resolver of users' image references: normalization (docker.io/library,
 * :latest, digests, ids), lookup by name then by id or id prefix, bad input,
 * and the repo tag and repo digest ContainerStatus reports.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "runtime/image/image_names.h"
#include "runtime/image/image_ref.h"
#include "tap.h"

#define H64(c) c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c
#define D(c) "sha256:" H64(c)

static char root[] = "/tmp/crid-image-names-XXXXXX";

static void norm(const char *in, const char *want)
{
	char out[CRID_REF_STRING_MAX];
	struct crid_err err = { 0 };
	int r = crid_image_names_normalize(in, out, sizeof(out), &err);

	CHECK(r == 0 && strcmp(out, want) == 0, "`%s` -> `%s` (got `%s` %s)", in, want,
	      r == 0 ? out : "", r == 0 ? "" : err.msg);
}

static void bad(const char *in, const char *says)
{
	char out[CRID_REF_STRING_MAX];
	struct crid_err err = { 0 };
	int r = crid_image_names_normalize(in, out, sizeof(out), &err);

	CHECK(r < 0 && err.code == EINVAL && strstr(err.msg, says) && strstr(err.msg, in),
	      "`%s` refused with EINVAL naming it and saying `%s`: %s", in, says, err.msg);
}

static int add(struct crid_image_store *s, const char *id, const char *tag, const char *digest)
{
	char *tags[] = { (char *)tag }, *digests[] = { (char *)digest };
	struct crid_image img = { 0 };
	struct crid_err err;

	strcpy(img.id, id);
	img.tags = (struct crid_strv){ tag ? tags : NULL, tag ? 1 : 0 };
	img.digests = (struct crid_strv){ digest ? digests : NULL, digest ? 1 : 0 };
	img.config_json = "{}";
	return crid_image_store_add(s, &img, &err);
}

/* Resolves |name|; returns the id found or "" (and the errno in |*code|). */
static const char *resolve(struct crid_image_store *s, const char *name, bool *by_id, int *code)
{
	struct crid_image *img = NULL;
	struct crid_err err = { 0 };

	*code = crid_image_names_resolve(s, name, &img, by_id, &err) == 0 ? 0 : err.code;
	return img && !*code ? img->id : "";
}

static void normalize_cases(void)
{
	char small[16];
	struct crid_err err;

	norm("busybox", "docker.io/library/busybox:latest");
	norm("busybox:1.36", "docker.io/library/busybox:1.36");
	norm("docker.io/library/busybox", "docker.io/library/busybox:latest");
	norm("index.docker.io/library/busybox:1", "docker.io/library/busybox:1");
	norm("user/img", "docker.io/user/img:latest");
	norm("host:5000/a/b", "host:5000/a/b:latest");
	norm("localhost/a", "localhost/a:latest");
	norm("registry.example.com/team/app:v1.2", "registry.example.com/team/app:v1.2");
	norm("a/b@" D("ab"), "docker.io/a/b@" D("ab"));
	norm("host:5000/a/b:t@" D("ab"), "host:5000/a/b@" D("ab"));
	norm(D("cd"), D("cd"));
	norm(H64("cd"), D("cd"));
	norm("abc123", "docker.io/library/abc123:latest"); /* a name first; an id prefix after */
	bad("Busybox", "lowercase");
	bad("host:5000/UPPER/x", "lowercase");
	bad("a b", "a b");
	bad("x:", "tag");
	bad("x@sha256:12", "digest");
	bad("x@md5:" H64("1"), "algorithm");
	bad("", "empty");
	CHECK(crid_image_names_normalize("busybox", small, sizeof(small), &err) < 0 &&
		  err.code == ENAMETOOLONG,
	      "a buffer too small is ENAMETOOLONG, never a truncated name");
	CHECK(crid_image_names_id_only(D("ab")) && crid_image_names_id_only(H64("ab")) &&
		  crid_image_names_id_only("sha256:abc") && !crid_image_names_id_only("abc") &&
		  !crid_image_names_id_only("sha256:") && !crid_image_names_id_only("sha256:xyz"),
	      "id-only forms: sha256:HEX, 64 hex; a short bare hex may be a name");
}

static void resolve_cases(struct crid_image_store *s)
{
	bool by_id = false;
	int code;

	CHECK(add(s, D("11"), "docker.io/library/busybox:latest",
		  "docker.io/library/busybox@" D("b1")) == 0 &&
		  add(s, D("22"), "host:5000/a/b:latest", "host:5000/a/b@" D("b2")) == 0 &&
		  add(s, D("23"), "docker.io/library/abc123:latest", NULL) == 0 &&
		  add(s, D("ab"), NULL, NULL) == 0,
	      "images added");
	CHECK(!strcmp(resolve(s, "busybox", &by_id, &code), D("11")) && !by_id,
	      "`busybox` is docker.io/library/busybox:latest");
	CHECK(!strcmp(resolve(s, "docker.io/library/busybox", &by_id, &code), D("11")),
	      "the untagged full name is :latest");
	CHECK(!strcmp(resolve(s, "host:5000/a/b", &by_id, &code), D("22")) && !by_id,
	      "`host:5000/a/b` is host:5000/a/b:latest");
	CHECK(!strcmp(resolve(s, "host:5000/a/b@" D("b2"), &by_id, &code), D("22")),
	      "by digest reference");
	CHECK(!strcmp(resolve(s, "host:5000/a/b:other@" D("b2"), &by_id, &code), D("22")),
	      "a tag beside the digest is ignored");
	CHECK(!strcmp(resolve(s, D("22"), &by_id, &code), D("22")) && by_id, "by id");
	CHECK(!strcmp(resolve(s, H64("22"), &by_id, &code), D("22")) && by_id, "by bare id");
	CHECK(!strcmp(resolve(s, "2222", &by_id, &code), D("22")) && by_id, "by id prefix");
	CHECK(!strcmp(resolve(s, "sha256:2222", &by_id, &code), D("22")) && by_id,
	      "by sha256: id prefix");
	CHECK(!strcmp(resolve(s, "abab", &by_id, &code), D("ab")) && by_id,
	      "an image without names, by id prefix");
	CHECK(!strcmp(resolve(s, "abc123", &by_id, &code), D("23")) && !by_id,
	      "a hex-looking name is a name first (containerd's order)");
	CHECK(!*resolve(s, "2", &by_id, &code) && code == ENOENT, "too short a prefix: ENOENT");
	CHECK(!strcmp(resolve(s, "222", &by_id, &code), D("22")) && by_id,
	      "a 3-digit prefix is enough");
	CHECK(!*resolve(s, "nothere", &by_id, &code) && code == ENOENT, "absent name: ENOENT");
	CHECK(!*resolve(s, "Busybox", &by_id, &code) && code == EINVAL, "malformed: EINVAL");
	CHECK(!*resolve(s, "sha256:" H64("99"), &by_id, &code) && code == ENOENT,
	      "absent id: ENOENT");
}

static void status_names(struct crid_image_store *s)
{
	struct crid_image *img = crid_image_store_find(s, D("22"));
	char *digests[] = { "mirror.example/a/b@" D("c1"), "host:5000/a/b@" D("b2") };
	struct crid_strv keep;

	CHECK(img && !strcmp(crid_image_names_repo_tag(img), "host:5000/a/b:latest"),
	      "repo tag: the first tag");
	CHECK(img && !strcmp(crid_image_names_repo_digest(img, D("22")), "host:5000/a/b@" D("b2")),
	      "repo digest of a container created by id: the first digest");
	if (!img)
		return;
	keep = img->digests;
	img->digests = (struct crid_strv){ digests, 2 };
	CHECK(!strcmp(crid_image_names_repo_digest(img, "host:5000/a/b"), digests[1]),
	      "repo digest in the container's own repository");
	CHECK(!strcmp(crid_image_names_repo_digest(img, "host:5000/a/b:latest"), digests[1]),
	      "same, named with its tag");
	CHECK(!strcmp(crid_image_names_repo_digest(img, "other/x"), digests[0]),
	      "another repository: the first digest");
	CHECK(!strcmp(crid_image_names_repo_digest(img, "host:5000/a/bb"), digests[0]),
	      "a repository whose name only starts alike is another one");
	img->digests = keep;
	img = crid_image_store_find(s, D("ab"));
	CHECK(img && !crid_image_names_repo_digest(img, "x") && !crid_image_names_repo_tag(img),
	      "an image without names has no repo digest or tag (callers fall back to the id)");
}

int main(void)
{
	struct crid_image_store *s = NULL;
	struct crid_err err;
	char cmd[128];

	normalize_cases();
	if (!mkdtemp(root))
		return 1;
	if (!CHECK(crid_image_store_open(root, &s, &err) == 0, "open a store"))
		return tap_done();
	resolve_cases(s);
	status_names(s);
	crid_image_store_close(s);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", root);
	if (system(cmd) != 0)
		printf("# could not remove %s\n", root);
	return tap_done();
}
