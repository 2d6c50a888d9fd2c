#include "io/http_client.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "reactor/log.h"
#include "reactor/mem.h"

#ifndef CRID_VERSION
#define CRID_VERSION "dev"
#endif

#define ERROR_BODY_MAX (64u << 10) /* kept of a non-2xx body: registry error JSON */

/* One socket curl asked us to watch (CURLMOPT_SOCKETFUNCTION, curl_multi_assign). */
struct http_sock {
	ev_io io;
	struct crid_http *h;
	struct http_sock *prev, *next;
};

/*
 * RESOLVING: waiting for io/dns. QUEUED: ready to be added to the multi (or
 * to report r->fail) on the next deferred pass. RUNNING: in the multi.
 * DEAD: finished or cancelled, freed when no curl call is on the stack.
 */
enum req_state { RS_RESOLVING, RS_QUEUED, RS_RUNNING, RS_DEAD };

struct crid_http_request {
	struct crid_http *h;
	struct crid_http_request *prev, *next;
	CURL *easy;
	const struct crid_http_callbacks *cbs;
	void *user;
	struct crid_dns_query *dnsq;
	struct curl_slist *headers;	   /* as given, plus "Expect:" */
	struct curl_slist *noauth_headers; /* without Authorization, after leaving the origin */
	struct curl_slist *resolve;
	char *url, *host, *origin, *method, *body;
	char *errmsg; /* our failure message, set only on failure */
	char *buf;
	size_t buf_len, buf_cap, max_body;
	size_t skip; /* bytes curl hands again after a pause: already consumed */
	int redirects, max_redirects;
	int status; /* HTTP status of the last header block */
	int fail;   /* our own failure (negative), reported instead of curl's */
	unsigned state : 2, added : 1, literal : 1, paused : 1, resume_pending : 1, redirecting : 1,
	    buffering : 1, is_head : 1;
	char errbuf[CURL_ERROR_SIZE];
};

struct crid_http {
	struct crid_loop *loop;
	struct crid_dns *dns;
	CURLM *multi;
	ev_timer timer; /* curl's timeout (CURLMOPT_TIMERFUNCTION) */
	ev_timer kick;	/* deferred work: adds, resumes, frees */
	struct crid_http_request *requests;
	struct http_sock *socks;
	size_t active;
	int depth; /* curl calls or user callbacks on the stack: no freeing now */
};

static void run_deferred(struct crid_http *h);

const char *crid_http_strerror(int status)
{
	switch (status) {
	case CRID_HTTP_ERESOLVE:
		return "resolve";
	case CRID_HTTP_ECONNECT:
		return "connect";
	case CRID_HTTP_ETIMEOUT:
		return "timeout";
	case CRID_HTTP_ETLS:
		return "tls";
	case CRID_HTTP_ETOOBIG:
		return "body too large";
	case CRID_HTTP_EABORTED:
		return "aborted";
	case CRID_HTTP_EREDIRECT:
		return "redirect";
	case CRID_HTTP_ENOMEM:
		return "out of memory";
	default:
		return status < 0 ? "transfer" : "ok";
	}
}

static void kick(struct crid_http *h)
{
	if (!ev_is_active(&h->kick)) {
		ev_timer_set(&h->kick, 0., 0.);
		ev_timer_start(h->loop->ev, &h->kick);
	}
}

/* ---- curl <-> libev (curl docs/examples/evhiperfifo.c) ---- */

static void sock_free(struct crid_http *h, struct http_sock *s)
{
	ev_io_stop(h->loop->ev, &s->io);
	if (s->prev)
		s->prev->next = s->next;
	else
		h->socks = s->next;
	if (s->next)
		s->next->prev = s->prev;
	crid_free(s);
}

static void sock_io_cb(struct ev_loop *ev, ev_io *w, int revents)
{
	struct http_sock *s = w->data;
	struct crid_http *h = s->h;
	int running, fd = w->fd; /* |s| may be freed by curl below */
	int action = ((revents & EV_READ) ? CURL_CSELECT_IN : 0) |
		     ((revents & EV_WRITE) ? CURL_CSELECT_OUT : 0);

	(void)ev;
	h->depth++;
	curl_multi_socket_action(h->multi, fd, action, &running);
	h->depth--;
	run_deferred(h);
}

static int sock_fn(CURL *e, curl_socket_t fd, int what, void *userp, void *socketp)
{
	struct crid_http *h = userp;
	struct http_sock *s = socketp;
	int events =
	    ((what & CURL_POLL_IN) ? EV_READ : 0) | ((what & CURL_POLL_OUT) ? EV_WRITE : 0);

	(void)e;
	if (what == CURL_POLL_REMOVE) {
		if (s)
			sock_free(h, s);
		return 0;
	}
	if (!s) {
		s = crid_calloc(1, sizeof(*s));
		if (!s)
			return -1; /* curl fails the transfer */
		s->h = h;
		s->next = h->socks;
		if (h->socks)
			h->socks->prev = s;
		h->socks = s;
		ev_init(&s->io, sock_io_cb);
		s->io.data = s;
		curl_multi_assign(h->multi, fd, s);
	}
	ev_io_stop(h->loop->ev, &s->io);
	ev_io_set(&s->io, fd, events);
	ev_io_start(h->loop->ev, &s->io);
	return 0;
}

static void timer_cb(struct ev_loop *ev, ev_timer *w, int revents)
{
	struct crid_http *h = w->data;
	int running;

	(void)ev;
	(void)revents;
	h->depth++;
	curl_multi_socket_action(h->multi, CURL_SOCKET_TIMEOUT, 0, &running);
	h->depth--;
	run_deferred(h);
}

/* CURLMOPT_TIMERFUNCTION: only (re)arms; curl must not be called from here (0 = next round). */
static int timer_fn(CURLM *m, long timeout_ms, void *userp)
{
	struct crid_http *h = userp;

	(void)m;
	ev_timer_stop(h->loop->ev, &h->timer);
	if (timeout_ms >= 0) {
		ev_timer_set(&h->timer, (double)timeout_ms / 1000., 0.);
		ev_timer_start(h->loop->ev, &h->timer);
	}
	return 0;
}

static void kick_cb(struct ev_loop *ev, ev_timer *w, int revents)
{
	(void)ev;
	(void)revents;
	run_deferred(w->data);
}

int crid_http_new(struct crid_loop *loop, struct crid_dns *dns, struct crid_http **out,
		  struct crid_err *err)
{
	struct crid_http *h = crid_calloc(1, sizeof(*h));

	if (!h)
		return crid_err_set(err, ENOMEM, "http client");
	h->loop = loop;
	h->dns = dns;
	ev_init(&h->timer, timer_cb);
	h->timer.data = h;
	ev_init(&h->kick, kick_cb);
	h->kick.data = h;
	*out = h;
	return 0;
}

/*
 * The multi handle is made by the first request, not by crid_http_new():
 * libcurl is loaded on first use (io/lazylib.h), and a daemon that never
 * pulls never maps it.
 */
static int multi_ready(struct crid_http *h, struct crid_err *err)
{
	if (h->multi)
		return 0;
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		return crid_err_set(err, 0, "curl global init failed (is libcurl installed?)");
	h->multi = curl_multi_init();
	if (!h->multi)
		return crid_err_set(err, ENOMEM, "curl multi handle");
	curl_multi_setopt(h->multi, CURLMOPT_SOCKETFUNCTION, sock_fn);
	curl_multi_setopt(h->multi, CURLMOPT_SOCKETDATA, h);
	curl_multi_setopt(h->multi, CURLMOPT_TIMERFUNCTION, timer_fn);
	curl_multi_setopt(h->multi, CURLMOPT_TIMERDATA, h);
	curl_multi_setopt(h->multi, CURLMOPT_PIPELINING, CURLPIPE_MULTIPLEX);
	curl_multi_setopt(h->multi, CURLMOPT_MAX_HOST_CONNECTIONS, 8L);
	return 0;
}

/* ---- request lifetime ---- */

static void destroy(struct crid_http_request *r)
{
	struct crid_http *h = r->h;

	crid_dns_cancel(r->dnsq);
	if (r->added)
		curl_multi_remove_handle(h->multi, r->easy);
	if (r->easy)
		curl_easy_cleanup(r->easy);
	curl_slist_free_all(r->headers);
	curl_slist_free_all(r->noauth_headers);
	curl_slist_free_all(r->resolve);
	crid_free(r->url);
	crid_free(r->host);
	crid_free(r->origin);
	crid_free(r->method);
	crid_free(r->body);
	crid_free(r->buf);
	crid_free(r->errmsg);
	if (r->prev)
		r->prev->next = r->next;
	else
		h->requests = r->next;
	if (r->next)
		r->next->prev = r->prev;
	h->active--;
	crid_free(r);
}

/* Frees the dead requests once nothing of curl or of our callers is on the stack. */
static void reap(struct crid_http *h)
{
	struct crid_http_request *r, *next;

	if (h->depth)
		return;
	for (r = h->requests; r; r = next) {
		next = r->next;
		if (r->state == RS_DEAD)
			destroy(r);
	}
}

void crid_http_request_cancel(struct crid_http_request *r)
{
	if (!r || r->state == RS_DEAD)
		return;
	crid_dns_cancel(r->dnsq);
	r->dnsq = NULL;
	if (!r->h->depth) {
		destroy(r);
		return;
	}
	r->state = RS_DEAD; /* callbacks of a dead request return early; reaped later */
	kick(r->h);
}

void crid_http_request_resume(struct crid_http_request *r)
{
	if (!r || r->state != RS_RUNNING || !r->paused)
		return;
	r->resume_pending = 1;
	kick(r->h);
}

size_t crid_http_active(const struct crid_http *h)
{
	return h->active;
}

const char *crid_http_request_url(const struct crid_http_request *r)
{
	return r->url;
}

const char *crid_http_request_header(struct crid_http_request *r, const char *name, size_t index)
{
	struct curl_header *hh;

	if (!r->easy || curl_easy_header(r->easy, name, index, CURLH_HEADER, -1, &hh) != CURLHE_OK)
		return NULL;
	return hh->value;
}

void crid_http_free(struct crid_http *h)
{
	if (!h)
		return;
	h->depth = 0;
	while (h->requests)
		destroy(h->requests);
	if (h->multi)
		curl_multi_cleanup(h->multi); /* may still report sockets to forget */
	while (h->socks)
		sock_free(h, h->socks);
	ev_timer_stop(h->loop->ev, &h->timer);
	ev_timer_stop(h->loop->ev, &h->kick);
	crid_free(h);
}

/* ---- completion ---- */

static int map_curl_code(CURLcode code)
{
	switch (code) {
	case CURLE_COULDNT_RESOLVE_HOST:
		return CRID_HTTP_ERESOLVE;
	case CURLE_COULDNT_CONNECT:
		return CRID_HTTP_ECONNECT;
	case CURLE_OPERATION_TIMEDOUT:
		return CRID_HTTP_ETIMEOUT;
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CERTPROBLEM:
	case CURLE_SSL_CIPHER:
	case CURLE_SSL_CACERT_BADFILE:
	case CURLE_SSL_ISSUER_ERROR:
		return CRID_HTTP_ETLS;
	case CURLE_OUT_OF_MEMORY:
		return CRID_HTTP_ENOMEM;
	case CURLE_TOO_MANY_REDIRECTS:
		return CRID_HTTP_EREDIRECT;
	default:
		return CRID_HTTP_EPROTO;
	}
}

static void fail_msg(struct crid_http_request *r, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Records our own failure; the message names method and URL (allocated only on failure). */
static void fail_msg(struct crid_http_request *r, int status, const char *fmt, ...)
{
	char cause[512], msg[2048];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(cause, sizeof(cause), fmt, ap);
	va_end(ap);
	snprintf(msg, sizeof(msg), "%s `%s`: %s", r->method ? r->method : "?",
		 r->url ? r->url : "?", cause);
	crid_free(r->errmsg);
	r->errmsg = crid_strdup(msg);
	r->fail = status;
}

/* Calls on_done once and marks |r| dead. */
static void finish(struct crid_http_request *r, CURLcode code)
{
	struct crid_http *h = r->h;
	int status = r->status;
	const char *msg = NULL;

	if (!r->fail && code != CURLE_OK) {
		fail_msg(r, map_curl_code(code), "%s",
			 r->errbuf[0] ? r->errbuf : curl_easy_strerror(code));
	}
	if (r->fail) {
		status = r->fail;
		msg = r->errmsg ? r->errmsg : "out of memory";
	}
	r->state = RS_DEAD;
	if (r->buf)
		r->buf[r->buf_len] = '\0';
	h->depth++;
	r->cbs->on_done(r->user, r, status, msg, r->buf, r->buf_len);
	h->depth--;
}

/* ---- one hop: URL -> origin, resolution, easy handle options ---- */

struct url_parts {
	char *scheme, *host, *port;
};

static void url_parts_free(struct url_parts *u)
{
	curl_free(u->scheme);
	curl_free(u->host);
	curl_free(u->port);
}

static int url_split(const char *url, struct url_parts *p)
{
	CURLU *u = curl_url();
	int ok;

	memset(p, 0, sizeof(*p));
	if (!u)
		return -1;
	ok = curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
	     curl_url_get(u, CURLUPART_SCHEME, &p->scheme, 0) == CURLUE_OK &&
	     curl_url_get(u, CURLUPART_HOST, &p->host, 0) == CURLUE_OK &&
	     curl_url_get(u, CURLUPART_PORT, &p->port, CURLU_DEFAULT_PORT) == CURLUE_OK &&
	     (!strcasecmp(p->scheme, "http") || !strcasecmp(p->scheme, "https"));
	curl_url_cleanup(u);
	if (!ok)
		url_parts_free(p);
	return ok ? 0 : -1;
}

/* "host:port:1.2.3.4,[::1]" for CURLOPT_RESOLVE. */
static struct curl_slist *resolve_entry(const char *host, const char *port, const char *csv)
{
	size_t len = strlen(host) + strlen(port) + 2 * strlen(csv) + 8, used;
	char *line = crid_malloc(len), *list, *save = NULL, *a;
	struct curl_slist *sl = NULL;

	list = crid_strdup(csv);
	if (!line || !list)
		goto out;
	used = (size_t)snprintf(line, len, "%s:%s:", host, port);
	for (a = strtok_r(list, ",", &save); a; a = strtok_r(NULL, ",", &save))
		used +=
		    (size_t)snprintf(line + used, len - used, strchr(a, ':') ? "%s[%s]" : "%s%s",
				     line[used - 1] == ':' ? "" : ",", a);
	sl = curl_slist_append(NULL, line);
out:
	crid_free(line);
	crid_free(list);
	return sl;
}

static void queue(struct crid_http_request *r)
{
	r->state = RS_QUEUED;
	kick(r->h);
}

static void dns_done(void *user, int status, const char *addrs, const char *errmsg)
{
	struct crid_http_request *r = user;
	struct url_parts p;

	r->dnsq = NULL;
	if (status < 0) {
		fail_msg(r, CRID_HTTP_ERESOLVE, "%s", errmsg);
	} else if (url_split(r->url, &p) < 0) {
		fail_msg(r, CRID_HTTP_EPROTO, "%s", "bad URL");
	} else {
		curl_slist_free_all(r->resolve);
		r->resolve = resolve_entry(r->host, p.port, addrs);
		url_parts_free(&p);
		if (!r->resolve)
			fail_msg(r, CRID_HTTP_ENOMEM, "%s", "resolve list");
		curl_easy_setopt(r->easy, CURLOPT_RESOLVE, r->resolve);
	}
	queue(r);
}

/* A copy of |in| without Authorization: for hops that leave the first URL's origin. */
static int strip_auth(struct crid_http_request *r)
{
	struct curl_slist *l, *out = NULL;

	if (r->noauth_headers)
		return 0;
	for (l = r->headers; l; l = l->next) {
		if (!strncasecmp(l->data, "Authorization:", 14))
			continue;
		struct curl_slist *n = curl_slist_append(out, l->data);

		if (!n) {
			curl_slist_free_all(out);
			return -1;
		}
		out = n;
	}
	r->noauth_headers = out;
	return 0;
}

/* Points |r| at |url| (first URL or a redirect target) and resolves its host. */
static int set_hop(struct crid_http_request *r, const char *url, struct crid_err *err)
{
	struct url_parts p;
	char origin[600];
	unsigned char ip[16];
	int rc = -1;

	if (url_split(url, &p) < 0)
		return crid_err_set(err, EINVAL, "%s `%s`: not an http(s) URL", r->method, url);
	snprintf(origin, sizeof(origin), "%s://%s:%s", p.scheme, p.host, p.port);
	crid_free(r->url);
	crid_free(r->host);
	r->url = crid_strdup(url);
	/* curl brackets IPv6 literals: "[::1]" */
	r->host =
	    p.host[0] == '[' ? crid_strndup(p.host + 1, strlen(p.host) - 2) : crid_strdup(p.host);
	if (!r->origin)
		r->origin = crid_strdup(origin);
	if (!r->url || !r->host || !r->origin) {
		crid_err_set(err, ENOMEM, "%s `%s`", r->method, url);
		goto out;
	}
	if (strcasecmp(origin, r->origin) && strip_auth(r) < 0) {
		crid_err_set(err, ENOMEM, "%s `%s`", r->method, url);
		goto out;
	}
	curl_easy_setopt(r->easy, CURLOPT_URL, r->url);
	curl_easy_setopt(r->easy, CURLOPT_HTTPHEADER,
			 strcasecmp(origin, r->origin) ? r->noauth_headers : r->headers);
	r->literal = inet_pton(AF_INET, r->host, ip) == 1 || inet_pton(AF_INET6, r->host, ip) == 1;
	r->state = RS_RESOLVING;
	if (r->literal) {
		queue(r); /* curl converts literals itself, without its resolver */
		rc = 0;
	} else {
		rc = crid_dns_resolve(r->h->dns, r->host, dns_done, r, &r->dnsq, err);
	}
out:
	url_parts_free(&p);
	return rc;
}

/* ---- curl callbacks of one transfer ---- */

static int is_redirect(int status)
{
	return status == 301 || status == 302 || status == 303 || status == 307 || status == 308;
}

/* CURLOPT_RESOLVER_START_FUNCTION: curl may convert literals; anything else is a bug here. */
static int resolver_start(void *resolver_state, void *reserved, void *userdata)
{
	struct crid_http_request *r = userdata;

	(void)resolver_state;
	(void)reserved;
	if (r->literal)
		return 0;
	crid_log_error("http: curl would resolve `%s` on a thread; refused", r->host);
	return 1;
}

/* Called at the blank line ending a header block: decides what the body is for. */
static int headers_end(struct crid_http_request *r)
{
	struct crid_http *h = r->h;
	struct curl_header *loc;
	long code = 0;
	int rc;

	curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &code);
	if (code < 200)
		return 0; /* 100 Continue and friends */
	r->status = (int)code;
	r->redirecting =
	    is_redirect(r->status) && r->max_redirects >= 0 &&
	    (!strcmp(r->method, "GET") || r->is_head) &&
	    curl_easy_header(r->easy, "Location", 0, CURLH_HEADER, -1, &loc) == CURLHE_OK;
	if (r->redirecting)
		return 0;
	r->buffering = !r->cbs->on_body || r->status >= 300;
	if (!r->cbs->on_headers)
		return 0;
	h->depth++;
	rc = r->cbs->on_headers(r->user, r, r->status);
	h->depth--;
	if (r->state == RS_DEAD)
		return -1;
	if (rc < 0)
		fail_msg(r, CRID_HTTP_EABORTED, "%s", "aborted by the caller after the headers");
	return rc < 0 ? -1 : 0;
}

static size_t header_cb(char *buf, size_t size, size_t n, void *userdata)
{
	struct crid_http_request *r = userdata;
	size_t len = size * n;

	if (r->state == RS_DEAD)
		return 0;
	if ((len == 2 && buf[0] == '\r' && buf[1] == '\n') || (len == 1 && buf[0] == '\n'))
		return headers_end(r) < 0 ? 0 : len;
	return len;
}

static int buffer_append(struct crid_http_request *r, const char *data, size_t len)
{
	size_t cap = r->status >= 300 ? ERROR_BODY_MAX : r->max_body;
	size_t want = r->buf_len + len + 1, ncap;
	char *nb;

	if (r->buf_len + len > cap) {
		if (r->status >= 300) /* an error body: keep its beginning */
			len = cap - r->buf_len;
		else
			return -1;
	}
	if (want > r->buf_cap) {
		ncap = r->buf_cap ? r->buf_cap : 1024;
		while (ncap < want)
			ncap *= 2;
		nb = crid_realloc(r->buf, ncap);
		if (!nb)
			return -1;
		r->buf = nb;
		r->buf_cap = ncap;
	}
	memcpy(r->buf + r->buf_len, data, len);
	r->buf_len += len;
	return 0;
}

static size_t deliver(struct crid_http_request *r, const char *data, size_t len, size_t total)
{
	int rc;

	if (r->buffering) {
		if (buffer_append(r, data, len) == 0)
			return total;
		fail_msg(r, CRID_HTTP_ETOOBIG, "response body over %zu bytes", r->max_body);
		return 0;
	}
	r->h->depth++;
	rc = r->cbs->on_body(r->user, data, len);
	r->h->depth--;
	if (r->state == RS_DEAD)
		return 0;
	if (rc < 0) {
		fail_msg(r, CRID_HTTP_EABORTED, "%s", "aborted by the caller");
		return 0;
	}
	if (rc > 0) {
		/* curl keeps this chunk and hands it again on unpause: skip it then. */
		r->paused = 1;
		r->skip = total;
		return CURL_WRITEFUNC_PAUSE;
	}
	return total;
}

static size_t write_cb(char *data, size_t size, size_t n, void *userdata)
{
	struct crid_http_request *r = userdata;
	size_t total = size * n, len = total, k;

	if (r->state == RS_DEAD)
		return 0;
	if (r->redirecting)
		return total; /* the body of a redirect we follow */
	if (r->skip) {
		k = r->skip < len ? r->skip : len;
		r->skip -= k;
		data += k;
		len -= k;
		if (!len)
			return total;
	}
	return deliver(r, data, len, total);
}

/* ---- the deferred pass: adds, resumes, completions ---- */

static void follow_redirect(struct crid_http_request *r)
{
	struct crid_err err;
	char *loc = NULL, *next;

	curl_easy_getinfo(r->easy, CURLINFO_REDIRECT_URL, &loc);
	if (!loc) {
		fail_msg(r, CRID_HTTP_EREDIRECT, "%s", "redirect without a usable Location");
	} else if (r->redirects >= r->max_redirects) {
		fail_msg(r, CRID_HTTP_EREDIRECT, "more than %d redirects", r->max_redirects);
	} else if (!(next = crid_strdup(loc))) {
		fail_msg(r, CRID_HTTP_ENOMEM, "%s", "redirect");
	} else {
		r->redirects++;
		r->status = 0;
		r->redirecting = 0;
		r->buf_len = 0;
		r->errbuf[0] = '\0';
		if (set_hop(r, next, &err) < 0)
			fail_msg(r, CRID_HTTP_EREDIRECT, "%s", err.msg);
		crid_free(next);
		if (!r->fail)
			return;
	}
	finish(r, CURLE_OK);
}

static void drain_done(struct crid_http *h)
{
	struct crid_http_request *r;
	CURLMsg *msg;
	CURLcode code;
	int left;

	while ((msg = curl_multi_info_read(h->multi, &left))) {
		if (msg->msg != CURLMSG_DONE)
			continue;
		code = msg->data.result;
		curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&r);
		curl_multi_remove_handle(h->multi, r->easy);
		r->added = 0;
		if (r->state == RS_DEAD)
			continue;
		if (code == CURLE_OK && r->redirecting && !r->fail)
			follow_redirect(r);
		else
			finish(r, code);
	}
}

static void add_now(struct crid_http_request *r)
{
	CURLMcode mc;

	if (r->fail) {
		finish(r, CURLE_OK);
		return;
	}
	mc = curl_multi_add_handle(r->h->multi, r->easy);
	if (mc != CURLM_OK) {
		fail_msg(r, CRID_HTTP_EPROTO, "%s", curl_multi_strerror(mc));
		finish(r, CURLE_OK);
		return;
	}
	r->added = 1;
	r->state = RS_RUNNING;
}

/* Runs after every curl entry point and on the kick timer; curl may call us back here. */
static void run_deferred(struct crid_http *h)
{
	struct crid_http_request *r;

	h->depth++;
	for (r = h->requests; r; r = r->next) {
		if (r->state == RS_QUEUED) {
			add_now(r);
		} else if (r->state == RS_RUNNING && r->resume_pending) {
			r->resume_pending = 0;
			r->paused = 0;
			curl_easy_pause(r->easy, CURLPAUSE_CONT);
		}
	}
	drain_done(h);
	h->depth--;
	reap(h);
}

/* ---- start ---- */

static int setup_easy(struct crid_http_request *r, const struct crid_http_req *req)
{
	CURL *e = r->easy;

	curl_easy_setopt(e, CURLOPT_PRIVATE, r);
	curl_easy_setopt(e, CURLOPT_ERRORBUFFER, r->errbuf);
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L); /* followed by us, see header comment */
	curl_easy_setopt(e, CURLOPT_PROXY, "");		 /* no proxy from the environment */
	curl_easy_setopt(e, CURLOPT_RESOLVER_START_FUNCTION, resolver_start);
	curl_easy_setopt(e, CURLOPT_RESOLVER_START_DATA, r);
	curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, header_cb);
	curl_easy_setopt(e, CURLOPT_HEADERDATA, r);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, write_cb);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, r);
	curl_easy_setopt(e, CURLOPT_PIPEWAIT, 1L); /* wait to multiplex on one HTTP/2 connection */
	curl_easy_setopt(e, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_2TLS);
	curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
	curl_easy_setopt(e, CURLOPT_USERAGENT, "crid/" CRID_VERSION);
	curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, req->insecure ? 0L : 1L);
	curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, req->insecure ? 0L : 2L);
	if (req->ca_file && curl_easy_setopt(e, CURLOPT_CAINFO, req->ca_file) != CURLE_OK)
		return -1;
	curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, req->connect_timeout_ms);
	curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, req->timeout_ms);
	curl_easy_setopt(e, CURLOPT_LOW_SPEED_LIMIT, req->low_speed_limit);
	curl_easy_setopt(e, CURLOPT_LOW_SPEED_TIME, req->low_speed_time);
	if (r->is_head)
		curl_easy_setopt(e, CURLOPT_NOBODY, 1L);
	else if (strcmp(r->method, "GET"))
		curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, r->method);
	if (r->body || strcmp(r->method, "GET")) {
		if (!r->is_head) {
			curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)req->body_len);
			curl_easy_setopt(e, CURLOPT_POSTFIELDS, r->body ? r->body : "");
		}
	}
	return 0;
}

static int copy_request(struct crid_http_request *r, const struct crid_http_req *req)
{
	const char *const *hp;
	struct curl_slist *n;

	r->method = crid_strdup(req->method ? req->method : "GET");
	if (!r->method)
		return -1;
	r->is_head = !strcmp(r->method, "HEAD");
	if (req->body) {
		r->body = crid_malloc(req->body_len + 1);
		if (!r->body)
			return -1;
		memcpy(r->body, req->body, req->body_len);
		r->body[req->body_len] = '\0';
	}
	r->headers = curl_slist_append(NULL, "Expect:"); /* no 100-continue round trip */
	for (hp = req->headers; r->headers && hp && *hp; hp++) {
		n = curl_slist_append(r->headers, *hp);
		if (!n)
			return -1;
		r->headers = n;
	}
	r->max_body = req->max_body ? req->max_body : CRID_HTTP_MAX_BODY_DEFAULT;
	r->max_redirects =
	    req->max_redirects ? req->max_redirects : CRID_HTTP_MAX_REDIRECTS_DEFAULT;
	return r->headers ? 0 : -1;
}

int crid_http_request_start(struct crid_http *h, const struct crid_http_req *req,
			    const struct crid_http_callbacks *cbs, void *user,
			    struct crid_http_request **out, struct crid_err *err)
{
	struct crid_http_request *r;

	if (!req->url || !cbs || !cbs->on_done)
		return crid_err_set(err, EINVAL, "http request: url and on_done are required");
	if (multi_ready(h, err) < 0)
		return -1;
	r = crid_calloc(1, sizeof(*r));
	if (!r)
		return crid_err_set(err, ENOMEM, "http request `%s`", req->url);
	r->h = h;
	r->cbs = cbs;
	r->user = user;
	r->next = h->requests;
	if (h->requests)
		h->requests->prev = r;
	h->requests = r;
	h->active++;
	r->state = RS_RESOLVING;
	r->easy = curl_easy_init();
	if (!r->easy || copy_request(r, req) < 0 || setup_easy(r, req) < 0) {
		crid_err_set(err, ENOMEM, "http request `%s`", req->url);
		goto fail;
	}
	if (set_hop(r, req->url, err) < 0)
		goto fail;
	if (out)
		*out = r;
	return 0;
fail:
	r->state = RS_DEAD;
	if (!h->depth)
		destroy(r);
	return -1;
}
