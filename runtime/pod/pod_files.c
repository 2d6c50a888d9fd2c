#include "runtime/pod/pod_files.h"

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "reactor/mem.h"
#include "runtime/state/statefile.h"

#define HOST_FILE_MAX (64 * 1024) /* bound on the host's resolv.conf and hosts we copy */
#define DNS_SEARCH_MAX 32
#define DNS_ITEM_MAX 256
#define HOSTNAME_MAX 64
#define SHM_DEFAULT (64LL * 1024 * 1024)

/* ---- validation ---- */

static bool ip_literal(const char *s)
{
	unsigned char buf[sizeof(struct in6_addr)];

	return inet_pton(AF_INET, s, buf) == 1 || inet_pton(AF_INET6, s, buf) == 1;
}

/* Empty, too long, whitespace, control characters or '#' (a resolv.conf comment). */
static const char *word_problem(const char *s)
{
	size_t n = strlen(s);

	if (n == 0)
		return "is empty";
	if (n > DNS_ITEM_MAX)
		return "is longer than 256 bytes";
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c <= ' ' || c == 0x7f)
			return "contains whitespace or a control character";
		if (c == '#' || c == ';')
			return "contains a comment character";
	}
	return NULL;
}

/* resolv.conf(5) options: NAME or NAME:VALUE, NAME of letters, digits, '-' and '_'. */
static bool option_ok(const char *s)
{
	const char *colon = strchr(s, ':');
	size_t name_len = colon ? (size_t)(colon - s) : strlen(s);

	if (name_len == 0 || (colon && (colon[1] == '\0' || strchr(colon + 1, ':'))))
		return false;
	for (size_t i = 0; i < name_len; i++) {
		char c = s[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '-' || c == '_'))
			return false;
	}
	return true;
}

int crid_pod_dns_check(const struct crid_pod_dns *dns, struct crid_err *err)
{
	const char *why;

	if (!dns)
		return 0;
	for (size_t i = 0; i < dns->n_servers; i++)
		if (!ip_literal(dns->servers[i]))
			return crid_err_invalid(
			    err, "dns_config.servers[%zu]: `%.256s` is not an IP address", i,
			    dns->servers[i]);
	if (dns->n_searches > DNS_SEARCH_MAX)
		return crid_err_invalid(err, "dns_config.searches: %zu entries, at most %d",
					dns->n_searches, DNS_SEARCH_MAX);
	for (size_t i = 0; i < dns->n_searches; i++)
		if ((why = word_problem(dns->searches[i])))
			return crid_err_invalid(err, "dns_config.searches[%zu]: `%.256s` %s", i,
						dns->searches[i], why);
	for (size_t i = 0; i < dns->n_options; i++) {
		if ((why = word_problem(dns->options[i])))
			return crid_err_invalid(err, "dns_config.options[%zu]: `%.256s` %s", i,
						dns->options[i], why);
		if (!option_ok(dns->options[i]))
			return crid_err_invalid(err,
						"dns_config.options[%zu]: `%s` is not NAME or "
						"NAME:VALUE",
						i, dns->options[i]);
	}
	return 0;
}

int crid_pod_hostname_check(const char *hostname, struct crid_err *err)
{
	size_t n = strlen(hostname), label = 0;

	if (n > HOSTNAME_MAX)
		return crid_err_invalid(err, "hostname: `%.64s...` is longer than %d bytes",
					hostname, HOSTNAME_MAX);
	for (size_t i = 0; i < n; i++) {
		char c = hostname[i];
		bool alnum =
		    (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');

		if (c == '.') {
			if (label == 0 || hostname[i - 1] == '-')
				goto bad;
			label = 0;
			continue;
		}
		if (!alnum && !(c == '-' && label > 0))
			goto bad;
		if (++label > 63)
			goto bad;
	}
	if (n && (label == 0 || hostname[n - 1] == '-'))
		goto bad;
	return 0;
bad:
	return crid_err_invalid(err, "hostname: `%s` is not a valid RFC 1123 hostname", hostname);
}

/* ---- contents ---- */

struct text {
	char *buf;
	size_t len, cap;
	bool overflow;
};

static void __attribute__((format(printf, 2, 3))) add(struct text *t, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (t->overflow)
		return;
	va_start(ap, fmt);
	n = vsnprintf(t->buf + t->len, t->cap - t->len, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= t->cap - t->len)
		t->overflow = true;
	else
		t->len += (size_t)n;
}

static int write_file(const char *dir, const char *name, const char *data, size_t len,
		      struct crid_err *err)
{
	char path[PATH_MAX];

	if (snprintf(path, sizeof(path), "%s/%s", dir, name) >= (int)sizeof(path))
		return crid_err_set(err, ENAMETOOLONG, "pod file `%s/%s`", dir, name);
	return crid_statefile_write_volatile(path, data, len, 0644, err); /* runroot */
}

/* Copies a host file (at most HOST_FILE_MAX bytes); a missing one gives an empty file. */
static int copy_host_file(const char *src, const char *dir, const char *name, struct crid_err *err)
{
	struct crid_err rerr;
	char *data = NULL;
	size_t len = 0;
	int r;

	if (crid_statefile_read(src, HOST_FILE_MAX, &data, &len, &rerr) < 0 &&
	    rerr.code != ENOENT) {
		if (err)
			*err = rerr;
		return -1;
	}
	r = write_file(dir, name, data ? data : "", len, err);
	crid_free(data);
	return r;
}

static int write_resolv(const char *dir, const struct crid_pod_dns *dns, struct crid_err *err)
{
	struct text t = { 0 };
	int r;

	if (!dns || (!dns->n_servers && !dns->n_searches && !dns->n_options))
		return copy_host_file("/etc/resolv.conf", dir, "resolv.conf", err);
	if (crid_pod_dns_check(dns, err) < 0)
		return -1;
	t.cap = 64 + (dns->n_servers + dns->n_searches + dns->n_options) * (DNS_ITEM_MAX + 16);
	t.buf = crid_malloc(t.cap);
	if (!t.buf)
		return crid_err_set(err, ENOMEM, "resolv.conf in `%s`", dir);
	/* The order of moby's and CRI-O's resolvconf.Build: nameservers, search, options. */
	for (size_t i = 0; i < dns->n_servers; i++)
		add(&t, "nameserver %s\n", dns->servers[i]);
	for (size_t i = 0; i < dns->n_searches; i++)
		add(&t, "%s%s%s", i ? " " : "search ", dns->searches[i],
		    i + 1 == dns->n_searches ? "\n" : "");
	for (size_t i = 0; i < dns->n_options; i++)
		add(&t, "%s%s%s", i ? " " : "options ", dns->options[i],
		    i + 1 == dns->n_options ? "\n" : "");
	r = t.overflow ? crid_err_set(err, EOVERFLOW, "resolv.conf in `%s`", dir)
		       : write_file(dir, "resolv.conf", t.buf, t.len, err);
	crid_free(t.buf);
	return r;
}

static const char hosts_head[] = "127.0.0.1\tlocalhost\n"
				 "::1\tlocalhost ip6-localhost ip6-loopback\n"
				 "fe00::0\tip6-localnet\n"
				 "fe00::0\tip6-mcastprefix\n"
				 "fe00::1\tip6-allnodes\n"
				 "fe00::2\tip6-allrouters\n";

int crid_pod_files_write_hosts(const char *dir, const char *hostname, const char *const *ips,
			       size_t n_ips, bool host_network, struct crid_err *err)
{
	struct text t = { 0 };
	int r;

	if (host_network)
		return copy_host_file("/etc/hosts", dir, "hosts", err);
	if (crid_pod_hostname_check(hostname, err) < 0)
		return -1;
	for (size_t i = 0; i < n_ips; i++)
		if (!ip_literal(ips[i]))
			return crid_err_invalid(err, "pod ip `%.64s` is not an IP address", ips[i]);
	t.cap = sizeof(hosts_head) + n_ips * (INET6_ADDRSTRLEN + HOSTNAME_MAX + 4);
	t.buf = crid_malloc(t.cap);
	if (!t.buf)
		return crid_err_set(err, ENOMEM, "hosts in `%s`", dir);
	add(&t, "%s", hosts_head);
	for (size_t i = 0; hostname[0] && i < n_ips; i++)
		add(&t, "%s\t%s\n", ips[i], hostname);
	r = t.overflow ? crid_err_set(err, EOVERFLOW, "hosts in `%s`", dir)
		       : write_file(dir, "hosts", t.buf, t.len, err);
	crid_free(t.buf);
	return r;
}

/* ---- shm ---- */

static bool is_mountpoint(const char *path, const char *parent)
{
	struct stat a, b;

	return stat(path, &a) == 0 && stat(parent, &b) == 0 && a.st_dev != b.st_dev;
}

static int mount_shm(const char *dir, long long size, struct crid_err *err)
{
	char path[PATH_MAX], opts[64];

	if (size < 0)
		return 0;
	if (size == 0)
		size = SHM_DEFAULT;
	if (snprintf(path, sizeof(path), "%s/shm", dir) >= (int)sizeof(path))
		return crid_err_set(err, ENAMETOOLONG, "shm in `%s`", dir);
	if (mkdir(path, 0755) < 0 && errno != EEXIST)
		return crid_err_set(err, errno, "mkdir `%s`", path);
	if (is_mountpoint(path, dir))
		return 0; /* mounted by an earlier attempt */
	snprintf(opts, sizeof(opts), "mode=1777,size=%lld", size);
	if (mount("shm", path, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, opts) < 0)
		return crid_err_set(err, errno, "mount tmpfs on `%s` (%s)", path, opts);
	return 0;
}

int crid_pod_files_create(const struct crid_pod_files_spec *spec, struct crid_err *err)
{
	char host[HOSTNAME_MAX + 2], line[HOSTNAME_MAX + 2];
	const char *name = spec->hostname ? spec->hostname : "";
	int len;

	if (!spec->dir || spec->dir[0] != '/')
		return crid_err_invalid(err, "pod files dir `%s` is not absolute",
					spec->dir ? spec->dir : "");
	if (crid_pod_hostname_check(name, err) < 0 || crid_pod_dns_check(spec->dns, err) < 0)
		return -1;
	if (!name[0]) {
		/* No name given: the node's own, as CRI-O does for host-network pods. */
		if (gethostname(host, sizeof(host) - 1) < 0)
			return crid_err_set(err, errno, "gethostname");
		host[sizeof(host) - 1] = '\0';
		name = host;
	}
	if (crid_mkdir_p(spec->dir, 0755, err) < 0)
		return -1;
	len = snprintf(line, sizeof(line), "%s\n", name);
	if (write_file(spec->dir, "hostname", line, (size_t)len, err) < 0 ||
	    write_resolv(spec->dir, spec->dns, err) < 0 ||
	    crid_pod_files_write_hosts(spec->dir, name, spec->ips, spec->n_ips, spec->host_network,
				       err) < 0 ||
	    mount_shm(spec->dir, spec->shm_size, err) < 0) {
		crid_pod_files_remove(spec->dir, NULL);
		return -1;
	}
	return 0;
}

int crid_pod_files_remove(const char *dir, struct crid_err *err)
{
	static const char *const names[] = { "hostname",	"hostname.tmp", "resolv.conf",
					     "resolv.conf.tmp", "hosts",	"hosts.tmp" };
	char path[PATH_MAX];

	if (snprintf(path, sizeof(path), "%s/shm", dir) >= (int)sizeof(path))
		return crid_err_set(err, ENAMETOOLONG, "pod files dir `%s`", dir);
	while (umount2(path, MNT_DETACH | UMOUNT_NOFOLLOW) == 0)
		;
	if (errno != EINVAL && errno != ENOENT)
		return crid_err_set(err, errno, "unmount `%s`", path);
	if (rmdir(path) < 0 && errno != ENOENT)
		return crid_err_set(err, errno, "remove `%s`", path);
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
		if (unlink(path) < 0 && errno != ENOENT)
			return crid_err_set(err, errno, "remove `%s`", path);
	}
	if (rmdir(dir) < 0 && errno != ENOENT)
		return crid_err_set(err, errno, "remove `%s`", dir);
	return 0;
}
