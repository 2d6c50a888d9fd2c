#include "io/dns.h"

#include <arpa/inet.h>
#include <ares.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include "reactor/log.h"
#include "reactor/mem.h"

#define CACHE_MAX 64
#define TTL_MIN 1 /* hosts-file answers carry TTL 0: still worth a second */
#define TTL_MAX 600
#define ADDRS_MAX 512

/* One c-ares socket, watched while c-ares wants it (sock_state_cb). */
struct dns_sock {
	ev_io io;
	struct crid_dns *d;
	struct dns_sock *next;
};

struct dns_cache_entry {
	struct dns_cache_entry *next;
	double expires;
	char *addrs;
	char host[];
};

/* One c-ares query per host in flight; every caller waiting on it is a query. */
struct dns_lookup {
	struct crid_dns *d;
	struct dns_lookup *next;
	struct crid_dns_query *waiters;
	char host[];
};

struct crid_dns_query {
	struct dns_lookup *lk;
	struct crid_dns_query *next;
	crid_dns_done_fn done;
	void *user;
};

struct crid_dns {
	struct crid_loop *loop;
	ares_channel ch;
	ev_timer timer;
	struct dns_sock *socks;
	struct dns_lookup *lookups;
	struct dns_cache_entry *cache;
	size_t ncache;
	struct crid_dns_query *sync_query;
	int destroying;
};

static void arm_timer(struct crid_dns *d)
{
	struct timeval tv, *tvp;

	ev_timer_stop(d->loop->ev, &d->timer);
	tvp = ares_timeout(d->ch, NULL, &tv);
	if (!tvp)
		return;
	ev_timer_set(&d->timer, (double)tvp->tv_sec + (double)tvp->tv_usec / 1e6, 0.);
	ev_timer_start(d->loop->ev, &d->timer);
}

static void sock_io_cb(struct ev_loop *ev, ev_io *w, int revents)
{
	struct dns_sock *s = w->data;
	struct crid_dns *d = s->d;
	int fd = w->fd;

	(void)ev;
	ares_process_fd(d->ch, (revents & EV_READ) ? fd : ARES_SOCKET_BAD,
			(revents & EV_WRITE) ? fd : ARES_SOCKET_BAD);
	arm_timer(d);
}

static void timer_cb(struct ev_loop *ev, ev_timer *w, int revents)
{
	struct crid_dns *d = w->data;

	(void)ev;
	(void)revents;
	ares_process_fd(d->ch, ARES_SOCKET_BAD, ARES_SOCKET_BAD);
	arm_timer(d);
}

static void sock_forget(struct crid_dns *d, struct dns_sock **pp)
{
	struct dns_sock *s = *pp;

	ev_io_stop(d->loop->ev, &s->io);
	*pp = s->next;
	crid_free(s);
}

/* ARES_OPT_SOCK_STATE_CB: c-ares says which events it wants on |fd|, none = forget it. */
static void sock_state_cb(void *data, ares_socket_t fd, int readable, int writable)
{
	struct crid_dns *d = data;
	struct dns_sock **pp = &d->socks, *s;
	int events = (readable ? EV_READ : 0) | (writable ? EV_WRITE : 0);

	while (*pp && (*pp)->io.fd != fd)
		pp = &(*pp)->next;
	if (!events) {
		if (*pp)
			sock_forget(d, pp);
		return;
	}
	s = *pp;
	if (!s) {
		s = crid_calloc(1, sizeof(*s));
		if (!s) {
			crid_log_error("dns: out of memory watching a resolver socket");
			return;
		}
		s->d = d;
		s->next = d->socks;
		d->socks = s;
		ev_init(&s->io, sock_io_cb);
		s->io.data = s;
	}
	ev_io_stop(d->loop->ev, &s->io);
	ev_io_set(&s->io, fd, events);
	ev_io_start(d->loop->ev, &s->io);
}

int crid_dns_new(struct crid_loop *loop, struct crid_dns **out, struct crid_err *err)
{
	struct ares_options opts;
	struct crid_dns *d;
	int rc,
	    mask = ARES_OPT_SOCK_STATE_CB | ARES_OPT_LOOKUPS | ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES;

	rc = ares_library_init(ARES_LIB_INIT_ALL);
	if (rc != ARES_SUCCESS)
		return crid_err_set(err, 0, "c-ares init: %s", ares_strerror(rc));
	d = crid_calloc(1, sizeof(*d));
	if (!d)
		return crid_err_set(err, ENOMEM, "dns resolver");
	memset(&opts, 0, sizeof(opts));
	opts.sock_state_cb = sock_state_cb;
	opts.sock_state_cb_data = d;
	opts.lookups = (char *)"fb";
	opts.timeout = 2000;
	opts.tries = 2;
	rc = ares_init_options(&d->ch, &opts, mask);
	if (rc != ARES_SUCCESS) {
		crid_free(d);
		return crid_err_set(err, 0, "c-ares channel: %s", ares_strerror(rc));
	}
	d->loop = loop;
	ev_init(&d->timer, timer_cb);
	d->timer.data = d;
	*out = d;
	return 0;
}

static void free_lookup(struct dns_lookup *lk)
{
	while (lk->waiters) {
		struct crid_dns_query *q = lk->waiters;

		lk->waiters = q->next;
		crid_free(q);
	}
	crid_free(lk);
}

void crid_dns_flush(struct crid_dns *d)
{
	while (d->cache) {
		struct dns_cache_entry *e = d->cache;

		d->cache = e->next;
		crid_free(e);
	}
	d->ncache = 0;
}

void crid_dns_free(struct crid_dns *d)
{
	if (!d)
		return;
	/* ares_destroy completes every query with ARES_EDESTRUCTION: no user callbacks. */
	d->destroying = 1;
	ares_destroy(d->ch);
	while (d->lookups) {
		struct dns_lookup *lk = d->lookups;

		d->lookups = lk->next;
		free_lookup(lk);
	}
	while (d->socks)
		sock_forget(d, &d->socks);
	ev_timer_stop(d->loop->ev, &d->timer);
	crid_dns_flush(d);
	crid_free(d);
}

size_t crid_dns_cached(const struct crid_dns *d)
{
	return d->ncache;
}

/* Returns the cached addresses of |host| or NULL; drops expired entries on the way. */
static const char *cache_get(struct crid_dns *d, const char *host)
{
	double now = ev_now(d->loop->ev);
	struct dns_cache_entry **pp = &d->cache, *e;

	while ((e = *pp)) {
		if (e->expires <= now) {
			*pp = e->next;
			crid_free(e);
			d->ncache--;
			continue;
		}
		if (!strcasecmp(e->host, host))
			return e->addrs;
		pp = &e->next;
	}
	return NULL;
}

static void cache_evict_one(struct crid_dns *d)
{
	struct dns_cache_entry **pp, **oldest = &d->cache, *e;

	for (pp = &d->cache; *pp; pp = &(*pp)->next)
		if ((*pp)->expires < (*oldest)->expires)
			oldest = pp;
	e = *oldest;
	*oldest = e->next;
	crid_free(e);
	d->ncache--;
}

static void cache_put(struct crid_dns *d, const char *host, const char *addrs, int ttl)
{
	size_t hl = strlen(host) + 1, al = strlen(addrs) + 1;
	struct dns_cache_entry *e;

	if (cache_get(d, host))
		return;
	if (d->ncache >= CACHE_MAX)
		cache_evict_one(d);
	e = crid_malloc(sizeof(*e) + hl + al);
	if (!e)
		return; /* a cache miss later, not an error now */
	memcpy(e->host, host, hl);
	e->addrs = e->host + hl;
	memcpy(e->addrs, addrs, al);
	ttl = ttl < TTL_MIN ? TTL_MIN : ttl > TTL_MAX ? TTL_MAX : ttl;
	e->expires = ev_now(d->loop->ev) + ttl;
	e->next = d->cache;
	d->cache = e;
	d->ncache++;
}

/* Appends the |family| addresses of |res| to |buf|; returns the smallest TTL seen. */
static int format_family(const struct ares_addrinfo *res, int family, char *buf, size_t len,
			 int ttl)
{
	char ip[INET6_ADDRSTRLEN];
	const struct ares_addrinfo_node *n;

	for (n = res->nodes; n; n = n->ai_next) {
		const void *a;
		size_t used = strlen(buf);

		if (n->ai_family != family)
			continue;
		if (family == AF_INET)
			a = &((const struct sockaddr_in *)(const void *)n->ai_addr)->sin_addr;
		else
			a = &((const struct sockaddr_in6 *)(const void *)n->ai_addr)->sin6_addr;
		if (!inet_ntop(family, a, ip, sizeof(ip)) || strstr(buf, ip))
			continue; /* duplicates: one node per socktype/protocol */
		if (used + strlen(ip) + 2 > len)
			break;
		snprintf(buf + used, len - used, "%s%s", used ? "," : "", ip);
		if (n->ai_ttl < ttl)
			ttl = n->ai_ttl;
	}
	return ttl;
}

static void complete(struct dns_lookup *lk, int status, const char *addrs, const char *errmsg)
{
	struct crid_dns_query *q;

	/* One at a time: a callback may cancel a waiter that has not run yet. */
	while ((q = lk->waiters)) {
		lk->waiters = q->next;
		if (q == lk->d->sync_query)
			lk->d->sync_query = NULL;
		q->done(q->user, status, addrs, errmsg);
		crid_free(q);
	}
	crid_free(lk);
}

static void addrinfo_cb(void *arg, int status, int timeouts, struct ares_addrinfo *res)
{
	struct dns_lookup *lk = arg, **pp;
	struct crid_dns *d = lk->d;
	char addrs[ADDRS_MAX] = "", msg[CRID_ERR_MSG_MAX];
	int ttl = TTL_MAX;

	(void)timeouts;
	if (d->destroying) {
		if (res)
			ares_freeaddrinfo(res);
		return; /* crid_dns_free frees the lookup */
	}
	for (pp = &d->lookups; *pp != lk; pp = &(*pp)->next)
		;
	*pp = lk->next;
	if (status == ARES_SUCCESS && res) {
		ttl = format_family(res, AF_INET, addrs, sizeof(addrs), ttl);
		ttl = format_family(res, AF_INET6, addrs, sizeof(addrs), ttl);
	}
	if (res)
		ares_freeaddrinfo(res);
	if (status == ARES_SUCCESS && addrs[0]) {
		cache_put(d, lk->host, addrs, ttl);
		complete(lk, 0, addrs, NULL);
		return;
	}
	snprintf(msg, sizeof(msg), "resolve `%s`: %s", lk->host,
		 status == ARES_SUCCESS ? "no address" : ares_strerror(status));
	complete(lk, status == ARES_SUCCESS ? -1 : -status, NULL, msg);
}

/* Literal addresses and localhost need no lookup; returns 1 when |out| is filled. */
static int immediate(const char *host, char *out, size_t len)
{
	unsigned char buf[sizeof(struct in6_addr)];

	if (inet_pton(AF_INET, host, buf) == 1 || inet_pton(AF_INET6, host, buf) == 1) {
		snprintf(out, len, "%s", host);
		return 1;
	}
	if (!strcasecmp(host, "localhost")) {
		snprintf(out, len, "127.0.0.1,::1");
		return 1;
	}
	return 0;
}

static struct dns_lookup *lookup_find(struct crid_dns *d, const char *host)
{
	struct dns_lookup *lk;

	for (lk = d->lookups; lk; lk = lk->next)
		if (!strcasecmp(lk->host, host))
			return lk;
	return NULL;
}

/*
 * Starts the c-ares query for |q|'s host. c-ares answers from the hosts file
 * inside ares_getaddrinfo(), so |q| is queued first and d->sync_query tells
 * whether it already completed (then the caller gets no handle).
 */
static int lookup_start(struct crid_dns *d, const char *host, struct crid_dns_query *q,
			struct crid_dns_query **query, struct crid_err *err)
{
	struct crid_dns_query *outer = d->sync_query; /* a callback may resolve again */
	struct ares_addrinfo_hints hints;
	size_t hl = strlen(host) + 1;
	struct dns_lookup *lk;

	lk = crid_calloc(1, sizeof(*lk) + hl);
	if (!lk) {
		crid_free(q);
		*query = NULL;
		return crid_err_set(err, ENOMEM, "resolve `%s`", host);
	}
	memcpy(lk->host, host, hl);
	lk->d = d;
	lk->next = d->lookups;
	d->lookups = lk;
	q->lk = lk;
	lk->waiters = q;
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = ARES_AI_NOSORT;
	d->sync_query = q;
	ares_getaddrinfo(d->ch, host, NULL, &hints, addrinfo_cb, lk);
	if (!d->sync_query)
		*query = NULL;
	d->sync_query = outer;
	arm_timer(d);
	return 0;
}

int crid_dns_resolve(struct crid_dns *d, const char *host, crid_dns_done_fn done, void *user,
		     struct crid_dns_query **query, struct crid_err *err)
{
	char addrs[ADDRS_MAX];
	const char *cached;
	struct crid_dns_query *q;
	struct dns_lookup *lk;

	*query = NULL;
	if (!host[0] || strlen(host) > 253)
		return crid_err_set(err, EINVAL, "resolve `%s`: invalid host name", host);
	if (immediate(host, addrs, sizeof(addrs))) {
		done(user, 0, addrs, NULL);
		return 0;
	}
	cached = cache_get(d, host);
	if (cached) {
		done(user, 0, cached, NULL);
		return 0;
	}
	q = crid_calloc(1, sizeof(*q));
	if (!q)
		return crid_err_set(err, ENOMEM, "resolve `%s`", host);
	q->done = done;
	q->user = user;
	*query = q;
	lk = lookup_find(d, host);
	if (!lk)
		return lookup_start(d, host, q, query, err);
	q->lk = lk;
	q->next = lk->waiters;
	lk->waiters = q;
	return 0;
}

void crid_dns_cancel(struct crid_dns_query *q)
{
	struct crid_dns_query **pp;

	if (!q)
		return;
	for (pp = &q->lk->waiters; *pp && *pp != q; pp = &(*pp)->next)
		;
	if (*pp)
		*pp = q->next;
	crid_free(q);
}
