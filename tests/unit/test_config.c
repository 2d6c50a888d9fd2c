/* Unit tests for runtime/config.c: defaults, the example file, the schema, flags, validation. */
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "reactor/mem.h"
#include "runtime/config/config.h"
#include "tap.h"

static bool str_eq(const char *a, const char *b)
{
	return a && b && strcmp(a, b) == 0;
}

static bool strv_is(const struct crid_strv *sv, const char *const *want)
{
	size_t n = 0;

	while (want[n])
		n++;
	if (sv->n != n)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!str_eq(sv->v[i], want[i]))
			return false;
	return true;
}

static bool strv_eq(const struct crid_strv *a, const struct crid_strv *b)
{
	if (a->n != b->n)
		return false;
	for (size_t i = 0; i < a->n; i++)
		if (!str_eq(a->v[i], b->v[i]))
			return false;
	return true;
}

/* Name of the first field where |a| and |b| differ, or NULL when equal. */
static const char *config_diff(const struct crid_config *a, const struct crid_config *b)
{
#define SAME_STR(f)                                                                                \
	if (!str_eq(a->f, b->f))                                                                   \
		return #f;
	SAME_STR(config_path)
	SAME_STR(listen)
	SAME_STR(root)
	SAME_STR(runroot)
	SAME_STR(log_level)
	SAME_STR(default_runtime)
	SAME_STR(cgroup_manager)
	SAME_STR(seccomp_profile)
	SAME_STR(cni_config_dir)
	SAME_STR(registries_conf)
	SAME_STR(auth_file)
	SAME_STR(certs_dir)
	SAME_STR(stream_address)
	SAME_STR(stream_tls_cert)
	SAME_STR(stream_tls_key)
	SAME_STR(listen_group)
	SAME_STR(helper_dir)
	SAME_STR(log_format)
	SAME_STR(metrics_host)
#undef SAME_STR
	if (a->enable_metrics != b->enable_metrics)
		return "enable_metrics";
	if (a->metrics_port != b->metrics_port)
		return "metrics_port";
	if (a->log_size_max != b->log_size_max)
		return "log_size_max";
	if (a->listen_mode != b->listen_mode)
		return "listen_mode";
	if (a->stream_port != b->stream_port)
		return "stream_port";
	if (a->stream_idle_timeout != b->stream_idle_timeout)
		return "stream_idle_timeout";
	if (a->max_layer_entries != b->max_layer_entries)
		return "max_layer_entries";
	if (a->max_layers != b->max_layers)
		return "max_layers";
	if (a->runtime_timeout != b->runtime_timeout)
		return "runtime_timeout";
	if (a->pull_progress_timeout != b->pull_progress_timeout)
		return "pull_progress_timeout";
	if (a->max_layer_unpacked_bytes != b->max_layer_unpacked_bytes)
		return "max_layer_unpacked_bytes";
	if (a->max_image_unpacked_bytes != b->max_image_unpacked_bytes)
		return "max_image_unpacked_bytes";
	if (!strv_eq(&a->default_capabilities, &b->default_capabilities))
		return "default_capabilities";
	if (!strv_eq(&a->cni_plugin_dirs, &b->cni_plugin_dirs))
		return "cni_plugin_dirs";
	if (!strv_eq(&a->insecure_registries, &b->insecure_registries))
		return "insecure_registries";
	if (a->n_runtimes != b->n_runtimes)
		return "n_runtimes";
	for (size_t i = 0; i < a->n_runtimes; i++)
		if (!str_eq(a->runtimes[i].name, b->runtimes[i].name) ||
		    !str_eq(a->runtimes[i].runtime_path, b->runtimes[i].runtime_path) ||
		    !str_eq(a->runtimes[i].runtime_root, b->runtimes[i].runtime_root))
			return "runtimes";
	if (a->n_registries != b->n_registries)
		return "n_registries";
	for (size_t i = 0; i < a->n_registries; i++)
		if (!str_eq(a->registries[i].host, b->registries[i].host) ||
		    a->registries[i].insecure != b->registries[i].insecure ||
		    !str_eq(a->registries[i].ca_file, b->registries[i].ca_file) ||
		    !strv_eq(&a->registries[i].mirrors, &b->registries[i].mirrors))
			return "registries";
	return NULL;
}

static void set(char **field, const char *v)
{
	crid_free(*field);
	*field = crid_strdup(v);
}

static void set_list(struct crid_strv *sv, const char *v)
{
	for (size_t i = 0; i < sv->n; i++)
		crid_free(sv->v[i]);
	crid_free(sv->v);
	sv->v = crid_calloc(2, sizeof(char *));
	sv->v[0] = crid_strdup(v);
	sv->n = 1;
}

static int load(struct crid_config *cfg, const char *doc, struct crid_err *err)
{
	return crid_config_load_buffer(cfg, "t.toml", doc, strlen(doc), err);
}

static char *write_tmp(const char *content, size_t len)
{
	static char path[64];
	FILE *f;
	int fd;

	snprintf(path, sizeof(path), "/tmp/crid-test-config-XXXXXX");
	fd = mkstemp(path);
	if (fd < 0)
		return NULL;
	f = fdopen(fd, "w");
	fwrite(content, 1, len, f);
	fclose(f);
	return path;
}

static char *write_tmp_str(const char *content)
{
	return write_tmp(content, strlen(content));
}

static void test_defaults(void)
{
	static const char *const caps[] = { "CHOWN",   "DAC_OVERRIDE",	   "FSETID",
					    "FOWNER",  "SETGID",	   "SETUID",
					    "SETPCAP", "NET_BIND_SERVICE", "KILL",
					    NULL };
	static const char *const plugins[] = { "/opt/cni/bin", "/usr/lib/cni", NULL };
	static const char *const none[] = { NULL };
	struct crid_config c;
	struct crid_err err = { 0 };

	CHECK(crid_config_init_defaults(&c, &err) == 0, "defaults");
	CHECK(str_eq(c.config_path, "") && str_eq(c.listen, "/run/crid/crid.sock") &&
		  str_eq(c.root, "/var/lib/crid") && str_eq(c.runroot, "/run/crid") &&
		  str_eq(c.log_level, "info") && c.log_size_max == -1,
	      "[crid] defaults");
	CHECK(str_eq(c.default_runtime, "crun") && str_eq(c.cgroup_manager, "cgroupfs") &&
		  strv_is(&c.default_capabilities, caps) && str_eq(c.seccomp_profile, ""),
	      "[crid.runtime] defaults");
	CHECK(c.n_runtimes == 2 && str_eq(c.runtimes[0].name, "crun") &&
		  str_eq(c.runtimes[0].runtime_path, "/usr/bin/crun") &&
		  str_eq(c.runtimes[0].runtime_root, "") && str_eq(c.runtimes[1].name, "runc") &&
		  str_eq(c.runtimes[1].runtime_path, "/usr/bin/runc") &&
		  str_eq(c.runtimes[1].runtime_root, ""),
	      "built-in runtime handlers");
	CHECK(str_eq(c.cni_config_dir, "/etc/cni/net.d") && strv_is(&c.cni_plugin_dirs, plugins),
	      "[crid.network] defaults");
	CHECK(str_eq(c.registries_conf, "") && str_eq(c.auth_file, "") &&
		  str_eq(c.certs_dir, "/etc/containers/certs.d") &&
		  c.max_layer_entries == 1000000 && c.max_layers == 500 &&
		  c.max_layer_unpacked_bytes == 64ll << 30 &&
		  c.max_image_unpacked_bytes == 256ll << 30 &&
		  strv_is(&c.insecure_registries, none) && c.n_registries == 0 &&
		  c.pull_progress_timeout == 60,
	      "[crid.image] defaults");
	CHECK(c.runtime_timeout == 120, "runtime call timeout default");
	CHECK(str_eq(c.stream_address, "127.0.0.1") && c.stream_port == 0 &&
		  c.stream_idle_timeout == 4 * 3600 && str_eq(c.stream_tls_cert, "") &&
		  str_eq(c.stream_tls_key, ""),
	      "[crid.stream] defaults (no TLS)");
	CHECK(crid_config_validate(&c, &err) == 0, "defaults validate");
	CHECK(crid_config_find_runtime(&c, "") == &c.runtimes[0] &&
		  crid_config_find_runtime(&c, NULL) == &c.runtimes[0] &&
		  crid_config_find_runtime(&c, "runc") == &c.runtimes[1] &&
		  crid_config_find_runtime(&c, "nope") == NULL,
	      "find_runtime: default, by name, unknown");
	crid_config_free(&c);
	CHECK(c.listen == NULL && c.n_runtimes == 0, "free leaves a zeroed struct");
	crid_config_free(&c);
	CHECK(true, "free twice is harmless");
}

/* config.example.toml must set every key, to exactly the defaults. */
static void test_example(void)
{
	struct crid_config c, d;
	struct crid_err err = { 0 };
	const char *diff;

	crid_config_init_defaults(&c, &err);
	crid_config_init_defaults(&d, &err);
	set(&c.listen, "/x.sock");
	set(&c.root, "/x");
	set(&c.runroot, "/y");
	set(&c.log_level, "trace");
	c.log_size_max = 7;
	set(&c.default_runtime, "runc");
	set(&c.cgroup_manager, "systemd");
	set_list(&c.default_capabilities, "SYS_ADMIN");
	set(&c.seccomp_profile, "/s.json");
	set(&c.runtimes[0].runtime_path, "/opt/crun");
	set(&c.runtimes[1].runtime_root, "/r");
	set(&c.cni_config_dir, "/c");
	set_list(&c.cni_plugin_dirs, "/p");
	set(&c.registries_conf, "/r.conf");
	set(&c.auth_file, "/a.json");
	set_list(&c.insecure_registries, "x.example");
	set(&c.stream_address, "::1");
	c.stream_port = 1;
	c.stream_idle_timeout = 1;
	c.runtime_timeout = 1;
	c.pull_progress_timeout = 1;
	set(&c.stream_tls_cert, "/c.pem");
	set(&c.stream_tls_key, "/k.pem");
	set(&c.log_format, "json");
	c.enable_metrics = true;
	set(&c.metrics_host, "::1");
	c.metrics_port = 1;
	CHECK(crid_config_load_file(&c, "config.example.toml", &err) == 0,
	      "config.example.toml loads (%s)", err.msg);
	set(&d.config_path, "config.example.toml");
	diff = config_diff(&c, &d);
	CHECK(diff == NULL, "config.example.toml sets every key to its default (differs: %s)",
	      diff ? diff : "nothing");
	CHECK(crid_config_validate(&c, &err) == 0, "example validates");
	crid_config_free(&c);
	crid_config_free(&d);
}

static void test_overrides(void)
{
	static const char *const caps[] = { "NET_RAW", "SYS_ADMIN", "KILL", NULL };
	static const char *const mirrors[] = { "m1.example.com/lib", "m2.example.com", NULL };
	static const char *const none[] = { NULL };
	struct crid_config c, d;
	struct crid_err err = { 0 };
	int rc;

	crid_config_init_defaults(&c, &err);
	crid_config_init_defaults(&d, &err);
	rc = load(&c,
		  "[crid]\nlisten = \"/run/other.sock\"\nlog_level = \"warning\"\n"
		  "log_size_max = 1_048_576\n"
		  "network.cni_config_dir = \"/cni\"\n"
		  "[crid.runtime]\ndefault_runtime = \"runc\"\ndefault_capabilities = "
		  "[\"cap_net_raw\", \"SYS_ADMIN\", "
		  "\"CAP_KILL\"]\n"
		  "[crid.runtime.runtimes.crun]\nruntime_root = \"/run/crun2\"\n"
		  "[crid.runtime.runtimes.kata]\nruntime_path = \"/usr/bin/kata-runtime\"\n"
		  "[crid.image.registries.\"127.0.0.1:5000\"]\ninsecure = true\n"
		  "[crid.image.registries.'docker.io']\nca_file = \"/etc/ca.pem\"\n"
		  "mirrors = [\"m1.example.com/lib\", \"m2.example.com\"]\n"
		  "[crid.stream]\nport = 65535\naddress = \"::1\"\nidle_timeout = 60\n"
		  "tls_cert = \"/etc/crid/tls.crt\"\ntls_key = \"/etc/crid/tls.key\"\n",
		  &err);
	CHECK(rc == 0, "override document loads (%s)", rc ? err.msg : "");
	CHECK(str_eq(c.listen, "/run/other.sock") && str_eq(c.root, d.root) &&
		  c.log_size_max == 1048576,
	      "set keys change, others keep their value");
	CHECK(str_eq(c.log_level, "warn"), "log level stored canonical (warning -> warn)");
	CHECK(str_eq(c.default_runtime, "runc") && str_eq(c.cni_config_dir, "/cni"),
	      "section keys and dotted keys into a section");
	CHECK(strv_is(&c.default_capabilities, caps), "capabilities normalized to CRI-O's form");
	CHECK(c.n_runtimes == 3 && str_eq(c.runtimes[0].runtime_path, "/usr/bin/crun") &&
		  str_eq(c.runtimes[0].runtime_root, "/run/crun2") &&
		  str_eq(c.runtimes[1].runtime_root, "") && str_eq(c.runtimes[2].name, "kata") &&
		  str_eq(c.runtimes[2].runtime_path, "/usr/bin/kata-runtime") &&
		  str_eq(c.runtimes[2].runtime_root, ""),
	      "runtime handlers merge by name, new ones are added");
	CHECK(c.n_registries == 2 && str_eq(c.registries[0].host, "127.0.0.1:5000") &&
		  c.registries[0].insecure && str_eq(c.registries[0].ca_file, "") &&
		  strv_is(&c.registries[0].mirrors, none) &&
		  str_eq(c.registries[1].host, "docker.io") && !c.registries[1].insecure &&
		  str_eq(c.registries[1].ca_file, "/etc/ca.pem") &&
		  strv_is(&c.registries[1].mirrors, mirrors),
	      "registries");
	CHECK(c.stream_port == 65535 && str_eq(c.stream_address, "::1") &&
		  c.stream_idle_timeout == 60,
	      "stream port, address and idle timeout");
	rc = load(&d,
		  "[crid.runtime]\nruntime_timeout = 5\n[crid.image]\npull_progress_timeout = 7\n",
		  &err);
	CHECK(rc == 0 && d.runtime_timeout == 5 && d.pull_progress_timeout == 7,
	      "runtime call and pull progress timeouts");
	CHECK(str_eq(c.stream_tls_cert, "/etc/crid/tls.crt") &&
		  str_eq(c.stream_tls_key, "/etc/crid/tls.key"),
	      "stream tls_cert and tls_key");
	CHECK(crid_config_validate(&c, &err) == 0, "overridden config validates (%s)", err.msg);
	set(&c.stream_tls_key, "");
	CHECK(crid_config_validate(&c, &err) < 0 &&
		  strstr(err.msg, "`crid.stream.tls_key` must be set too"),
	      "tls_cert without tls_key: %s", err.msg);
	set(&c.stream_tls_key, "/etc/crid/tls.key");
	set(&c.stream_tls_cert, "");
	CHECK(crid_config_validate(&c, &err) < 0 &&
		  strstr(err.msg, "`crid.stream.tls_cert` must be set too"),
	      "tls_key without tls_cert: %s", err.msg);
	set(&c.stream_tls_cert, "/etc/crid/tls.crt");
	rc = load(&c,
		  "[crid.image.registries.\"docker.io\"]\ninsecure = true\n"
		  "[crid.runtime.runtimes]\nyouki = { runtime_path = \"/usr/bin/youki\" }\n",
		  &err);
	CHECK(rc == 0 && c.n_registries == 2 && c.registries[1].insecure &&
		  str_eq(c.registries[1].ca_file, "/etc/ca.pem") && c.n_runtimes == 4 &&
		  str_eq(crid_config_find_runtime(&c, "youki")->runtime_path, "/usr/bin/youki"),
	      "a second load merges registries by host; inline handler tables");
	CHECK(str_eq(c.config_path, ""), "load_buffer does not set config_path");
	crid_config_free(&c);
	crid_config_free(&d);
}

struct bad {
	const char *doc;
	const char *want; /* prefix of the message */
};

static const struct bad bad_docs[] = {
	{ "foo = 1\n", "t.toml:1:1: unknown key `foo`" },
	{ "[crid]\nlisten = 5\n", "t.toml:2:10: `crid.listen` must be a string, not integer" },
	{ "[crid]\nlisten_mode = 0o1000\n", "t.toml:2:15: `crid.listen_mode`" },
	{ "[crid]\nlisten_group = \"a b\"\n", "t.toml:2:16: `crid.listen_group`" },
	{ "[crid]\nhelper_dir = \"rel/dir\"\n", "t.toml:2:14: `crid.helper_dir`" },
	{ "[crid.runtime]\nfoo = 1\n", "t.toml:2:1: unknown key `crid.runtime.foo`" },
	{ "[crid.foo]\n", "t.toml:1:7: unknown table `crid.foo`" },
	{ "[crid]\nstream.port = 1\nstream.bogus = 2\n",
	  "t.toml:3:8: unknown key `crid.stream.bogus`" },
	{ "crid = 1.5\n", "t.toml:1:8: `crid` must be a table, not float" },
	{ "[[crid]]\n", "t.toml:1:1: `crid` must be a table, not array" },
	{ "[crid]\nstream = 1\n", "t.toml:2:10: `crid.stream` must be a table, not integer" },
	{ "[crid.stream]\nport = 65536\n",
	  "t.toml:2:8: `crid.stream.port` must be between 0 and 65535" },
	{ "[crid.stream]\nidle_timeout = 0\n",
	  "t.toml:2:16: `crid.stream.idle_timeout` must be between 1 and 604800" },
	{ "[crid.stream]\ntls_cert = \"tls.crt\"\n",
	  "t.toml:2:12: `crid.stream.tls_cert` must be an absolute path" },
	{ "[crid.stream]\nport = -1\n",
	  "t.toml:2:8: `crid.stream.port` must be between 0 and 65535" },
	{ "[crid.stream]\nport = \"80\"\n",
	  "t.toml:2:8: `crid.stream.port` must be an integer, not string" },
	{ "[crid]\nlog_size_max = -2\n", "t.toml:2:16: `crid.log_size_max` must be -1 or more" },
	{ "[crid.image]\nmax_layers = 501\n",
	  "t.toml:2:14: `crid.image.max_layers` must be between 1 and 500" },
	{ "[crid.image]\npull_progress_timeout = 0\n",
	  "t.toml:2:25: `crid.image.pull_progress_timeout` must be between 1 and 3600" },
	{ "[crid.runtime]\nruntime_timeout = 3601\n",
	  "t.toml:2:19: `crid.runtime.runtime_timeout` must be between 1 and 3600" },
	{ "[crid.image]\nmax_image_unpacked_bytes = 0\n",
	  "t.toml:2:28: `crid.image.max_image_unpacked_bytes` must be 1 or more" },
	{ "[crid]\nlog_size_max = 1.5\n",
	  "t.toml:2:16: `crid.log_size_max` must be an integer, not float" },
	{ "[crid]\nlog_level = \"loud\"\n",
	  "t.toml:2:13: `crid.log_level` must be error, warn, info, debug or trace" },
	{ "[crid.runtime]\ncgroup_manager = \"foo\"\n",
	  "t.toml:2:18: `crid.runtime.cgroup_manager` must be cgroupfs or systemd" },
	{ "[crid]\nroot = \"var/lib\"\n", "t.toml:2:8: `crid.root` must be an absolute path" },
	{ "[crid]\nrunroot = \"\"\n", "t.toml:2:11: `crid.runroot` must not be empty" },
	{ "[crid]\nlisten = \"/a\\u0000b\"\n",
	  "t.toml:2:10: `crid.listen` must not contain NUL characters" },
	{ "[crid]\nlisten = \"/0123456789012345678901234567890123456789012345678901234567890"
	  "1234567890123456789012345678901234567890123456789\"\n",
	  "t.toml:2:10: `crid.listen` is too long for a unix socket path" },
	{ "[crid.runtime]\ndefault_capabilities = [\"CHOWN\", \"FLY\"]\n",
	  "t.toml:2:34: `crid.runtime.default_capabilities[1]` must name a Linux capability" },
	{ "[crid.runtime]\ndefault_capabilities = \"CHOWN\"\n",
	  "t.toml:2:24: `crid.runtime.default_capabilities` must be an array, not string" },
	{ "[crid.runtime]\ndefault_runtime = \"Crun\"\n",
	  "t.toml:2:19: `crid.runtime.default_runtime` must be a lowercase RFC 1123 label" },
	{ "[crid.runtime]\nseccomp_profile = \"seccomp.json\"\n",
	  "t.toml:2:19: `crid.runtime.seccomp_profile` must be an absolute path" },
	{ "[crid.network]\ncni_plugin_dirs = [1]\n",
	  "t.toml:2:20: `crid.network.cni_plugin_dirs[0]` must be a string, not integer" },
	{ "[crid.network]\ncni_config_dir = true\n",
	  "t.toml:2:18: `crid.network.cni_config_dir` must be a string, not boolean" },
	{ "[crid.runtime.runtimes.Kata]\nruntime_path = \"/x\"\n",
	  "t.toml:1:24: `crid.runtime.runtimes.Kata`: runtime handler name must be a lowercase" },
	{ "[crid.runtime.runtimes.kata]\nruntime_root = \"/run/kata\"\n",
	  "t.toml:1:1: `crid.runtime.runtimes.kata` is a new runtime handler and needs "
	  "runtime_path" },
	{ "[crid.runtime.runtimes.crun]\nruntime_path = \"crun\"\n",
	  "t.toml:2:16: `crid.runtime.runtimes.crun.runtime_path` must be an absolute path" },
	{ "[crid.runtime.runtimes.crun]\nroot = \"/x\"\n",
	  "t.toml:2:1: unknown key `crid.runtime.runtimes.crun.root`" },
	{ "[crid.runtime]\nruntimes = [1]\n",
	  "t.toml:2:12: `crid.runtime.runtimes` must be a table, not array" },
	{ "[crid.runtime.runtimes]\ncrun = 1\n",
	  "t.toml:2:8: `crid.runtime.runtimes.crun` must be a table, not integer" },
	{ "[crid.image.registries.\"a b\"]\n",
	  "t.toml:1:24: `crid.image.registries.\"a b\"`: registry name must be HOST or HOST:PORT" },
	{ "[crid.image.registries.\"r.example.com\"]\ninsecure = \"yes\"\n",
	  "t.toml:2:12: `crid.image.registries.\"r.example.com\".insecure` must be a boolean, "
	  "not string" },
	{ "[crid.image.registries.\"r.example.com\"]\nmirror = []\n",
	  "t.toml:2:1: unknown key `crid.image.registries.\"r.example.com\".mirror`" },
	{ "[crid.image.registries.\"r.example.com\"]\nca_file = \"ca.pem\"\n",
	  "t.toml:2:11: `crid.image.registries.\"r.example.com\".ca_file` must be an absolute "
	  "path" },
	{ "[crid.image]\ninsecure_registries = [\"http://x\"]\n",
	  "t.toml:2:24: `crid.image.insecure_registries[0]` must be a registry location" },
	{ "[crid.image]\nauth_file = \"auth.json\"\n",
	  "t.toml:2:13: `crid.image.auth_file` must be an absolute path" },
	{ "[crid.image]\ncerts_dir = \"certs.d\"\n",
	  "t.toml:2:13: `crid.image.certs_dir` must be an absolute path" },
	{ "[crid.stream]\naddress = \"localhost\"\n",
	  "t.toml:2:11: `crid.stream.address` must be an IPv4 or IPv6 address" },
	{ "[crid]\nlisten = \"/x\"\nlisten = \"/y\"\n", "t.toml:3:1: duplicate key `listen`" },
	{ "[crid]\nlisten = /x\n", "t.toml:2:10: expected a value, found `/`" },
};

/* The socket's group and mode and the helpers' directory (issue 15). */
static void test_node_keys(void)
{
	struct crid_config c;
	struct crid_err err = { 0 };
	int rc;

	crid_config_init_defaults(&c, &err);
	CHECK(c.listen_mode == 0660 && !strcmp(c.listen_group, "") && !strcmp(c.helper_dir, ""),
	      "defaults: mode 0660, crid's group, helpers found from the executable");
	rc = load(&c,
		  "[crid]\nlisten_group = \"kube\"\nlisten_mode = 0o600\n"
		  "helper_dir = \"/opt/crid/libexec\"\n",
		  &err);
	CHECK(rc == 0 && c.listen_mode == 0600 && !strcmp(c.listen_group, "kube") &&
		  !strcmp(c.helper_dir, "/opt/crid/libexec"),
	      "listen_group, listen_mode, helper_dir (%s)", rc ? err.msg : "ok");
	rc = load(&c, "[crid]\nlisten_group = \"65534\"\n", &err);
	CHECK(rc == 0 && !strcmp(c.listen_group, "65534"), "a numeric gid");
	crid_config_free(&c);
}

static void test_errors(void)
{
	struct crid_config c, d;
	struct crid_err err = { 0 };
	const char *diff;
	bool unchanged = true;

	crid_config_init_defaults(&c, &err);
	crid_config_init_defaults(&d, &err);
	for (size_t i = 0; i < sizeof(bad_docs) / sizeof(bad_docs[0]); i++) {
		const struct bad *b = &bad_docs[i];
		int rc = load(&c, b->doc, &err);
		bool ok = rc < 0 && strncmp(err.msg, b->want, strlen(b->want)) == 0;

		if (ok)
			CHECK(true, "error: %s", err.msg);
		else
			CHECK(false, "error: want `%s`, got `%s`", b->want,
			      rc < 0 ? err.msg : "success");
		diff = config_diff(&c, &d);
		unchanged &= diff == NULL;
	}
	CHECK(unchanged, "a failed load leaves the config unchanged");
	crid_config_free(&c);
	crid_config_free(&d);
}

static void test_files(void)
{
	struct crid_config c;
	struct crid_err err = { 0 };
	size_t big_len = 1024 * 1024 + 1;
	char *big, *path;
	int rc;

	crid_config_init_defaults(&c, &err);
	rc = crid_config_load_file(&c, "/nonexistent/crid.toml", &err);
	CHECK(rc < 0 && err.code == ENOENT &&
		  strstr(err.msg, "`/nonexistent/crid.toml`: No such file or directory"),
	      "missing file names the path: %s", err.msg);
	rc = crid_config_load_file(&c, "/", &err);
	CHECK(rc < 0 && strstr(err.msg, "`/`"), "a directory is refused: %s", err.msg);
	big = malloc(big_len);
	memset(big, '#', big_len);
	path = write_tmp(big, big_len);
	rc = crid_config_load_file(&c, path, &err);
	CHECK(rc < 0 && strstr(err.msg, "larger than 1 MiB"), "file over 1 MiB refused: %s",
	      err.msg);
	unlink(path);
	rc = crid_config_load_buffer(&c, "b.toml", big, big_len, &err);
	CHECK(rc < 0 && strstr(err.msg, "larger than 1 MiB"), "buffer over 1 MiB refused");
	free(big);
	path = write_tmp_str("[crid]\n\nlistne = \"/x\"\n");
	rc = crid_config_load_file(&c, path, &err);
	CHECK(rc < 0 && strncmp(err.msg, path, strlen(path)) == 0 &&
		  strstr(err.msg, ":3:1: unknown key `crid.listne`"),
	      "file errors start with PATH:LINE:COL: %s", err.msg);
	unlink(path);
	path = write_tmp_str("[crid]\nroot = \"/srv/crid\"\n");
	rc = crid_config_load_file(&c, path, &err);
	CHECK(rc == 0 && str_eq(c.root, "/srv/crid") && str_eq(c.config_path, path),
	      "load_file sets config_path");
	unlink(path);
	crid_config_free(&c);
}

/* Runs crid_config_from_args on a NULL-terminated list of arguments after "crid". */
static int run(struct crid_config *c, enum crid_config_action *action, struct crid_err *err, ...)
{
	char *argv[32];
	int argc = 0;
	va_list ap;

	argv[argc++] = "crid";
	va_start(ap, err);
	while (argc < 31 && (argv[argc] = va_arg(ap, char *)))
		argc++;
	va_end(ap);
	argv[argc] = NULL;
	return crid_config_from_args(c, argc, argv, action, err);
}

static void test_args(void)
{
	static const char *const insecure[] = { "file.example", "a.example", "b.example:5000",
						NULL };
	static const char *const plugins[] = { "/x/cni", "/y/cni", NULL };
	const char *doc = "[crid]\nlisten = \"/run/a.sock\"\nroot = \"/var/lib/a\"\n"
			  "[crid.image]\ninsecure_registries = [\"file.example\"]\n"
			  "[crid.network]\ncni_plugin_dirs = [\"/file/cni\"]\n";
	enum crid_config_action action;
	struct crid_config c, d;
	struct crid_err err = { 0 };
	char *path;
	int rc;

	crid_config_init_defaults(&d, &err);
	rc = run(&c, &action, &err, NULL);
	CHECK(rc == 0 && action == CRID_CONFIG_RUN && config_diff(&c, &d) == NULL,
	      "no flags: defaults");
	crid_config_free(&c);
	rc = run(&c, &action, &err, "--listen", "/x.sock", "--help", NULL);
	CHECK(rc == 0 && action == CRID_CONFIG_HELP, "--help");
	crid_config_free(&c);
	rc = run(&c, &action, &err, "-h", NULL);
	CHECK(rc == 0 && action == CRID_CONFIG_HELP, "-h");
	crid_config_free(&c);
	rc = run(&c, &action, &err, "--version", NULL);
	CHECK(rc == 0 && action == CRID_CONFIG_VERSION, "--version");
	crid_config_free(&c);

	path = write_tmp_str(doc);
	rc = run(&c, &action, &err, "--listen", "/run/b.sock", "--config", path, NULL);
	CHECK(rc == 0 && str_eq(c.listen, "/run/b.sock") && str_eq(c.root, "/var/lib/a") &&
		  str_eq(c.config_path, path),
	      "flags win over the file, wherever --config is (%s)", rc ? err.msg : "");
	crid_config_free(&c);
	rc = run(&c, &action, &err, "--insecure-registry", "a.example",
		 "--insecure-registry=b.example:5000", "--cni-plugin-dir", "/x/cni",
		 "--cni-plugin-dir=/y/cni", NULL);
	CHECK(rc == 0 && c.insecure_registries.n == 2 && c.cni_plugin_dirs.n == 2,
	      "repeatable flags without a file");
	crid_config_free(&c);
	rc = run(&c, &action, &err, "--insecure-registry", "a.example",
		 "--insecure-registry=b.example:5000", "--cni-plugin-dir", "/x/cni",
		 "--cni-plugin-dir=/y/cni", "--config=", NULL);
	CHECK(rc < 0 && strstr(err.msg, "open config file ``"), "--config= (empty) is an error");
	rc = run(&c, &action, &err, "--config", path, "--insecure-registry", "a.example",
		 "--insecure-registry=b.example:5000", "--cni-plugin-dir", "/x/cni",
		 "--cni-plugin-dir=/y/cni", NULL);
	CHECK(rc == 0 && strv_is(&c.insecure_registries, insecure),
	      "--insecure-registry appends to the file's list");
	CHECK(rc == 0 && strv_is(&c.cni_plugin_dirs, plugins),
	      "--cni-plugin-dir: first replaces, later append");
	crid_config_free(&c);
	unlink(path);

	rc = run(&c, &action, &err, "--root", "/r", "--runroot", "/rr", "--log-level", "DEBUG",
		 "--registries-conf", "/etc/containers/registries.conf", "--cni-config-dir", "/cni",
		 "--default-runtime", "runc", "--cgroup-manager", "systemd", "--stream-address",
		 "0.0.0.0", "--stream-port", "10010", "--stream-tls-cert", "/t.crt",
		 "--stream-tls-key", "/t.key", NULL);
	CHECK(rc == 0 && str_eq(c.root, "/r") && str_eq(c.runroot, "/rr") &&
		  str_eq(c.log_level, "debug") &&
		  str_eq(c.registries_conf, "/etc/containers/registries.conf") &&
		  str_eq(c.cni_config_dir, "/cni") && str_eq(c.default_runtime, "runc") &&
		  str_eq(c.cgroup_manager, "systemd") && str_eq(c.stream_address, "0.0.0.0") &&
		  c.stream_port == 10010 && str_eq(c.stream_tls_cert, "/t.crt") &&
		  str_eq(c.stream_tls_key, "/t.key"),
	      "every other flag (%s)", rc ? err.msg : "");
	CHECK(crid_config_validate(&c, &err) == 0, "flag config validates");
	crid_config_free(&c);
	CHECK(!d.enable_metrics && str_eq(d.metrics_host, "127.0.0.1") && d.metrics_port == 9090 &&
		  str_eq(d.log_format, "text"),
	      "metrics off on 127.0.0.1:9090, text logs by default");
	rc = run(&c, &action, &err, "--enable-metrics", "--metrics-host", "::1", "--metrics-port",
		 "0", "--log-format", "json", NULL);
	CHECK(rc == 0 && c.enable_metrics && str_eq(c.metrics_host, "::1") && c.metrics_port == 0 &&
		  str_eq(c.log_format, "json"),
	      "metrics and log format flags (%s)", rc ? err.msg : "");
	crid_config_free(&c);
	crid_config_init_defaults(&c, &err);
	rc = load(&c,
		  "[crid]\nlog_format = \"json\"\n[crid.metrics]\nenable_metrics = true\n"
		  "metrics_port = 19090\nmetrics_host = \"0.0.0.0\"\n",
		  &err);
	CHECK(rc == 0 && c.enable_metrics && c.metrics_port == 19090 &&
		  str_eq(c.metrics_host, "0.0.0.0") && str_eq(c.log_format, "json"),
	      "[crid.metrics] and log_format from TOML");
	crid_config_free(&c);
	crid_config_init_defaults(&c, &err);
	rc = load(&c, "[crid]\nlog_format = \"xml\"\n", &err);
	CHECK(rc < 0 && strstr(err.msg, "must be text or json"), "log_format xml refused");
	crid_config_free(&c);
	crid_config_free(&d);
}

struct bad_args {
	const char *a[4];
	const char *want; /* substring of the message */
};

static const struct bad_args bad_args[] = {
	{ { "--nope" }, "unknown or ambiguous flag `--nope`" },
	{ { "--nope=1" }, "unknown or ambiguous flag `--nope`" },
	{ { "-x" }, "unknown flag `-x`" },
	{ { "--listen" }, "flag `--listen` needs a value" },
	{ { "--root", "/r", "extra" }, "unexpected argument `extra`" },
	{ { "--stream-port", "70000" }, "flag `--stream-port`: `70000` must be a port number" },
	{ { "--metrics-port", "70000" }, "flag `--metrics-port`: `70000` must be a port number" },
	{ { "--metrics-host", "localhost" }, "flag `--metrics-host`: `localhost` must be an" },
	{ { "--log-format", "xml" }, "flag `--log-format`: `xml` must be text or json" },
	{ { "--stream-port", "8o" }, "flag `--stream-port`: `8o` must be a port number" },
	{ { "--stream-port", "" }, "flag `--stream-port`: `` must be a port number" },
	{ { "--log-level", "loud" }, "flag `--log-level`: `loud` must be error, warn" },
	{ { "--cgroup-manager", "foo" }, "flag `--cgroup-manager`: `foo` must be cgroupfs" },
	{ { "--root", "rel" }, "flag `--root`: `rel` must be an absolute path" },
	{ { "--runroot", "" }, "flag `--runroot`: `` must not be empty" },
	{ { "--listen", "x.sock" }, "flag `--listen`: `x.sock` must be an absolute path" },
	{ { "--stream-tls-cert", "c.pem" },
	  "flag `--stream-tls-cert`: `c.pem` must be an absolute" },
	{ { "--stream-tls-key", "k.pem" }, "flag `--stream-tls-key`: `k.pem` must be an absolute" },
	{ { "--stream-address", "localhost" }, "flag `--stream-address`: `localhost` must be an" },
	{ { "--default-runtime", "A" }, "flag `--default-runtime`: `A` must be a lowercase" },
	{ { "--cni-plugin-dir", "bin" }, "flag `--cni-plugin-dir`: `bin` must be an absolute" },
	{ { "--cni-config-dir", "d" }, "flag `--cni-config-dir`: `d` must be an absolute" },
	{ { "--registries-conf", "r" }, "flag `--registries-conf`: `r` must be an absolute" },
	{ { "--insecure-registry", "" }, "flag `--insecure-registry`: `` must be a registry" },
	{ { "--config", "/nonexistent.toml" }, "open config file `/nonexistent.toml`: No such" },
};

static void test_bad_args(void)
{
	enum crid_config_action action;
	struct crid_config c;
	struct crid_err err = { 0 };

	for (size_t i = 0; i < sizeof(bad_args) / sizeof(bad_args[0]); i++) {
		const struct bad_args *b = &bad_args[i];
		int rc = run(&c, &action, &err, b->a[0], b->a[1], b->a[2], b->a[3]);
		bool ok = rc < 0 && strstr(err.msg, b->want) && c.listen == NULL;

		if (ok)
			CHECK(true, "flag error: %s", err.msg);
		else
			CHECK(false, "flag error: want `%s`, got `%s`", b->want,
			      rc < 0 ? err.msg : "success");
		crid_config_free(&c);
	}
}

static void test_validate(void)
{
	struct crid_config c;
	struct crid_err err = { 0 };

#define EXPECT_INVALID(mutation, want)                                                             \
	do {                                                                                       \
		crid_config_init_defaults(&c, &err);                                               \
		mutation;                                                                          \
		CHECK(crid_config_validate(&c, &err) < 0 && strstr(err.msg, want),                 \
		      "validate: %s (%s)", want, err.msg);                                         \
		crid_config_free(&c);                                                              \
	} while (0)

	EXPECT_INVALID(set(&c.default_runtime, "kata"),
		       "default runtime `kata` is not a configured");
	EXPECT_INVALID(set(&c.listen, "crid.sock"), "`crid.listen` must be an absolute path");
	EXPECT_INVALID(set(&c.root, ""), "`crid.root` must not be empty");
	EXPECT_INVALID(set(&c.runroot, "run"), "`crid.runroot` must be an absolute path");
	EXPECT_INVALID(set(&c.log_level, "loud"), "`crid.log_level` must be");
	EXPECT_INVALID(set(&c.cgroup_manager, "x"), "`crid.runtime.cgroup_manager` must be");
	EXPECT_INVALID(set(&c.stream_address, "x"), "`crid.stream.address` must be an IPv4");
	EXPECT_INVALID(c.stream_port = 70000, "`crid.stream.port` must be between 0 and 65535");
	EXPECT_INVALID(c.log_size_max = -5, "`crid.log_size_max` must be -1 or more");
	EXPECT_INVALID(c.max_layers = 501, "`crid.image.max_layers` must be between 1 and 500");
	EXPECT_INVALID(c.max_layer_unpacked_bytes = 0,
		       "`crid.image.max_layer_unpacked_bytes` and `max_image_unpacked_bytes`");
	EXPECT_INVALID(set(&c.runtimes[1].runtime_path, "runc"),
		       "`crid.runtime.runtimes.runc.runtime_path` must be an absolute path");
	EXPECT_INVALID(set(&c.runtimes[1].name, "crun"), "runtime handler `crun` is defined twice");
	EXPECT_INVALID(set_list(&c.default_capabilities, "FLY"),
		       "`crid.runtime.default_capabilities[0]` must name a Linux capability");
	EXPECT_INVALID(set_list(&c.cni_plugin_dirs, "bin"),
		       "`crid.network.cni_plugin_dirs[0]` must be an absolute path");
	EXPECT_INVALID((crid_free(c.cni_plugin_dirs.v[0]), crid_free(c.cni_plugin_dirs.v[1]),
			c.cni_plugin_dirs.n = 0),
		       "`crid.network.cni_plugin_dirs` must name at least one directory");
	EXPECT_INVALID(set(&c.seccomp_profile, "p.json"), "`crid.runtime.seccomp_profile` must be");
	EXPECT_INVALID((crid_free(c.auth_file), c.auth_file = NULL),
		       "`crid.image.auth_file` is not set");
	crid_config_init_defaults(&c, &err);
	load(&c, "[crid.image.registries.\"r.example\"]\nca_file = \"/ca.pem\"\n", &err);
	set(&c.registries[0].ca_file, "ca.pem");
	CHECK(crid_config_validate(&c, &err) < 0 &&
		  strstr(err.msg, "`crid.image.registries.\"r.example\".ca_file` must be"),
	      "validate: registry ca_file (%s)", err.msg);
	crid_config_free(&c);
#undef EXPECT_INVALID
}

static void test_usage(void)
{
	static const char *const want[] = {
		"--config FILE",
		"--listen PATH",
		"/run/crid/crid.sock",
		"--root DIR",
		"/var/lib/crid",
		"--runroot DIR",
		"/run/crid)",
		"--log-level LEVEL",
		"(default: info)",
		"--default-runtime NAME",
		"(default: crun)",
		"--cgroup-manager NAME",
		"(default: cgroupfs)",
		"--cni-config-dir DIR",
		"/etc/cni/net.d",
		"--cni-plugin-dir DIR",
		"/opt/cni/bin, /usr/lib/cni",
		"--registries-conf FILE",
		"--insecure-registry HOST",
		"--stream-address ADDR",
		"127.0.0.1",
		"--stream-port PORT",
		"-h, --help",
		"--version",
	};
	const char *u = crid_config_usage();
	bool all = true;

	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		if (!strstr(u, want[i])) {
			printf("# usage lacks `%s`\n", want[i]);
			all = false;
		}
	}
	CHECK(all, "usage lists every flag with its default");
}

static char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf = malloc(1 << 16);

	*len = f ? fread(buf, 1, (1 << 16) - 1, f) : 0;
	if (f)
		fclose(f);
	buf[*len] = '\0';
	return buf;
}

/* Every allocation fails in turn: the config stays as it was, nothing leaks. */
static void test_alloc_failures(void)
{
	const char *extra = "[crid.runtime.runtimes.kata]\nruntime_path = \"/k\"\n"
			    "[crid.image.registries.\"r.example\"]\nmirrors = [\"m.example\"]\n";
	struct crid_config c, d;
	struct crid_err err = { 0 };
	bool unchanged = true, no_leak = true, done = false;
	size_t len, base;
	char *doc = slurp("config.example.toml", &len), *path;
	long k, failures = 0;

	doc = realloc(doc, len + strlen(extra) + 1);
	strcpy(doc + len, extra);
	len += strlen(extra);
	crid_config_init_defaults(&c, &err);
	crid_config_init_defaults(&d, &err);
	base = crid_mem_used();
	for (k = 1; k < 100000 && !done; k++) {
		int rc;

		crid_mem_fail_after(k);
		rc = crid_config_load_buffer(&c, "t.toml", doc, len, &err);
		crid_mem_fail_after(0);
		if (rc == 0) {
			done = true;
			break;
		}
		failures++;
		unchanged &= config_diff(&c, &d) == NULL;
		no_leak &= crid_mem_used() == base;
	}
	CHECK(done && failures > 100, "load_buffer: failure injected at %ld points", failures);
	CHECK(unchanged, "load_buffer: config unchanged after each failure");
	CHECK(no_leak, "load_buffer: no leak after any failure");
	crid_config_free(&c);
	crid_config_free(&d);

	path = write_tmp(doc, len);
	base = crid_mem_used();
	done = false;
	no_leak = true;
	failures = 0;
	for (k = 1; k < 100000 && !done; k++) {
		enum crid_config_action action;
		int rc;

		crid_mem_fail_after(k);
		rc = run(&c, &action, &err, "--config", path, "--insecure-registry", "i.example",
			 "--cni-plugin-dir", "/p", "--log-level", "debug", NULL);
		crid_mem_fail_after(0);
		if (rc == 0) {
			crid_config_free(&c);
			done = true;
		} else {
			failures++;
		}
		no_leak &= crid_mem_used() == base;
	}
	CHECK(done && failures > 100, "from_args: failure injected at %ld points", failures);
	CHECK(no_leak, "from_args: no leak after any failure");
	unlink(path);
	free(doc);
}

int main(void)
{
	size_t base = crid_mem_used();

	test_defaults();
	test_example();
	test_overrides();
	test_node_keys();
	test_errors();
	test_files();
	test_args();
	test_bad_args();
	test_validate();
	test_usage();
	test_alloc_failures();
	CHECK(crid_mem_used() == base, "no bytes left allocated (%zu)", crid_mem_used() - base);
	return tap_done();
}
