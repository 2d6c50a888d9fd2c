/* Reference parsing and normalization, table-driven against distribution/reference's rules. */
#include <string.h>

#include "runtime/image/image_ref.h"
#include "tests/unit/tap.h"

#define H64 "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
#define D64 "sha256:" H64

static const struct {
	const char *in, *domain, *path, *tag, *digest, *full, *familiar;
} valid[] = {
	{ "busybox", "docker.io", "library/busybox", "latest", "",
	  "docker.io/library/busybox:latest", "busybox:latest" },
	{ "busybox:1.36", "docker.io", "library/busybox", "1.36", "",
	  "docker.io/library/busybox:1.36", "busybox:1.36" },
	{ "user/img", "docker.io", "user/img", "latest", "", "docker.io/user/img:latest",
	  "user/img:latest" },
	{ "docker.io/library/busybox", "docker.io", "library/busybox", "latest", "",
	  "docker.io/library/busybox:latest", "busybox:latest" },
	{ "docker.io/busybox", "docker.io", "library/busybox", "latest", "",
	  "docker.io/library/busybox:latest", "busybox:latest" },
	{ "index.docker.io/library/busybox", "docker.io", "library/busybox", "latest", "",
	  "docker.io/library/busybox:latest", "busybox:latest" },
	{ "localhost:5000/a/b:tag", "localhost:5000", "a/b", "tag", "", "localhost:5000/a/b:tag",
	  "localhost:5000/a/b:tag" },
	{ "localhost/a", "localhost", "a", "latest", "", "localhost/a:latest",
	  "localhost/a:latest" },
	{ "localhost", "docker.io", "library/localhost", "latest", "",
	  "docker.io/library/localhost:latest", "localhost:latest" },
	{ "localhost:5000", "docker.io", "library/localhost", "5000", "",
	  "docker.io/library/localhost:5000", "localhost:5000" },
	{ "127.0.0.1:5000/x@" D64, "127.0.0.1:5000", "x", "", D64, "127.0.0.1:5000/x@" D64,
	  "127.0.0.1:5000/x@" D64 },
	{ "busybox:1.36@" D64, "docker.io", "library/busybox", "1.36", D64,
	  "docker.io/library/busybox:1.36@" D64, "busybox:1.36@" D64 },
	{ "busybox@" D64, "docker.io", "library/busybox", "", D64, "docker.io/library/busybox@" D64,
	  "busybox@" D64 },
	{ "quay.io/coreos/etcd:v3.5.0", "quay.io", "coreos/etcd", "v3.5.0", "",
	  "quay.io/coreos/etcd:v3.5.0", "quay.io/coreos/etcd:v3.5.0" },
	{ "registry.k8s.io/pause:3.9", "registry.k8s.io", "pause", "3.9", "",
	  "registry.k8s.io/pause:3.9", "registry.k8s.io/pause:3.9" },
	{ "Registry.Example.COM/a", "Registry.Example.COM", "a", "latest", "",
	  "Registry.Example.COM/a:latest", "Registry.Example.COM/a:latest" },
	{ "UPPER/a", "UPPER", "a", "latest", "", "UPPER/a:latest", "UPPER/a:latest" },
	{ "[::1]:5000/a:b", "[::1]:5000", "a", "b", "", "[::1]:5000/a:b", "[::1]:5000/a:b" },
	{ "a/b/c/d", "docker.io", "a/b/c/d", "latest", "", "docker.io/a/b/c/d:latest",
	  "a/b/c/d:latest" },
	{ "a-b_c__e---f/g.h", "docker.io", "a-b_c__e---f/g.h", "latest", "",
	  "docker.io/a-b_c__e---f/g.h:latest", "a-b_c__e---f/g.h:latest" },
	{ "my-registry.local:443/x:_Tag.-x", "my-registry.local:443", "x", "_Tag.-x", "",
	  "my-registry.local:443/x:_Tag.-x", "my-registry.local:443/x:_Tag.-x" },
	{ "sha256:abc", "docker.io", "library/sha256", "abc", "", "docker.io/library/sha256:abc",
	  "sha256:abc" },
};

static const struct {
	const char *in, *msg; /* |msg| must appear in the error */
} invalid[] = {
	{ "", "empty" },
	{ "Busybox", "must be lowercase" },
	{ "docker.io/User/img", "must be lowercase" },
	{ "busybox:", "bad tag" },
	{ "busybox:-x", "bad tag" },
	{ "busybox:a/b", "bad registry host" },
	{ "busybox:"
	  "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	  "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
	  "bad tag" },
	{ "busybox@sha512:" H64 H64, "unsupported digest algorithm `sha512`" },
	{ "busybox@md5:0123", "unsupported digest algorithm" },
	{ "busybox@sha256:abc", "64" },
	{ "busybox@sha256:"
	  "0123456789ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef",
	  "64" },
	{ "busybox@", "not ALGO:HEX" },
	{ "busybox@" D64 "@" D64, "64" },
	{ ":tag", "no repository" },
	{ "/busybox", "bad repository path" },
	{ "busybox/", "bad repository path" },
	{ "a//b", "bad repository path" },
	{ "a/-b", "bad repository path" },
	{ "a/b-", "bad repository path" },
	{ "a/b.", "bad repository path" },
	{ "a/b___c", "bad repository path" },
	{ "a/b._c", "bad repository path" },
	{ "-host.io/a", "bad registry host" },
	{ "host-.io/a", "bad registry host" },
	{ "host..io/a", "bad registry host" },
	{ "host.io:/a", "bad registry host" },
	{ "host.io:5x/a", "bad registry host" },
	{ "[zz]:5000/a", "bad registry host" },
	{ "busy box", "blank" },
	{ "busybox\n", "control" },
	{ "a-b_c.d/e", "bad registry host" },
	{ "http://host.io/a", "bad" },
};

static void test_valid(void)
{
	char buf[CRID_REF_STRING_MAX];
	struct crid_image_ref r;
	struct crid_err err = { 0 };

	for (size_t i = 0; i < sizeof(valid) / sizeof(valid[0]); i++) {
		int rc = crid_image_ref_parse(valid[i].in, &r, &err);

		if (!CHECK(rc == 0 && r.kind == CRID_REF_NAMED, "parse `%s`: %s", valid[i].in,
			   rc ? err.msg : "ok"))
			continue;
		CHECK(strcmp(r.domain, valid[i].domain) == 0 &&
			  strcmp(r.path, valid[i].path) == 0 && strcmp(r.tag, valid[i].tag) == 0 &&
			  strcmp(r.digest, valid[i].digest) == 0,
		      "`%s` -> domain %s path %s tag %s digest %s", valid[i].in, r.domain, r.path,
		      r.tag, r.digest);
		crid_image_ref_string(&r, buf, sizeof(buf));
		CHECK(strcmp(buf, valid[i].full) == 0, "`%s` full name %s", valid[i].in, buf);
		crid_image_ref_familiar(&r, buf, sizeof(buf));
		CHECK(strcmp(buf, valid[i].familiar) == 0, "`%s` familiar %s", valid[i].in, buf);
	}
}

static void test_invalid(void)
{
	struct crid_image_ref r;
	struct crid_err err;

	for (size_t i = 0; i < sizeof(invalid) / sizeof(invalid[0]); i++) {
		memset(&err, 0, sizeof(err));
		int rc = crid_image_ref_parse(invalid[i].in, &r, &err);

		CHECK(rc == -1 && strstr(err.msg, invalid[i].msg) && r.domain[0] == '\0',
		      "reject `%s`: %s", invalid[i].in, err.msg);
	}
}

static void test_long_names(void)
{
	char name[600], buf[CRID_REF_STRING_MAX];
	struct crid_image_ref r;
	struct crid_err err;

	/* docker.io/ + library/ + 237 = 255: the longest normalized name. */
	memset(name, 'a', 237);
	name[237] = '\0';
	CHECK(crid_image_ref_parse(name, &r, &err) == 0 && strlen(r.path) == 245,
	      "255-byte normalized name accepted");
	CHECK(crid_image_ref_string(&r, buf, sizeof(buf)) > 0, "long name formats");
	CHECK(crid_image_ref_string(&r, buf, 10) == -1 && buf[0] == '\0', "short buffer -> -1");
	name[237] = 'a', name[238] = '\0';
	CHECK(crid_image_ref_parse(name, &r, &err) == -1 && strstr(err.msg, "longer than 255"),
	      "256-byte name refused: %s", err.msg);
	memset(name, 'a', sizeof(name) - 1);
	name[sizeof(name) - 1] = '\0';
	CHECK(crid_image_ref_parse(name, &r, &err) == -1, "600-byte name refused");
}

static void test_image_ids(void)
{
	struct crid_image_ref r;
	struct crid_err err;
	char buf[CRID_REF_STRING_MAX];

	CHECK(crid_image_ref_parse(D64, &r, &err) == 0 && r.kind == CRID_REF_IMAGE_ID &&
		  strcmp(r.digest, D64) == 0 && r.domain[0] == '\0',
	      "sha256:HEX is an image id");
	CHECK(crid_image_ref_parse(H64, &r, &err) == 0 && r.kind == CRID_REF_IMAGE_ID &&
		  strcmp(r.digest, D64) == 0,
	      "bare 64 hex is an image id");
	CHECK(crid_image_ref_repo(&r, buf, sizeof(buf)) == -1, "an id has no repository");
	CHECK(crid_image_ref_string(&r, buf, sizeof(buf)) > 0 && strcmp(buf, D64) == 0,
	      "an id formats as its digest");
	CHECK(crid_image_ref_parse("0123abc", &r, &err) == 0 && r.kind == CRID_REF_NAMED,
	      "short hex is a name");
}

static void test_helpers(void)
{
	struct crid_image_ref r;
	struct crid_err err;
	char buf[CRID_REF_STRING_MAX];

	crid_image_ref_parse("busybox:1.36@" D64, &r, &err);
	CHECK(strcmp(crid_image_ref_fetch_ref(&r), D64) == 0, "digest wins for fetching");
	crid_image_ref_tagged(&r, buf, sizeof(buf));
	CHECK(strcmp(buf, "docker.io/library/busybox:1.36") == 0, "tag kept for naming: %s", buf);
	crid_image_ref_repo(&r, buf, sizeof(buf));
	CHECK(strcmp(buf, "docker.io/library/busybox") == 0, "repo %s", buf);
	CHECK(crid_image_ref_digested(&r, D64, buf, sizeof(buf)) > 0 &&
		  strcmp(buf, "docker.io/library/busybox@" D64) == 0,
	      "repo digest %s", buf);
	CHECK(crid_image_ref_digested(&r, "sha256:x", buf, sizeof(buf)) == -1, "bad digest -> -1");
	CHECK(strcmp(crid_image_ref_api_host(r.domain), "registry-1.docker.io") == 0,
	      "docker.io API host");
	CHECK(strcmp(crid_image_ref_api_host("quay.io"), "quay.io") == 0, "other API host");
	crid_image_ref_parse("busybox@" D64, &r, &err);
	CHECK(crid_image_ref_tagged(&r, buf, sizeof(buf)) == -1, "no tag -> no tagged form");
	crid_image_ref_parse("busybox", &r, &err);
	CHECK(strcmp(crid_image_ref_fetch_ref(&r), "latest") == 0, "tag fetched without digest");
	CHECK(crid_image_ref_digest_valid(D64) && !crid_image_ref_digest_valid("sha256:" H64 "0") &&
		  !crid_image_ref_digest_valid("sha384:" H64),
	      "crid_image_ref_digest_valid");
}

int main(void)
{
	test_valid();
	test_invalid();
	test_long_names();
	test_image_ids();
	test_helpers();
	return tap_done();
}
