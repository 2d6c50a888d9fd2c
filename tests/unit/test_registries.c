/* Registry resolution: mirrors, prefix rewrites, wildcards, blocking, insecure flags, certs.d. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "reactor/mem.h"
#include "runtime/image/registries.h"
#include "tests/unit/tap.h"

#define D64 "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

static const char conf[] = "unqualified-search-registries = [\"docker.io\", \"quay.io\"]\n"
			   "short-name-mode = \"enforcing\"\n"
			   "[[registry]]\n"
			   "prefix = \"docker.io\"\n"
			   "location = \"docker.io\"\n"
			   "[[registry.mirror]]\n"
			   "location = \"mirror.example.com:5000/dockerhub\"\n"
			   "insecure = true\n"
			   "[[registry.mirror]]\n"
			   "location = \"digest.example.com\"\n"
			   "pull-from-mirror = \"digest-only\"\n"
			   "[[registry]]\n"
			   "prefix = \"docker.io/library/busybox\"\n"
			   "location = \"internal.example.com/mirrored/busybox\"\n"
			   "[[registry]]\n"
			   "prefix = \"*.blocked.example\"\n"
			   "blocked = true\n"
			   "[[registry]]\n"
			   "prefix = \"*.corp.example\"\n"
			   "insecure = true\n"
			   "[[registry]]\n"
			   "location = \"quay.io\"\n"
			   "blocked = true\n";

static struct crid_registries *load(const char *text, const struct crid_config *cfg)
{
	struct crid_registries *regs = NULL;
	struct crid_err err = { 0 };

	if (!CHECK(crid_registries_load_buffer(&regs, cfg, "test.conf", text, strlen(text), &err) ==
		       0,
		   "load: %s", err.msg))
		return NULL;
	return regs;
}

static int resolve(struct crid_registries *regs, const char *s, struct crid_endpoint_list *l,
		   struct crid_err *err)
{
	struct crid_image_ref ref;

	if (crid_image_ref_parse(s, &ref, err) < 0)
		return -1;
	return crid_registries_resolve(regs, &ref, l, err);
}

static void test_file(void)
{
	struct crid_registries *regs = load(conf, NULL);
	struct crid_endpoint_list l = { 0 };
	struct crid_err err = { 0 };

	if (!regs)
		return;
	crid_registries_set_certs_dir(regs, "/nonexistent", NULL);
	CHECK(crid_registries_search(regs)->n == 2, "search registries parsed");

	CHECK(resolve(regs, "user/app:1", &l, &err) == 0 && l.n == 2, "mirror then registry: %s",
	      err.msg);
	CHECK(l.n == 2 && !strcmp(l.v[0].host, "mirror.example.com:5000") &&
		  !strcmp(l.v[0].path, "dockerhub/user/app") && l.v[0].insecure && l.v[0].mirror,
	      "mirror endpoint with path rewrite: %s/%s", l.v[0].host, l.v[0].path);
	CHECK(l.n == 2 && !strcmp(l.v[1].host, "docker.io") &&
		  !strcmp(l.v[1].api_host, "registry-1.docker.io") &&
		  !strcmp(l.v[1].path, "user/app") && !l.v[1].insecure && !l.v[1].mirror &&
		  !l.v[1].ca_file[0],
	      "docker.io last, API host registry-1.docker.io");
	crid_endpoint_list_free(&l);

	CHECK(resolve(regs, "user/app@" D64, &l, &err) == 0 && l.n == 3 &&
		  !strcmp(l.v[1].host, "digest.example.com") && !l.v[1].insecure,
	      "digest-only mirror used for a digest");
	crid_endpoint_list_free(&l);

	CHECK(resolve(regs, "busybox", &l, &err) == 0 && l.n == 1 &&
		  !strcmp(l.v[0].host, "internal.example.com") &&
		  !strcmp(l.v[0].path, "mirrored/busybox"),
	      "longest prefix wins and rewrites: %s/%s", l.n ? l.v[0].host : "",
	      l.n ? l.v[0].path : "");
	crid_endpoint_list_free(&l);

	CHECK(resolve(regs, "busyboxx", &l, &err) == 0 && l.n == 2,
	      "a prefix matches whole components only");
	crid_endpoint_list_free(&l);

	CHECK(resolve(regs, "r.blocked.example/a", &l, &err) == -1 && err.code == EPERM &&
		  strstr(err.msg, "is blocked (test.conf:15)") && !l.v,
	      "wildcard blocked: %s", err.msg);
	CHECK(resolve(regs, "a.b.corp.example:5000/x", &l, &err) == 0 && l.n == 1 &&
		  l.v[0].insecure && !strcmp(l.v[0].host, "a.b.corp.example:5000"),
	      "wildcard insecure with a port");
	crid_endpoint_list_free(&l);
	CHECK(resolve(regs, "corp.example/x", &l, &err) == 0 && l.n == 1 && !l.v[0].insecure,
	      "wildcard does not match the bare domain");
	crid_endpoint_list_free(&l);
	CHECK(resolve(regs, "quay.io/a/b", &l, &err) == -1 && strstr(err.msg, "blocked"),
	      "prefix defaults to location: %s", err.msg);
	CHECK(resolve(regs, "ghcr.io/a/b", &l, &err) == 0 && l.n == 1 &&
		  !strcmp(l.v[0].host, "ghcr.io") && !strcmp(l.v[0].api_host, "ghcr.io"),
	      "unlisted registry: itself");
	crid_endpoint_list_free(&l);
	crid_registries_free(regs);
}

static void test_config(void)
{
	char *mirrors[] = { "cfgmirror.example.com", "cfgmirror2.example.com/x", NULL };
	char *insecure[] = { "10.0.0.0/8", "plain.example.com", "mirror.example.com:5000", NULL };
	struct crid_registry reg[] = {
		{ "docker.io", false, "", { mirrors, 2 } },
		{ "secure.example.com", true, "/etc/my-ca.pem", { NULL, 0 } },
	};
	struct crid_config cfg = { 0 };
	struct crid_registries *regs;
	struct crid_endpoint_list l = { 0 };
	struct crid_err err = { 0 };
	char dir[] = "/tmp/crid-certs-XXXXXX", path[256];
	FILE *f;

	cfg.insecure_registries = (struct crid_strv){ insecure, 3 };
	cfg.registries = reg;
	cfg.n_registries = 2;
	if (!(regs = load(conf, &cfg)))
		return;
	CHECK(mkdtemp(dir) != NULL, "temp certs dir");
	snprintf(path, sizeof(path), "%s/ghcr.io:443", dir);
	mkdir(path, 0755);
	snprintf(path, sizeof(path), "%s/ghcr.io:443/ca.crt", dir);
	if ((f = fopen(path, "w")))
		fclose(f);
	crid_registries_set_certs_dir(regs, dir, NULL);

	CHECK(resolve(regs, "user/app", &l, &err) == 0 && l.n == 4 &&
		  !strcmp(l.v[0].host, "cfgmirror.example.com") &&
		  !strcmp(l.v[1].path, "x/user/app") &&
		  !strcmp(l.v[2].host, "mirror.example.com:5000") &&
		  !strcmp(l.v[3].host, "docker.io"),
	      "crid config mirrors before the file's: %zu", l.n);
	crid_endpoint_list_free(&l);
	CHECK(resolve(regs, "10.1.2.3:5000/a", &l, &err) == 0 && l.n == 1 && l.v[0].insecure,
	      "CIDR insecure");
	crid_endpoint_list_free(&l);
	CHECK(resolve(regs, "11.1.2.3:5000/a", &l, &err) == 0 && !l.v[0].insecure,
	      "outside the CIDR");
	crid_endpoint_list_free(&l);
	CHECK(resolve(regs, "plain.example.com:8080/a", &l, &err) == 0 && l.v[0].insecure,
	      "insecure host matches any port, like a registries.conf prefix");
	crid_endpoint_list_free(&l);
	CHECK(resolve(regs, "secure.example.com/a", &l, &err) == 0 && l.v[0].insecure &&
		  !strcmp(l.v[0].ca_file, "/etc/my-ca.pem"),
	      "per-registry insecure and ca_file");
	crid_endpoint_list_free(&l);
	{
		static const char *const loop[] = { "127.0.0.1:5000/a", "127.9.8.7/a",
						    "[::1]:5000/a", "localhost:5000/a",
						    "localhost/a" };
		static const char *const not_loop[] = { "128.0.0.1:5000/a", "[::2]:5000/a",
							"localhost.example.com/a", "docker.io/a" };

		for (size_t i = 0; i < sizeof(loop) / sizeof(loop[0]); i++) {
			CHECK(resolve(regs, loop[i], &l, &err) == 0 && l.v[0].loopback &&
				  !l.v[0].insecure,
			      "%s: loopback (plain HTTP when it speaks no TLS), still verified",
			      loop[i]);
			crid_endpoint_list_free(&l);
		}
		for (size_t i = 0; i < sizeof(not_loop) / sizeof(not_loop[0]); i++) {
			CHECK(resolve(regs, not_loop[i], &l, &err) == 0 && !l.v[0].loopback,
			      "%s: not loopback", not_loop[i]);
			crid_endpoint_list_free(&l);
		}
	}
	CHECK(resolve(regs, "ghcr.io:443/a", &l, &err) == 0 &&
		  !strncmp(l.v[0].ca_file, dir, strlen(dir)) &&
		  strstr(l.v[0].ca_file, "/ghcr.io:443/ca.crt"),
	      "certs.d ca.crt found: %s", l.v ? l.v[0].ca_file : err.msg);
	crid_endpoint_list_free(&l);
	CHECK(resolve(regs, "ghcr.io/a", &l, &err) == 0 && !l.v[0].ca_file[0],
	      "certs.d is per host:port");
	crid_endpoint_list_free(&l);
	unlink(path);
	snprintf(path, sizeof(path), "%s/ghcr.io:443", dir);
	rmdir(path);
	rmdir(dir);
	crid_registries_free(regs);
}

static void test_bad_files(void)
{
	static const char *bad[][2] = {
		{ "[[registry]]\ninsecure = true\n",
		  "test.conf:1:1: registry[0]: needs a prefix or a location" },
		{ "[[registry]]\nprefix = 5\n",
		  "test.conf:2:10: registry[0].prefix: must be a string" },
		{ "[[registry]]\nlocation = \"https://x.io\"\n",
		  "test.conf:2:12: registry[0].location" },
		{ "[[registry]]\nlocation = \"x.io\"\ninsecure = \"yes\"\n",
		  "test.conf:3:12: registry[0].insecure: must be a boolean" },
		{ "[[registry]]\nprefix = \"*.x.io\"\nlocation = \"y.io\"\n",
		  "cannot be set with a wildcard" },
		{ "[[registry]]\nprefix = \"a*.x.io\"\n", "only as a leading" },
		{ "[[registry]]\nprefix = \"*.x.io/a\"\n", "wildcard must be" },
		{ "[[registry]]\nlocation = \"x.io\"\n[[registry.mirror]]\ninsecure = true\n",
		  "registry[0].mirror[0].location: missing" },
		{ "[[registry]]\nlocation = \"x.io\"\n[[registry.mirror]]\nlocation = "
		  "\"m.io\"\npull-from-mirror = \"some\"\n",
		  "pull-from-mirror" },
		{ "[[registry]]\nlocation = \"x.io\"\n[[registry]]\nprefix = \"x.io\"\n",
		  "test.conf:3:1: registry[1]: prefix `x.io` is already defined at test.conf:1" },
		{ "registry = 1\n", "registry: must be an array of tables" },
		{ "[registries.search]\nregistries = []\n", "v1 format" },
		{ "unqualified-search-registries = [1]\n", "unqualified-search-registries[0]" },
		{ "[[registry]\n", "test.conf:1:" },
	};
	struct crid_registries *regs;
	struct crid_err err = { 0 };
	size_t base = crid_mem_used();

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		memset(&err, 0, sizeof(err));
		CHECK(crid_registries_load_buffer(&regs, NULL, "test.conf", bad[i][0],
						  strlen(bad[i][0]), &err) == -1 &&
			  !regs && strstr(err.msg, bad[i][1]) && err.code == EINVAL,
		      "bad file %zu: %s", i, err.msg);
	}
	CHECK(crid_mem_used() == base, "nothing leaked");
}

static void test_load_path(void)
{
	struct crid_config cfg = { 0 };
	struct crid_registries *regs;
	struct crid_err err = { 0 };
	char path[] = "/tmp/crid-regconf-XXXXXX";
	int fd = mkstemp(path);

	if (fd < 0 || write(fd, conf, strlen(conf)) != (ssize_t)strlen(conf))
		return;
	close(fd);
	cfg.registries_conf = path;
	CHECK(crid_registries_load(&regs, &cfg, &err) == 0 && crid_registries_search(regs)->n == 2,
	      "load from file: %s", err.msg);
	crid_registries_free(regs);
	unlink(path);
	CHECK(crid_registries_load(&regs, &cfg, &err) == -1 &&
		  strstr(err.msg, "registries_conf: open") && strstr(err.msg, path),
	      "missing file: %s", err.msg);
	cfg.registries_conf = "";
	CHECK(crid_registries_load(&regs, &cfg, &err) == 0, "no file is fine");
	crid_registries_free(regs);
}

int main(void)
{
	setvbuf(stdout, NULL, _IONBF, 0);
	test_file();
	test_config();
	test_bad_files();
	test_load_path();
	return tap_done();
}
