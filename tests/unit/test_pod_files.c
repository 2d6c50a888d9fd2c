/*
 * Pod files: hostname, resolv.conf and hosts byte for byte, copies of the
 * host's files, the validation messages, and (as root) the shm tmpfs with
 * its size; remove leaves nothing.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>
#include <linux/magic.h>

#include "reactor/mem.h"
#include "runtime/pod/pod_files.h"
#include "runtime/state/statefile.h"
#include "tests/unit/tap.h"

static char sandbox[64];
static bool root;

static bool file_is(const char *dir, const char *name, const char *want, size_t want_len)
{
	char path[PATH_MAX];
	struct stat st = { 0 };
	size_t len;
	char *got;
	bool ok;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	if (crid_statefile_read(path, 1 << 20, &got, &len, NULL) < 0)
		return false;
	ok = len == want_len && memcmp(got, want, len) == 0 && stat(path, &st) == 0 &&
	     (st.st_mode & 07777) == 0644;
	if (!ok)
		printf("# %s: got %zu bytes:\n%s\n", name, len, got);
	crid_free(got);
	return ok;
}

static bool same_as_host(const char *dir, const char *name, const char *host_path)
{
	size_t len = 0;
	char *want = NULL;
	bool ok;

	if (crid_statefile_read(host_path, 1 << 20, &want, &len, NULL) < 0)
		return file_is(dir, name, "", 0);
	ok = file_is(dir, name, want, len);
	crid_free(want);
	return ok;
}

static bool exists(const char *dir, const char *name)
{
	char path[PATH_MAX];
	struct stat st = { 0 };

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	return lstat(path, &st) == 0;
}

static const char hosts_head[] = "127.0.0.1\tlocalhost\n"
				 "::1\tlocalhost ip6-localhost ip6-loopback\n"
				 "fe00::0\tip6-localnet\n"
				 "fe00::0\tip6-mcastprefix\n"
				 "fe00::1\tip6-allnodes\n"
				 "fe00::2\tip6-allrouters\n";

static void test_pod_with_dns(void)
{
	const char *servers[] = { "10.96.0.10", "fd00::a" };
	const char *searches[] = { "default.svc.cluster.local", "svc.cluster.local" };
	const char *options[] = { "ndots:5", "edns0" };
	const char *ips[] = { "10.88.0.5", "fd00::5" };
	struct crid_pod_dns dns = { servers, 2, searches, 2, options, 2 };
	struct crid_pod_files_spec spec = { 0 };
	char dir[128], hosts[512];
	struct crid_err err = { 0 };

	snprintf(dir, sizeof(dir), "%s/pod1/files", sandbox);
	spec.dir = dir;
	spec.hostname = "web-0";
	spec.dns = &dns;
	spec.shm_size = root ? 16 * 1024 * 1024 : -1;
	crid_err_clear(&err);
	if (!CHECK(crid_pod_files_create(&spec, &err) == 0, "create: %s", err.msg))
		return;
	CHECK(file_is(dir, "hostname", "web-0\n", 6), "hostname file");
	const char resolv[] = "nameserver 10.96.0.10\n"
			      "nameserver fd00::a\n"
			      "search default.svc.cluster.local svc.cluster.local\n"
			      "options ndots:5 edns0\n";
	CHECK(file_is(dir, "resolv.conf", resolv, sizeof(resolv) - 1),
	      "resolv.conf from DNSConfig");
	CHECK(file_is(dir, "hosts", hosts_head, sizeof(hosts_head) - 1),
	      "hosts before CNI: localhost lines only");

	CHECK(crid_pod_files_write_hosts(dir, "web-0", ips, 2, false, &err) == 0, "hosts: %s",
	      err.msg);
	snprintf(hosts, sizeof(hosts), "%s10.88.0.5\tweb-0\nfd00::5\tweb-0\n", hosts_head);
	CHECK(file_is(dir, "hosts", hosts, strlen(hosts)), "hosts with the pod IPs");
	CHECK(!exists(dir, "hosts.tmp"), "no temp file left");

	if (root) {
		char shm[160];
		struct statfs sf = { 0 };

		snprintf(shm, sizeof(shm), "%s/shm", dir);
		CHECK(statfs(shm, &sf) == 0 && sf.f_type == TMPFS_MAGIC &&
			  (long long)sf.f_blocks * sf.f_bsize == 16 * 1024 * 1024,
		      "shm is a 16 MiB tmpfs (%lld bytes)", (long long)sf.f_blocks * sf.f_bsize);
		CHECK(crid_pod_files_create(&spec, &err) == 0, "create again is fine: %s", err.msg);
	} else {
		tap_skip("shm tmpfs", "needs root (mount)");
	}
	CHECK(crid_pod_files_remove(dir, &err) == 0, "remove: %s", err.msg);
	CHECK(!exists(dir, "") && !exists(dir, "shm"), "dir and shm gone");
	CHECK(crid_pod_files_remove(dir, &err) == 0, "remove again is a no-op: %s", err.msg);
	snprintf(dir, sizeof(dir), "%s/pod1", sandbox);
	rmdir(dir);
}

static void test_host_copies(void)
{
	struct crid_pod_dns empty = { 0 };
	struct crid_pod_files_spec spec = { 0 };
	char dir[128], host[80], want[96];
	struct crid_err err = { 0 };

	snprintf(dir, sizeof(dir), "%s/pod2", sandbox);
	spec.dir = dir;
	spec.hostname = "";
	spec.dns = &empty;
	spec.host_network = true;
	spec.shm_size = root ? 0 : -1;
	crid_err_clear(&err);
	if (!CHECK(crid_pod_files_create(&spec, &err) == 0, "create host-network pod: %s", err.msg))
		return;
	gethostname(host, sizeof(host));
	snprintf(want, sizeof(want), "%s\n", host);
	CHECK(file_is(dir, "hostname", want, strlen(want)), "no hostname: the node's");
	CHECK(same_as_host(dir, "resolv.conf", "/etc/resolv.conf"),
	      "empty DNSConfig: the host's resolv.conf");
	CHECK(same_as_host(dir, "hosts", "/etc/hosts"), "host network: the host's hosts");
	if (root) {
		char shm[160];
		struct statfs sf = { 0 };

		snprintf(shm, sizeof(shm), "%s/shm", dir);
		CHECK(statfs(shm, &sf) == 0 && sf.f_type == TMPFS_MAGIC &&
			  (long long)sf.f_blocks * sf.f_bsize == 64LL * 1024 * 1024,
		      "shm_size 0: 64 MiB");
	}
	CHECK(crid_pod_files_remove(dir, &err) == 0 && !exists(dir, ""), "removed: %s", err.msg);

	spec.dns = NULL;
	spec.shm_size = -1;
	CHECK(crid_pod_files_create(&spec, &err) == 0 && !exists(dir, "shm") &&
		  same_as_host(dir, "resolv.conf", "/etc/resolv.conf"),
	      "no DNSConfig, shm_size < 0: the host's resolv.conf, no shm");
	crid_pod_files_remove(dir, NULL);
}

/* A step that fails undoes the ones before it. */
static void test_create_undoes(void)
{
	const char *ips[] = { "10.0.0.1", "not-an-ip" };
	struct crid_pod_files_spec spec = { 0 };
	struct crid_err err = { 0 };
	char dir[128];

	snprintf(dir, sizeof(dir), "%s/pod3", sandbox);
	spec.dir = dir;
	spec.hostname = "pod3";
	spec.ips = ips;
	spec.n_ips = 2;
	spec.shm_size = -1;
	CHECK(crid_pod_files_create(&spec, &err) < 0 && err.code == EINVAL &&
		  !strcmp(err.msg, "pod ip `not-an-ip` is not an IP address") && !exists(dir, ""),
	      "bad pod IP refused, nothing left: %s", err.msg);
	/* An allocation failure half-way (resolv.conf, then hosts) undoes the files before it. */
	const char *servers[] = { "10.0.0.10" };
	struct crid_pod_dns dns = { servers, 1, NULL, 0, NULL, 0 };

	spec.dns = &dns;
	spec.n_ips = 1;
	for (long n = 1; n <= 2; n++) {
		crid_mem_fail_after(n);
		int r = crid_pod_files_create(&spec, &err);

		crid_mem_fail_after(0);
		CHECK(r < 0 && err.code == ENOMEM && !exists(dir, ""),
		      "allocation %ld fails: %s, nothing left", n, err.msg);
	}
	spec.dir = "relative/dir";
	CHECK(crid_pod_files_create(&spec, &err) < 0 && err.code == EINVAL, "relative dir: %s",
	      err.msg);
}

static void check_dns(const struct crid_pod_dns *dns, const char *want)
{
	struct crid_err err = { 0 };

	crid_err_clear(&err);
	CHECK(crid_pod_dns_check(dns, &err) < 0 && err.code == EINVAL && !strcmp(err.msg, want),
	      "refused: %s", err.msg);
}

static void test_dns_validation(void)
{
	const char *bad_server[] = { "10.0.0.1", "1.2.3" };
	const char *host_server[] = { "dns.example.org" };
	const char *space[] = { "a.b", "c d" };
	const char *hash[] = { "a#b" };
	const char *opt_space[] = { "ndots:1", "c d" };
	const char *empty[] = { "" };
	const char *opt_colon[] = { "ndots:" };
	const char *opt_name[] = { "nd@ts:5" };
	const char *good_opts[] = { "ndots:2", "single-request-reopen", "timeout:1", "edns0" };
	const char *many[33];
	char long_search[300];
	const char *longs[] = { long_search };
	struct crid_pod_dns d;
	struct crid_err err = { 0 };

	for (int i = 0; i < 33; i++)
		many[i] = "a.example";
	memset(long_search, 'a', 257);
	long_search[257] = '\0';

	d = (struct crid_pod_dns){ bad_server, 2, NULL, 0, NULL, 0 };
	check_dns(&d, "dns_config.servers[1]: `1.2.3` is not an IP address");
	d = (struct crid_pod_dns){ host_server, 1, NULL, 0, NULL, 0 };
	check_dns(&d, "dns_config.servers[0]: `dns.example.org` is not an IP address");
	d = (struct crid_pod_dns){ NULL, 0, space, 2, NULL, 0 };
	check_dns(&d, "dns_config.searches[1]: `c d` contains whitespace or a control character");
	d = (struct crid_pod_dns){ NULL, 0, hash, 1, NULL, 0 };
	check_dns(&d, "dns_config.searches[0]: `a#b` contains a comment character");
	d = (struct crid_pod_dns){ NULL, 0, empty, 1, NULL, 0 };
	check_dns(&d, "dns_config.searches[0]: `` is empty");
	d = (struct crid_pod_dns){ NULL, 0, many, 33, NULL, 0 };
	check_dns(&d, "dns_config.searches: 33 entries, at most 32");
	d = (struct crid_pod_dns){ NULL, 0, longs, 1, NULL, 0 };
	crid_pod_dns_check(&d, &err);
	CHECK(strstr(err.msg, "dns_config.searches[0]: `aaa") &&
		  strstr(err.msg, "is longer than 256 bytes"),
	      "257-byte search refused");
	d = (struct crid_pod_dns){ NULL, 0, NULL, 0, opt_colon, 1 };
	check_dns(&d, "dns_config.options[0]: `ndots:` is not NAME or NAME:VALUE");
	d = (struct crid_pod_dns){ NULL, 0, NULL, 0, opt_name, 1 };
	check_dns(&d, "dns_config.options[0]: `nd@ts:5` is not NAME or NAME:VALUE");
	d = (struct crid_pod_dns){ NULL, 0, NULL, 0, opt_space, 2 };
	check_dns(&d, "dns_config.options[1]: `c d` contains whitespace or a control character");

	d = (struct crid_pod_dns){ bad_server, 1, many, 32, good_opts, 4 };
	CHECK(crid_pod_dns_check(&d, &err) == 0 && crid_pod_dns_check(NULL, &err) == 0,
	      "valid config and NULL accepted");
}

static void test_hostname_validation(void)
{
	static const char *const good[] = { "", "a", "web-0", "a.b-c.d", "Node1", "0a", "x.y.z" };
	static const char *const bad[] = { "-a", "a-", "a..b", ".a", "a.", "a_b", "a b", "é" };
	char long_name[80], long_label[80];
	struct crid_err err = { 0 };

	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		CHECK(crid_pod_hostname_check(good[i], &err) == 0, "hostname `%s` accepted",
		      good[i]);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char want[96];

		snprintf(want, sizeof(want), "hostname: `%s` is not a valid RFC 1123 hostname",
			 bad[i]);
		CHECK(crid_pod_hostname_check(bad[i], &err) < 0 && err.code == EINVAL &&
			  !strcmp(err.msg, want),
		      "hostname `%s` refused: %s", bad[i], err.msg);
	}
	memset(long_name, 'a', 65);
	long_name[30] = '.';
	long_name[65] = '\0';
	CHECK(crid_pod_hostname_check(long_name, &err) < 0 && strstr(err.msg, "longer than 64"),
	      "65 bytes refused: %s", err.msg);
	long_name[64] = '\0';
	CHECK(crid_pod_hostname_check(long_name, &err) == 0, "64 bytes accepted");
	memset(long_label, 'b', 64);
	long_label[64] = '\0';
	CHECK(crid_pod_hostname_check(long_label, &err) < 0, "a 64-byte label refused");
}

int main(void)
{
	root = geteuid() == 0;
	snprintf(sandbox, sizeof(sandbox), "/tmp/crid-test-podfiles-XXXXXX");
	if (!mkdtemp(sandbox)) {
		CHECK(0, "mkdtemp: %s", strerror(errno));
		return tap_done();
	}
	test_dns_validation();
	test_hostname_validation();
	test_pod_with_dns();
	test_host_copies();
	test_create_undoes();
	CHECK(rmdir(sandbox) == 0, "sandbox empty at the end");
	return tap_done();
}
