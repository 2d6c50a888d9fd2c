/*
 * The loop-driven HTTP client and resolver against a real docker-registry
 * (started here on 127.0.0.1) and two tiny python3 servers for redirects.
 */
#include <arpa/inet.h>
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <openssl/sha.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>
#include <ares.h>

#include "io/dns.h"
#include "io/http_client.h"
#include "reactor/mem.h"
#include "tap.h"

extern char **environ;

#define BLOB_SIZE (3u << 20)

static struct crid_loop loop;
static struct crid_dns *dns;
static struct crid_http *http;
static char tmpdir[] = "/tmp/crid-http-test-XXXXXX";
static char base[64];	     /* http://127.0.0.1:PORT */
static char blob_digest[80]; /* sha256:hex */
static unsigned char *blob;
static int pending;

/* ---- helpers: ports, processes, blocking curl (test code only) ---- */

static int free_port(void)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0), port;

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	bind(fd, (struct sockaddr *)&a, sizeof(a));
	getsockname(fd, (struct sockaddr *)&a, &len);
	port = ntohs(a.sin_port);
	close(fd);
	return port;
}

static pid_t spawn(char *const argv[])
{
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t at;
	sigset_t none;
	pid_t pid;

	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
	posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
	posix_spawnattr_init(&at);
	sigemptyset(&none);
	posix_spawnattr_setsigmask(&at, &none);
	posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSIGMASK);
	if (posix_spawn(&pid, argv[0], &fa, &at, argv, environ) != 0)
		pid = -1;
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&at);
	return pid;
}

static void stop(pid_t pid)
{
	if (pid > 0) {
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
	}
}

static size_t grab_location(char *buf, size_t size, size_t n, void *user)
{
	char *loc = user;

	if (size * n > 10 && !strncasecmp(buf, "Location: ", 10))
		snprintf(loc, 1024, "%.*s", (int)(size * n - 12), buf + 10);
	return size * n;
}

static size_t discard(char *buf, size_t size, size_t n, void *user)
{
	(void)buf;
	(void)user;
	return size * n;
}

/* Blocking request; returns the HTTP status (0 on transport error). */
static long easy(const char *method, const char *url, const void *body, size_t len, char *loc)
{
	CURL *e = curl_easy_init();
	struct curl_slist *hl = NULL;
	long code = 0;

	curl_easy_setopt(e, CURLOPT_URL, url);
	curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, discard);
	curl_easy_setopt(e, CURLOPT_TIMEOUT, 5L);
	if (loc) {
		curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, grab_location);
		curl_easy_setopt(e, CURLOPT_HEADERDATA, loc);
	}
	if (body) {
		hl = curl_slist_append(hl, "Content-Type: application/octet-stream");
		hl = curl_slist_append(hl, "Expect:");
		curl_easy_setopt(e, CURLOPT_HTTPHEADER, hl);
		curl_easy_setopt(e, CURLOPT_POSTFIELDS, body);
		curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE, (long)len);
	}
	if (curl_easy_perform(e) == CURLE_OK)
		curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &code);
	curl_easy_cleanup(e);
	curl_slist_free_all(hl);
	return code;
}

static int wait_http(const char *url)
{
	for (int i = 0; i < 200; i++) {
		if (easy("GET", url, NULL, 0, NULL) > 0)
			return 1;
		usleep(50000);
	}
	return 0;
}

static pid_t start_registry(void)
{
	char cfg[128], root[128], url[128];
	char *argv[] = { "/usr/bin/docker-registry", "serve", cfg, NULL };
	int port = free_port();
	FILE *f;
	pid_t pid;

	snprintf(cfg, sizeof(cfg), "%s/config.yml", tmpdir);
	snprintf(root, sizeof(root), "%s/storage", tmpdir);
	f = fopen(cfg, "w");
	if (!f)
		return -1;
	fprintf(f,
		"version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n"
		"    rootdirectory: %s\n  delete:\n    enabled: true\n"
		"http:\n  addr: 127.0.0.1:%d\n",
		root, port);
	fclose(f);
	pid = spawn(argv);
	snprintf(base, sizeof(base), "http://127.0.0.1:%d", port);
	snprintf(url, sizeof(url), "%s/v2/", base);
	if (pid > 0 && !wait_http(url)) {
		stop(pid);
		return -1;
	}
	return pid;
}

/* POST an upload, PUT the bytes with ?digest= (distribution-spec "monolithic upload"). */
static int push_blob(void)
{
	unsigned char md[SHA256_DIGEST_LENGTH];
	char url[1200], loc[1024] = "", hex[65];
	unsigned x = 12345;
	long code;

	blob = malloc(BLOB_SIZE);
	for (size_t i = 0; i < BLOB_SIZE; i++) {
		x = x * 1103515245u + 12345u;
		blob[i] = (unsigned char)(x >> 16);
	}
	SHA256(blob, BLOB_SIZE, md);
	for (int i = 0; i < SHA256_DIGEST_LENGTH; i++)
		snprintf(hex + 2 * i, 3, "%02x", md[i]);
	snprintf(blob_digest, sizeof(blob_digest), "sha256:%s", hex);
	snprintf(url, sizeof(url), "%s/v2/test/blobs/uploads/", base);
	code = easy("POST", url, "", 0, loc);
	if (code != 202 || !loc[0]) {
		printf("# POST %s: %ld, Location `%s`\n", url, code, loc);
		return -1;
	}
	snprintf(url, sizeof(url), "%s%s%s%cdigest=%s", loc[0] == '/' ? base : "", loc, "",
		 strchr(loc, '?') ? '&' : '?', blob_digest);
	code = easy("PUT", url, blob, BLOB_SIZE, NULL);
	if (code != 201)
		printf("# PUT %s: %ld\n", url, code);
	return code == 201 ? 0 : -1;
}

/* ---- driving the loop ---- */

static void guard_cb(struct ev_loop *ev, ev_timer *w, int revents)
{
	(void)w;
	(void)revents;
	ev_break(ev, EVBREAK_ALL);
}

/* Runs the loop until |pending| drops to 0 or |secs| pass; returns 1 when done. */
static int run(double secs)
{
	ev_timer guard;

	ev_timer_init(&guard, guard_cb, secs, 0.);
	ev_timer_start(loop.ev, &guard);
	while (pending > 0 && ev_is_active(&guard))
		ev_run(loop.ev, EVRUN_ONCE);
	ev_timer_stop(loop.ev, &guard);
	return pending == 0;
}

/* A request's outcome, filled by the callbacks below. */
struct res {
	int status, done, headers, calls, after_cancel;
	char *data;
	size_t len, cap;
	char msg[512];
	char hdr[256];
	const char *want_header;
	struct crid_http_request *r;
	int pause_every_other, cancel_in_body, pause_then_cancel;
	ev_timer resume;
};

static int on_headers(void *user, struct crid_http_request *r, int status)
{
	struct res *x = user;
	const char *v = x->want_header ? crid_http_request_header(r, x->want_header, 0) : NULL;

	x->headers = status;
	if (v)
		snprintf(x->hdr, sizeof(x->hdr), "%s", v);
	return 0;
}

static void resume_cb(struct ev_loop *ev, ev_timer *w, int revents)
{
	struct res *x = w->data;

	(void)ev;
	(void)revents;
	if (x->pause_then_cancel) {
		crid_http_request_cancel(x->r);
		x->r = NULL;
		pending--;
		return;
	}
	crid_http_request_resume(x->r);
}

static int on_body(void *user, const char *data, size_t len)
{
	struct res *x = user;

	if (x->done || !x->r)
		x->after_cancel++;
	if (x->len + len > x->cap) {
		x->cap = (x->len + len) * 2;
		x->data = realloc(x->data, x->cap);
	}
	memcpy(x->data + x->len, data, len);
	x->len += len;
	x->calls++;
	if (x->cancel_in_body) {
		crid_http_request_cancel(x->r);
		x->r = NULL;
		pending--;
		return 0;
	}
	if (x->pause_then_cancel || (x->pause_every_other && x->calls % 2)) {
		ev_timer_init(&x->resume, resume_cb, 0.001, 0.);
		x->resume.data = x;
		ev_timer_start(loop.ev, &x->resume);
		return 1;
	}
	return 0;
}

static void on_done(void *user, struct crid_http_request *r, int status, const char *errmsg,
		    const char *body, size_t len)
{
	struct res *x = user;

	(void)r;
	if (!x->r)
		x->after_cancel++;
	x->done = 1;
	x->status = status;
	snprintf(x->msg, sizeof(x->msg), "%s", errmsg ? errmsg : "");
	if (body && len && !x->data) {
		x->data = malloc(len);
		memcpy(x->data, body, len);
		x->len = len;
	}
	pending--;
}

static const struct crid_http_callbacks buffered = { on_headers, NULL, on_done };
static const struct crid_http_callbacks streamed = { on_headers, on_body, on_done };

static int start(struct res *x, const struct crid_http_req *req,
		 const struct crid_http_callbacks *cbs)
{
	struct crid_err err;

	if (crid_http_request_start(http, req, cbs, x, &x->r, &err) < 0) {
		printf("# start: %s\n", err.msg);
		return -1;
	}
	pending++;
	return 0;
}

/* One request run to completion. */
static void fetch(struct res *x, const char *method, const char *url,
		  const struct crid_http_callbacks *cbs)
{
	struct crid_http_req req = { .method = method, .url = url, .timeout_ms = 10000 };

	if (start(x, &req, cbs) == 0)
		run(15);
}

/* ---- tests against the registry ---- */

static void blob_url(char *buf, size_t len, const char *digest)
{
	snprintf(buf, len, "%s/v2/test/blobs/%s", base, digest);
}

static void test_api_version(void)
{
	struct res x = { .want_header = "Docker-Distribution-API-Version" };
	char url[128];

	snprintf(url, sizeof(url), "%s/v2/", base);
	fetch(&x, "GET", url, &buffered);
	CHECK(x.done && x.status == 200, "GET /v2/ -> 200 (%d %s)", x.status, x.msg);
	CHECK(x.headers == 200 && !strcmp(x.hdr, "registry/2.0"), "API version header (%s)", x.hdr);
	free(x.data);
}

static void test_localhost(void)
{
	struct res x = { 0 };
	char url[128];

	snprintf(url, sizeof(url), "http://localhost:%s/v2/", strrchr(base, ':') + 1);
	fetch(&x, "GET", url, &buffered);
	CHECK(x.status == 200, "GET via localhost (CURLOPT_RESOLVE, IPv6 bracketed) (%d %s)",
	      x.status, x.msg);
	free(x.data);
}

static void test_head_blob(void)
{
	struct res x = { .want_header = "Content-Length" };
	char url[256], want[32];

	blob_url(url, sizeof(url), blob_digest);
	fetch(&x, "HEAD", url, &streamed);
	snprintf(want, sizeof(want), "%u", BLOB_SIZE);
	CHECK(x.status == 200 && x.len == 0, "HEAD blob -> 200, no body (%d %s)", x.status, x.msg);
	CHECK(!strcmp(x.hdr, want), "HEAD Content-Length %s (%s)", want, x.hdr);
}

static void test_get_blob_paused(void)
{
	struct res x = { .pause_every_other = 1 };
	char url[256];

	blob_url(url, sizeof(url), blob_digest);
	fetch(&x, "GET", url, &streamed);
	CHECK(x.status == 200, "GET blob streamed -> 200 (%d %s)", x.status, x.msg);
	CHECK(x.len == BLOB_SIZE && x.data && !memcmp(x.data, blob, BLOB_SIZE),
	      "every byte once, in order, with %d pauses (%zu bytes)", x.calls / 2, x.len);
	CHECK(x.calls > 10, "many body calls (%d)", x.calls);
	free(x.data);
}

static void test_missing_blob(void)
{
	struct res x = { 0 };
	char url[256];

	blob_url(url, sizeof(url),
		 "sha256:0000000000000000000000000000000000000000000000000000000000000000");
	fetch(&x, "GET", url, &streamed);
	CHECK(x.status == 404, "missing blob -> 404 (%d %s)", x.status, x.msg);
	CHECK(x.data && memmem(x.data, x.len, "BLOB_UNKNOWN", 12), "error JSON given to on_done");
	free(x.data);
}

static void test_parallel(void)
{
	enum { N = 24 };
	static struct res xs[N];
	struct crid_http_req req = { .url = NULL, .timeout_ms = 20000 };
	char url[256];
	int ok = 0;

	blob_url(url, sizeof(url), blob_digest);
	req.url = url;
	for (int i = 0; i < N; i++) {
		memset(&xs[i], 0, sizeof(xs[i]));
		start(&xs[i], &req, &buffered);
	}
	CHECK(crid_http_active(http) == N, "%d requests active", N);
	run(30);
	for (int i = 0; i < N; i++) {
		ok += xs[i].status == 200 && xs[i].len == BLOB_SIZE &&
		      !memcmp(xs[i].data, blob, BLOB_SIZE);
		free(xs[i].data);
	}
	CHECK(ok == N, "%d/%d parallel downloads on one multi handle", ok, N);
	CHECK(crid_http_active(http) == 0, "none left active");
}

static void test_too_big(void)
{
	struct res x = { 0 };
	struct crid_http_req req = { .max_body = 1000 };
	char url[256];

	blob_url(url, sizeof(url), blob_digest);
	req.url = url;
	if (start(&x, &req, &buffered) == 0)
		run(10);
	CHECK(x.status == CRID_HTTP_ETOOBIG, "buffered body over max_body refused (%d %s)",
	      x.status, x.msg);
	free(x.data);
}

static void test_cancel(void)
{
	struct res a = { .cancel_in_body = 1 }, b = { .pause_then_cancel = 1 }, c = { 0 };
	struct crid_http_req req = { .timeout_ms = 10000 };
	char url[256];

	blob_url(url, sizeof(url), blob_digest);
	req.url = url;
	start(&a, &req, &streamed);
	start(&b, &req, &streamed);
	start(&c, &req, &streamed);
	crid_http_request_cancel(c.r); /* before it even resolved */
	c.r = NULL;
	pending--;
	run(10);
	/* a few more rounds: nothing may arrive for the cancelled requests */
	for (int i = 0; i < 20; i++)
		ev_run(loop.ev, EVRUN_NOWAIT);
	CHECK(a.calls == 1 && !a.done && !a.after_cancel,
	      "cancel inside on_body: no more callbacks");
	CHECK(b.calls == 1 && !b.done && !b.after_cancel, "cancel while paused: no more callbacks");
	CHECK(c.calls == 0 && !c.done, "cancel before start: no callbacks");
	CHECK(crid_http_active(http) == 0, "cancelled requests freed");
	free(a.data);
	free(b.data);
}

static void test_refused(void)
{
	struct res x = { 0 };
	char url[64];

	snprintf(url, sizeof(url), "http://127.0.0.1:%d/v2/", free_port());
	fetch(&x, "GET", url, &buffered);
	CHECK(x.status == CRID_HTTP_ECONNECT, "connection refused -> ECONNECT (%d)", x.status);
	CHECK(strstr(x.msg, url) && strstr(x.msg, "GET"), "message names method and URL: %s",
	      x.msg);
}

static void test_timeout(void)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	struct crid_http_req req = { .timeout_ms = 300 };
	socklen_t len = sizeof(a);
	struct res x = { 0 };
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	char url[64];

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	bind(fd, (struct sockaddr *)&a, sizeof(a));
	listen(fd, 8); /* accepted by the kernel, never answered */
	getsockname(fd, (struct sockaddr *)&a, &len);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/slow", ntohs(a.sin_port));
	req.url = url;
	if (start(&x, &req, &buffered) == 0)
		run(5);
	CHECK(x.status == CRID_HTTP_ETIMEOUT, "silent server -> ETIMEOUT (%d %s)", x.status, x.msg);
	close(fd);
}

/* ---- redirects: Authorization must not follow to another origin ---- */

static const char redirect_py[] =
    "import http.server, sys, threading\n"
    "A, B = int(sys.argv[1]), int(sys.argv[2])\n"
    "class H(http.server.BaseHTTPRequestHandler):\n"
    "    def log_message(self, *a): pass\n"
    "    def reply(self, code, body, loc=None):\n"
    "        self.send_response(code)\n"
    "        if loc: self.send_header('Location', loc)\n"
    "        self.send_header('Content-Length', str(len(body)))\n"
    "        self.end_headers(); self.wfile.write(body)\n"
    "    def do_GET(self):\n"
    "        p = self.path\n"
    "        if p == '/redir': return self.reply(307, b'skip', 'http://127.0.0.1:%d/echo' % B)\n"
    "        if p == '/redir-name': return self.reply(302, b'skip', 'http://localhost:%d/echo' % "
    "B)\n"
    "        if p == '/same': return self.reply(307, b'skip', '/echo')\n"
    "        if p == '/loop': return self.reply(307, b'', '/loop')\n"
    "        if p == '/echo':\n"
    "            a = self.headers.get('Authorization') or 'none'\n"
    "            return self.reply(200, ('auth=' + a).encode())\n"
    "        self.reply(404, b'no')\n"
    "for port in (A, B):\n"
    "    s = http.server.ThreadingHTTPServer(('127.0.0.1', port), H)\n"
    "    threading.Thread(target=s.serve_forever, daemon=True).start()\n"
    "threading.Event().wait()\n";

static void redirect_case(int port_a, const char *path, const char *want, const char *what)
{
	static const char *const auth[] = { "Authorization: Bearer s3cret", NULL };
	struct crid_http_req req = { .headers = auth, .timeout_ms = 5000 };
	struct res x = { 0 };
	char url[128];

	snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", port_a, path);
	req.url = url;
	if (start(&x, &req, &buffered) == 0)
		run(10);
	CHECK(x.status == 200 && x.data && x.len == strlen(want) && !memcmp(x.data, want, x.len),
	      "%s (%d %.*s %s)", what, x.status, (int)x.len, x.data ? x.data : "", x.msg);
	free(x.data);
}

static void test_redirects(void)
{
	char script[128], pa[16], pb[16], url[64];
	char *argv[] = { "/usr/bin/python3", script, pa, pb, NULL };
	int a = free_port(), b = free_port();
	struct crid_http_req req = { .url = url, .max_redirects = 3, .timeout_ms = 5000 };
	struct res x = { 0 };
	pid_t pid;
	FILE *f;

	snprintf(script, sizeof(script), "%s/redirect.py", tmpdir);
	snprintf(pa, sizeof(pa), "%d", a);
	snprintf(pb, sizeof(pb), "%d", b);
	f = fopen(script, "w");
	fputs(redirect_py, f);
	fclose(f);
	pid = spawn(argv);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/echo", b);
	if (pid < 0 || !wait_http(url)) {
		tap_skip("redirects", "python3 http.server did not start");
		stop(pid);
		return;
	}
	redirect_case(a, "/same", "auth=Bearer s3cret", "same-origin redirect keeps Authorization");
	redirect_case(a, "/redir", "auth=none", "redirect to another port drops Authorization");
	redirect_case(a, "/redir-name", "auth=none",
		      "redirect to another host (resolved) drops it");
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/loop", a);
	if (start(&x, &req, &buffered) == 0)
		run(10);
	CHECK(x.status == CRID_HTTP_EREDIRECT, "redirect loop stops (%d %s)", x.status, x.msg);
	stop(pid);
}

/* ---- resolver ---- */

struct dres {
	int calls, status;
	char addrs[256];
};

static void dns_cb(void *user, int status, const char *addrs, const char *errmsg)
{
	struct dres *d = user;

	(void)errmsg;
	d->calls++;
	d->status = status;
	snprintf(d->addrs, sizeof(d->addrs), "%s", addrs ? addrs : "");
	pending--;
}

static void test_dns(void)
{
	struct dres lit = { 0 }, lh = { 0 }, hosts = { 0 }, cancelled = { 0 };
	struct crid_dns_query *q;
	struct crid_err err;
	char name[256] = "";
	size_t cached;

	pending++;
	crid_dns_resolve(dns, "127.0.0.1", dns_cb, &lit, &q, &err);
	CHECK(lit.calls == 1 && !q && !strcmp(lit.addrs, "127.0.0.1"), "literal: immediate");
	pending++;
	crid_dns_resolve(dns, "LocalHost", dns_cb, &lh, &q, &err);
	CHECK(lh.calls == 1 && !strcmp(lh.addrs, "127.0.0.1,::1"), "localhost: immediate");
	CHECK(crid_dns_resolve(dns, "", dns_cb, &lh, &q, &err) < 0, "empty name refused");
	/* the machine's own name comes from /etc/hosts through c-ares ("fb") */
	gethostname(name, sizeof(name));
	crid_dns_flush(dns);
	pending++;
	if (crid_dns_resolve(dns, name, dns_cb, &hosts, &q, &err) == 0)
		run(10);
	cached = crid_dns_cached(dns);
	CHECK(hosts.calls == 1 && hosts.status == 0 && hosts.addrs[0],
	      "own host name `%s` resolved: %s", name, hosts.addrs);
	CHECK(cached == 1, "answer cached (%zu)", cached);
	pending++;
	crid_dns_resolve(dns, name, dns_cb, &hosts, &q, &err);
	CHECK(hosts.calls == 2 && !q, "second lookup served from the cache");
	crid_dns_flush(dns);
	crid_dns_resolve(dns, "crid-test.invalid", dns_cb, &cancelled, &q, &err);
	crid_dns_cancel(q);
	for (int i = 0; i < 5; i++)
		ev_run(loop.ev, EVRUN_NOWAIT);
	CHECK(cancelled.calls == 0, "cancelled lookup: no callback");
	pending = 0;
}

int main(void)
{
	struct crid_err err;
	size_t mem0;
	pid_t reg;

	curl_global_init(CURL_GLOBAL_DEFAULT);
	if (crid_loop_init(&loop, NULL, NULL, &err) < 0 || !mkdtemp(tmpdir)) {
		printf("not ok 1 - setup: %s\n", err.msg);
		return 1;
	}
	mem0 = crid_mem_used();
	CHECK(crid_dns_new(&loop, &dns, &err) == 0, "dns resolver");
	CHECK(crid_http_new(&loop, dns, &http, &err) == 0, "http client");
	test_dns();
	test_refused();
	test_timeout();
	test_redirects();
	if (access("/usr/bin/docker-registry", X_OK) != 0) {
		tap_skip("registry tests", "/usr/bin/docker-registry is not installed");
	} else if ((reg = start_registry()) < 0) {
		CHECK(0, "docker-registry started");
	} else if (!CHECK(push_blob() == 0, "blob pushed with the registry API")) {
		stop(reg);
	} else {
		test_api_version();
		test_localhost();
		test_head_blob();
		test_get_blob_paused();
		test_missing_blob();
		test_parallel();
		test_too_big();
		test_cancel();
		stop(reg);
	}
	crid_http_free(http);
	crid_dns_free(dns);
	CHECK(crid_mem_used() == mem0, "no crid memory left (%zu -> %zu)", mem0, crid_mem_used());
	crid_loop_destroy(&loop);
	free(blob);
	curl_global_cleanup();
	ares_library_cleanup();
	{
		char cmd[128];

		snprintf(cmd, sizeof(cmd), "rm -rf %s", tmpdir);
		if (system(cmd) != 0)
			printf("# could not remove %s\n", tmpdir);
	}
	return tap_done();
}
