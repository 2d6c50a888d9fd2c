/*
 * Unit tests for runtime/cni: config loading, what each plugin gets on stdin
 * and in its environment, errors, timeouts, ADD/DEL order. The plugins are a
 * fixture shell script that records its stdin and environment and prints a
 * result; with root, a real ADD/DEL with /usr/lib/cni bridge + host-local +
 * loopback in a fresh netns.
 */
#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <yajl/yajl_tree.h>

#include "reactor/mem.h"
#include "runtime/cni/cni.h"
#include "tap.h"

#define FIRST_RESULT                                                                               \
	"{\"cniVersion\":\"1.0.0\",\"ips\":[{\"address\":\"127.0.0.1/8\"},{\"address\":"           \
	"\"fd00::5/64\"},{\"address\":\"10.1.2.3/24\"}]}"
#define SECOND_RESULT                                                                              \
	"{\"cniVersion\":\"1.0.0\",\"interfaces\":[{\"name\":\"veth1\"},{\"name\":\"eth0\","       \
	"\"sandbox\":\"/x\"}],\"ips\":[{\"address\":\"fd00::7/64\",\"interface\":1},{\"address\":" \
	"\"10.9.9.9/24\",\"interface\":0},{\"address\":\"10.1.2.4/24\",\"interface\":1}]}"

static char root[64];
static char bin_dir[128];
static struct crid_strv dirs;
static char *dir_v[2];

struct outcome {
	int done;
	int status;
	struct crid_cni_result res;
	bool has_res;
	struct crid_err err;
};

static void die(const char *what)
{
	fprintf(stderr, "test setup: %s: %s\n", what, strerror(errno));
	exit(2);
}

static void write_file(const char *path, const char *content, mode_t mode)
{
	FILE *f = fopen(path, "w");

	if (!f || fputs(content, f) < 0 || fclose(f) != 0 || chmod(path, mode) < 0)
		die(path);
}

static char *slurp(const char *path)
{
	static char buf[65536];
	FILE *f = fopen(path, "r");
	size_t n;

	if (!f)
		return NULL;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	buf[n] = '\0';
	fclose(f);
	return buf;
}

/* One script for every fixture plugin; its file name says how it behaves. */
static void write_plugins(void)
{
	static const char *const names[] = { "first", "second", "fail", "noisy", "hang", "v03" };
	char script[2048], path[256];

	snprintf(script, sizeof(script),
		 "#!/bin/sh\n"
		 "t=$(basename \"$0\"); d=%s\n"
		 "echo \"$CNI_COMMAND $t\" >> $d/log\n"
		 "cat > $d/$t.$CNI_COMMAND.stdin\n"
		 "env > $d/$t.$CNI_COMMAND.env\n"
		 "[ \"$CNI_COMMAND\" = ADD ] || exit 0\n"
		 "case $t in\n"
		 "first) echo '%s' ;;\n"
		 "second) echo '%s' ;;\n"
		 "fail) echo '{\"cniVersion\":\"1.0.0\",\"code\":7,\"msg\":\"boom\","
		 "\"details\":\"it broke\"}'; exit 1 ;;\n"
		 "noisy) echo 'line one' >&2; echo 'something bad' >&2; exit 2 ;;\n"
		 "hang) exec sleep 100 ;;\n"
		 "v03) echo '{\"cniVersion\":\"0.3.1\",\"ips\":[{\"version\":\"4\","
		 "\"address\":\"10.3.0.9/16\"}]}' ;;\n"
		 "esac\n",
		 root, FIRST_RESULT, SECOND_RESULT);
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", bin_dir, names[i]);
		write_file(path, script, 0755);
	}
}

static void on_done(void *user, int status, struct crid_cni_result *res, const struct crid_err *err)
{
	struct outcome *o = user;

	o->done = 1;
	o->status = status;
	if (res) {
		o->res = *res;
		res->json = NULL;
		o->has_res = true;
	}
	if (err)
		o->err = *err;
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Drives the loop until |o| is done (or |flag| is set), at most |secs| seconds. */
static bool run_until(struct crid_loop *loop, int *flag, double secs)
{
	double end = now() + secs;

	while (!*flag && now() < end)
		ev_run(loop->ev, EVRUN_ONCE);
	return *flag;
}

/* Runs the loop until every byte allocated since |base| is freed (a killed plugin reaped). */
static bool settle(struct crid_loop *loop, size_t base)
{
	double end = now() + 5;

	while (crid_mem_used() > base && now() < end)
		ev_run(loop->ev, EVRUN_ONCE);
	return crid_mem_used() == base;
}

static struct crid_cni_net *net_of(const char *json, struct crid_err *err)
{
	struct crid_cni_net *net = NULL;

	if (crid_cni_net_parse("test", json, strlen(json), &dirs, &net, err) < 0)
		return NULL;
	return net;
}

static struct crid_cni_pod pod_of(const char *netns)
{
	static const struct crid_cni_port ports[] = { { 80, 8080, "TCP", "" },
						      { 53, 5353, "udp", "127.0.0.1" },
						      { 90, 0, "tcp", "" } };
	struct crid_cni_pod p = {
		.container_id = "abc123",
		.netns = netns,
		.ifname = "eth0",
		.pod_name = "web",
		.pod_namespace = "default",
		.pod_uid = "uid-1",
		.ports = ports,
		.n_ports = 3,
		.pod_cidr = "10.1.0.0/16",
		.ingress_bps = 1000000,
		.egress_bps = 0,
	};
	return p;
}

static yajl_val parse_file(const char *name)
{
	char path[256];
	char *s;

	snprintf(path, sizeof(path), "%s/%s", root, name);
	s = slurp(path);
	return s ? yajl_tree_parse(s, NULL, 0) : NULL;
}

static const char *str_at(yajl_val v, const char **path)
{
	yajl_val s = yajl_tree_get(v, path, yajl_t_string);

	return s ? YAJL_GET_STRING(s) : NULL;
}

static bool env_has(const char *name, const char *line)
{
	char path[256], want[512];
	char *s;

	snprintf(path, sizeof(path), "%s/%s", root, name);
	s = slurp(path);
	snprintf(want, sizeof(want), "\n%s\n", line);
	if (!s)
		return false;
	return strncmp(s, want + 1, strlen(want + 1)) == 0 || strstr(s, want) != NULL;
}

static void test_parse(void)
{
	struct crid_cni_net *net;
	struct crid_err err = { 0, "" };
	yajl_val v;
	const char *plugins[] = { "plugins", NULL };

	net = net_of("{\"cniVersion\":\"1.0.0\",\"name\":\"l\",\"plugins\":[{\"type\":\"first\"},"
		     "{\"type\":\"second\"}]}",
		     &err);
	CHECK(net && strcmp(crid_cni_net_name(net), "l") == 0, "conflist parsed");
	CHECK(net && strstr(crid_cni_net_json(net), "\"second\""), "conflist kept verbatim");
	crid_cni_net_free(net);

	net = net_of("{\"cniVersion\":\"0.4.0\",\"name\":\"c\",\"type\":\"first\",\"x\":[1,2.5]}",
		     &err);
	v = net ? yajl_tree_parse(crid_cni_net_json(net), NULL, 0) : NULL;
	yajl_val list = v ? yajl_tree_get(v, plugins, yajl_t_array) : NULL;
	CHECK(list && list->u.array.len == 1 && strstr(crid_cni_net_json(net), "[1,2.5]"),
	      ".conf wrapped into a list of one plugin: %s",
	      net ? crid_cni_net_json(net) : err.msg);
	yajl_tree_free(v);
	crid_cni_net_free(net);

	CHECK(!net_of("{\"cniVersion\":\"1.0.0\",", &err) && err.code == EINVAL &&
		  strstr(err.msg, "invalid JSON"),
	      "bad JSON refused: %s", err.msg);
	CHECK(!net_of("{\"cniVersion\":\"9.9.9\",\"name\":\"n\",\"type\":\"first\"}", &err) &&
		  strstr(err.msg, "unsupported cniVersion \"9.9.9\""),
	      "unknown cniVersion refused: %s", err.msg);
	CHECK(!net_of("{\"cniVersion\":\"1.0.0\",\"name\":\"n\",\"plugins\":[{\"type\":\"../x\"}]}",
		      &err) &&
		  strstr(err.msg, "invalid plugin type"),
	      "plugin type with a slash refused: %s", err.msg);
	CHECK(crid_cni_net_load("/nonexistent/x.conflist", &dirs, &net, &err) < 0 &&
		  err.code == ENOENT && strstr(err.msg, "`/nonexistent/x.conflist`"),
	      "missing file: %s", err.msg);
}

static void test_missing_plugin(struct crid_loop *loop)
{
	struct crid_cni_net *net;
	struct crid_cni_pod pod = pod_of("/proc/self/ns/net");
	struct outcome o = { 0 };
	struct crid_err err = { 0, "" };

	net = net_of("{\"cniVersion\":\"1.0.0\",\"name\":\"n\",\"plugins\":[{\"type\":\"first\"},"
		     "{\"type\":\"nosuch\"}]}",
		     &err);
	CHECK(net != NULL, "config with a missing plugin still parses");
	if (!net)
		return;
	CHECK(!crid_cni_add(loop, net, &pod, 5, on_done, &o, &err) && err.code == ENOENT &&
		  strstr(err.msg, "plugin `nosuch` not found in ") && strstr(err.msg, bin_dir),
	      "ADD fails at start naming plugin and dirs: %s", err.msg);
	CHECK(!o.done, "no callback for an op that did not start");
	crid_cni_net_free(net);
}

static void check_first_stdin(void)
{
	const char *name[] = { "name", NULL }, *ver[] = { "cniVersion", NULL };
	const char *prev[] = { "prevResult", NULL };
	const char *pm[] = { "runtimeConfig", "portMappings", NULL };
	const char *bw[] = { "runtimeConfig", "bandwidth", NULL };
	yajl_val v = parse_file("first.ADD.stdin"), ports;

	CHECK(v && strcmp(str_at(v, name), "chain") == 0 && strcmp(str_at(v, ver), "1.0.0") == 0,
	      "first: name and cniVersion from the list");
	CHECK(v && !yajl_tree_get(v, prev, yajl_t_any), "first: no prevResult");
	ports = v ? yajl_tree_get(v, pm, yajl_t_array) : NULL;
	CHECK(ports && ports->u.array.len == 2, "first: the two host ports in portMappings");
	if (ports && ports->u.array.len == 2) {
		yajl_val a = ports->u.array.values[0], b = ports->u.array.values[1];
		const char *hp[] = { "hostPort", NULL }, *cp[] = { "containerPort", NULL };
		const char *pr[] = { "protocol", NULL }, *hi[] = { "hostIP", NULL };

		CHECK(YAJL_GET_INTEGER(yajl_tree_get(a, hp, yajl_t_number)) == 8080 &&
			  YAJL_GET_INTEGER(yajl_tree_get(a, cp, yajl_t_number)) == 80 &&
			  strcmp(str_at(a, pr), "tcp") == 0 && !yajl_tree_get(a, hi, yajl_t_any),
		      "first: {hostPort 8080, containerPort 80, tcp}, no hostIP");
		CHECK(strcmp(str_at(b, pr), "udp") == 0 && strcmp(str_at(b, hi), "127.0.0.1") == 0,
		      "first: udp mapping with hostIP");
	}
	CHECK(v && !yajl_tree_get(v, bw, yajl_t_any), "first: no bandwidth (not declared)");
	yajl_tree_free(v);
}

static void check_second_stdin(void)
{
	const char *prev[] = { "prevResult", "ips", NULL };
	const char *rc[] = { "runtimeConfig", NULL };
	const char *in[] = { "runtimeConfig", "bandwidth", "ingressRate", NULL };
	const char *eg[] = { "runtimeConfig", "bandwidth", "egressRate", NULL };
	const char *rg[] = { "runtimeConfig", "ipRanges", NULL };
	const char *keep[] = { "mtu", NULL };
	yajl_val v = parse_file("second.ADD.stdin"), ips, r, ranges;

	ips = v ? yajl_tree_get(v, prev, yajl_t_array) : NULL;
	CHECK(ips && ips->u.array.len == 3, "second: prevResult is first's result");
	r = v ? yajl_tree_get(v, in, yajl_t_number) : NULL;
	CHECK(r && YAJL_GET_INTEGER(r) == 1000000 && !yajl_tree_get(v, eg, yajl_t_any),
	      "second: bandwidth ingressRate only");
	ranges = v ? yajl_tree_get(v, rg, yajl_t_array) : NULL;
	CHECK(ranges && ranges->u.array.len == 1 && YAJL_IS_ARRAY(ranges->u.array.values[0]),
	      "second: ipRanges [[{subnet}]]");
	CHECK(v && yajl_tree_get(v, keep, yajl_t_number) &&
		  !yajl_tree_get(yajl_tree_get(v, rc, yajl_t_object),
				 (const char *[]){ "portMappings", NULL }, yajl_t_any),
	      "second: own keys kept, portMappings not declared so not given");
	yajl_tree_free(v);
}

#define CHAIN                                                                                      \
	"{\"cniVersion\":\"1.0.0\",\"name\":\"chain\",\"plugins\":["                               \
	"{\"type\":\"first\",\"capabilities\":{\"portMappings\":true,\"bandwidth\":false}},"       \
	"{\"type\":\"second\",\"mtu\":1400,\"runtimeConfig\":{\"stale\":1},"                       \
	"\"capabilities\":{\"bandwidth\":true,\"ipRanges\":true}}]}"

static void test_add_del(struct crid_loop *loop)
{
	struct crid_cni_pod pod = pod_of("/proc/self/ns/net");
	struct crid_cni_net *net;
	struct outcome o = { 0 }, d = { 0 };
	struct crid_err err = { 0, "" };
	char path[256];
	char *log;

	net = net_of(CHAIN, &err);
	if (!CHECK(net, "chain parsed: %s", net ? "" : err.msg))
		return;
	CHECK(crid_cni_add(loop, net, &pod, 10, on_done, &o, &err) != NULL, "ADD started: %s",
	      err.msg);
	CHECK(run_until(loop, &o.done, 10) && o.status == 0, "ADD succeeded: %s", o.err.msg);
	CHECK(o.has_res && o.res.n_ips == 2 && strcmp(o.res.ips[0], "10.1.2.4") == 0 &&
		  strcmp(o.res.ips[1], "fd00::7") == 0,
	      "IPs of the final result, IPv4 first, host side dropped (%zu: %s %s)", o.res.n_ips,
	      o.res.ips[0], o.res.ips[1]);
	CHECK(o.res.json && strncmp(o.res.json, SECOND_RESULT, strlen(SECOND_RESULT)) == 0,
	      "final result kept verbatim");
	check_first_stdin();
	check_second_stdin();
	CHECK(env_has("first.ADD.env", "CNI_COMMAND=ADD") &&
		  env_has("first.ADD.env", "CNI_CONTAINERID=abc123") &&
		  env_has("first.ADD.env", "CNI_NETNS=/proc/self/ns/net") &&
		  env_has("first.ADD.env", "CNI_IFNAME=eth0"),
	      "CNI_COMMAND, CNI_CONTAINERID, CNI_NETNS, CNI_IFNAME");
	CHECK(env_has("first.ADD.env", "CNI_ARGS=IgnoreUnknown=1;K8S_POD_NAMESPACE=default;"
				       "K8S_POD_NAME=web;K8S_POD_INFRA_CONTAINER_ID=abc123;"
				       "K8S_POD_UID=uid-1"),
	      "CNI_ARGS as kubelet's runtimes set it");
	snprintf(path, sizeof(path), "CNI_PATH=%s:/nonexistent-cni", bin_dir);
	CHECK(env_has("first.ADD.env", path), "CNI_PATH lists the plugin dirs");

	/* DEL with the netns gone: CNI_NETNS empty, plugins reversed, cached result each. */
	pod.netns = "/nonexistent/netns";
	CHECK(crid_cni_del(loop, net, &pod, o.res.json, 10, on_done, &d, &err) != NULL,
	      "DEL started: %s", err.msg);
	CHECK(run_until(loop, &d.done, 10) && d.status == 0 && !d.has_res, "DEL succeeded: %s",
	      d.err.msg);
	snprintf(path, sizeof(path), "%s/log", root);
	log = slurp(path);
	CHECK(log && strcmp(log, "ADD first\nADD second\nDEL second\nDEL first\n") == 0,
	      "ADD in order, DEL in reverse");
	CHECK(env_has("first.DEL.env", "CNI_NETNS=") &&
		  env_has("second.DEL.env", "CNI_COMMAND=DEL"),
	      "DEL env: command, empty netns when it is gone");
	yajl_val v = parse_file("first.DEL.stdin");
	const char *pip[] = { "prevResult", "ips", NULL };
	yajl_val ips = v ? yajl_tree_get(v, pip, yajl_t_array) : NULL;

	CHECK(ips && ips->u.array.len == 3, "DEL: each plugin gets the cached ADD result");
	yajl_tree_free(v);
	crid_cni_result_clear(&o.res);
	crid_cni_net_free(net);
}

static void test_v03_del(struct crid_loop *loop)
{
	const char *prev[] = { "prevResult", NULL };
	struct crid_cni_pod pod = pod_of("/proc/self/ns/net");
	struct outcome o = { 0 }, d = { 0 };
	struct crid_cni_net *net;
	struct crid_err err = { 0, "" };
	yajl_val v;

	net = net_of("{\"cniVersion\":\"0.3.1\",\"name\":\"old\",\"type\":\"v03\"}", &err);
	if (!net || !crid_cni_add(loop, net, &pod, 5, on_done, &o, &err) ||
	    !run_until(loop, &o.done, 5)) {
		CHECK(false, "0.3.1 ADD ran: %s", err.msg);
		crid_cni_net_free(net);
		return;
	}
	CHECK(o.status == 0 && o.res.n_ips == 1 && strcmp(o.res.ips[0], "10.3.0.9") == 0,
	      "0.3.1 result parsed (%s)", o.res.ips[0]);
	CHECK(crid_cni_del(loop, net, &pod, o.res.json, 5, on_done, &d, &err) &&
		  run_until(loop, &d.done, 5) && d.status == 0,
	      "0.3.1 DEL ran");
	v = parse_file("v03.DEL.stdin");
	CHECK(v && !yajl_tree_get(v, prev, yajl_t_any), "0.3.1 DEL: no prevResult");
	yajl_tree_free(v);
	crid_cni_result_clear(&o.res);
	crid_cni_net_free(net);
}

static void run_failing(struct crid_loop *loop, const char *type, double timeout, struct outcome *o,
			double *took)
{
	char json[256];
	struct crid_cni_pod pod = pod_of("/proc/self/ns/net");
	struct crid_cni_net *net;
	struct crid_err err = { 0, "" };
	double t0 = now();

	snprintf(json, sizeof(json),
		 "{\"cniVersion\":\"1.0.0\",\"name\":\"f\",\"plugins\":[{\"type\":\"first\"},"
		 "{\"type\":\"%s\"},{\"type\":\"second\"}]}",
		 type);
	net = net_of(json, &err);
	if (!net || !crid_cni_add(loop, net, &pod, timeout, on_done, o, &err)) {
		o->err = err;
		crid_cni_net_free(net);
		return;
	}
	run_until(loop, &o->done, timeout + 30);
	*took = now() - t0;
	crid_cni_net_free(net);
}

static void test_failures(struct crid_loop *loop)
{
	struct outcome o = { 0 };
	size_t base = crid_mem_used();
	char path[256];
	double took = 0;

	snprintf(path, sizeof(path), "%s/second.ADD.stdin", root);
	unlink(path);
	run_failing(loop, "fail", 10, &o, &took);
	CHECK(o.done && o.status < 0 &&
		  strcmp(o.err.msg, "plugin `fail` ADD failed: boom: it broke") == 0,
	      "CNI error surfaced: %s", o.err.msg);
	CHECK(access(path, F_OK) < 0, "chain stops at the failing plugin");

	memset(&o, 0, sizeof(o));
	run_failing(loop, "noisy", 10, &o, &took);
	CHECK(o.done && o.status < 0 &&
		  strstr(o.err.msg, "plugin `noisy` ADD failed (exit status 2)") &&
		  strstr(o.err.msg, "line one something bad"),
	      "stderr tail surfaced: %s", o.err.msg);

	memset(&o, 0, sizeof(o));
	run_failing(loop, "hang", 0.3, &o, &took);
	CHECK(o.done && o.status < 0 && o.err.code == ETIMEDOUT &&
		  strstr(o.err.msg, "plugin `hang` ADD timed out after 0.3 s"),
	      "hanging plugin: %s", o.err.msg);
	/* far below the plugin's 100 s sleep, however loaded the machine: the timeout cut it */
	CHECK(took < 30.0, "timeout bounded: %.2f s for 0.3 s", took);
	CHECK(settle(loop, base), "killed plugin reaped, op freed");
}

static void test_cancel(struct crid_loop *loop)
{
	struct crid_cni_pod pod = pod_of("/proc/self/ns/net");
	struct outcome o = { 0 };
	struct crid_cni_net *net;
	struct crid_cni_op *op;
	struct crid_err err = { 0, "" };
	size_t base;
	int never = 0;

	net = net_of("{\"cniVersion\":\"1.0.0\",\"name\":\"c\",\"type\":\"hang\"}", &err);
	if (!net)
		return;
	base = crid_mem_used();
	op = crid_cni_add(loop, net, &pod, 30, on_done, &o, &err);
	CHECK(op != NULL, "hanging ADD started");
	run_until(loop, &never, 0.1);
	crid_cni_op_cancel(op);
	CHECK(settle(loop, base) && !o.done, "cancel: plugin killed, op freed, no callback");
	crid_cni_net_free(net);
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static int sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int sh(const char *fmt, ...)
{
	char cmd[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	return system(cmd);
}

/* Real plugins: bridge + host-local + loopback in a fresh netns; ADD, check, DEL, check. */
static void test_real(struct crid_loop *loop)
{
	char ns[64], br[16], json[1024], nspath[128], ipfile[256], data[160];
	struct outcome o = { 0 }, d = { 0 };
	struct crid_strv real = { (char *[]){ "/usr/lib/cni" }, 1 };
	struct crid_cni_net *net = NULL;
	struct crid_cni_pod pod;
	struct crid_err err = { 0, "" };
	int sub = getpid() % 200 + 20;

	if (geteuid() != 0 || access("/usr/lib/cni/bridge", X_OK) < 0 ||
	    sh("command -v ip >/dev/null") != 0) {
		tap_skip("real bridge ADD/DEL", "needs root, /usr/lib/cni/bridge and ip(8)");
		return;
	}
	snprintf(ns, sizeof(ns), "crid-cni-test-%d", (int)getpid());
	snprintf(br, sizeof(br), "cridt%d", (int)getpid() % 100000);
	snprintf(nspath, sizeof(nspath), "/run/netns/%s", ns);
	snprintf(data, sizeof(data), "%s/ipam", root);
	if (sh("ip netns add %s", ns) != 0) {
		tap_skip("real bridge ADD/DEL", "`ip netns add` failed");
		return;
	}
	snprintf(json, sizeof(json),
		 "{\"cniVersion\":\"1.0.0\",\"name\":\"cridtest\",\"plugins\":["
		 "{\"type\":\"bridge\",\"bridge\":\"%s\",\"isGateway\":true,\"ipam\":{"
		 "\"type\":\"host-local\",\"dataDir\":\"%s\",\"ranges\":[[{\"subnet\":"
		 "\"10.251.%d.0/24\"}]]}},{\"type\":\"loopback\"}]}",
		 br, data, sub);
	if (crid_cni_net_parse("real", json, strlen(json), &real, &net, &err) < 0) {
		CHECK(false, "real config: %s", err.msg);
		goto out;
	}
	pod = pod_of(nspath);
	pod.n_ports = 0;
	CHECK(crid_cni_add(loop, net, &pod, 30, on_done, &o, &err) &&
		  run_until(loop, &o.done, 30) && o.status == 0,
	      "real ADD: %s", o.done ? o.err.msg : err.msg);
	char prefix[32];

	snprintf(prefix, sizeof(prefix), "10.251.%d.", sub);
	CHECK(o.res.n_ips == 1 && strncmp(o.res.ips[0], prefix, strlen(prefix)) == 0,
	      "pod IP in the subnet: %s", o.res.ips[0]);
	CHECK(o.res.n_ips == 1 &&
		  sh("ip -n %s -4 addr show dev eth0 | grep -q 'inet %s/'", ns, o.res.ips[0]) == 0,
	      "`ip -n` shows the IP on eth0");
	snprintf(ipfile, sizeof(ipfile), "%s/cridtest/%s", data, o.res.ips[0]);
	CHECK(access(ipfile, F_OK) == 0, "host-local holds the IP");
	CHECK(crid_cni_del(loop, net, &pod, o.res.json, 30, on_done, &d, &err) &&
		  run_until(loop, &d.done, 30) && d.status == 0,
	      "real DEL: %s", d.done ? d.err.msg : err.msg);
	CHECK(access(ipfile, F_OK) < 0 && errno == ENOENT, "DEL released the IP");
out:
	crid_cni_result_clear(&o.res);
	crid_cni_net_free(net);
	sh("ip link del %s 2>/dev/null", br);
	sh("ip netns del %s", ns);
}

/* Wakes the loop now and then, so the helpers above can stop waiting at their deadline. */
static void tick_cb(struct ev_loop *ev, ev_timer *w, int revents)
{
	(void)ev;
	(void)w;
	(void)revents;
}

static void on_signal(struct crid_loop *loop, int signo, void *user)
{
	(void)loop;
	(void)signo;
	(void)user;
}

int main(void)
{
	struct crid_loop loop;
	struct crid_err err = { 0, "" };
	ev_timer tick;
	size_t base;

	snprintf(root, sizeof(root), "/tmp/crid-cni-XXXXXX");
	if (!mkdtemp(root))
		die("mkdtemp");
	snprintf(bin_dir, sizeof(bin_dir), "%s/bin", root);
	if (mkdir(bin_dir, 0755) < 0)
		die(bin_dir);
	write_plugins();
	dir_v[0] = bin_dir;
	dir_v[1] = "/nonexistent-cni";
	dirs.v = dir_v;
	dirs.n = 2;
	if (crid_loop_init(&loop, on_signal, NULL, &err) < 0) {
		printf("not ok - loop: %s\n", err.msg);
		return 1;
	}
	ev_timer_init(&tick, tick_cb, 0.02, 0.02);
	ev_timer_start(loop.ev, &tick);
	base = crid_mem_used();
	test_parse();
	test_missing_plugin(&loop);
	test_add_del(&loop);
	test_v03_del(&loop);
	test_failures(&loop);
	test_cancel(&loop);
	test_real(&loop);
	CHECK(crid_mem_used() == base, "no memory left allocated (%zu bytes)",
	      crid_mem_used() - base);
	ev_timer_stop(loop.ev, &tick);
	crid_loop_destroy(&loop);
	nftw(root, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	return tap_done();
}
