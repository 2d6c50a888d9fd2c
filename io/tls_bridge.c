/*
 * The TLS bridge (tls_bridge.h): an SSL on the client's socket, a socket
 * pair end on the other side, bytes copied both ways. Every event runs one
 * pump that makes what progress it can in each direction, so a record
 * OpenSSL holds back (or a write that needs a read, or the reverse) is never
 * left waiting on an fd event that will not come. Nothing re-enters the
 * bridge from outside its callbacks but abort(), so a callback frees at its
 * end when the bridge is done.
 */
#include "io/tls_bridge.h"

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "reactor/dlist.h"
#include "reactor/log.h"
#include "reactor/mem.h"

#define CHUNK 16384 /* one TLS record's payload at most */
#define ROUNDS 64   /* reads per direction per event; the loop serves others between */
/*
 * After our close_notify, how long the client may keep its socket open.
 * Short: the inner connection closed only after its own protocol's close
 * (SPDY waited for the client's EOF, WebSocket for its close frame), so the
 * client has everything; waiting longer would only hold the socket of a
 * client that never closes (python3-websocket keeps it open).
 */
#define LINGER 5.0

struct crid_tls {
	SSL_CTX *ctx;
	const char *what; /* the server's name in messages */
};

struct crid_tls_bridge {
	struct crid_tls_bridge *prev, *next; /* in the server's list */
	struct crid_tls_bridges *list;
	const char *what;
	struct crid_loop *loop;
	SSL *ssl;
	int fd, pfd; /* the client's socket; our end of the pair (-1 before the handshake) */
	ev_io io, pio;
	ev_timer timer; /* the handshake, then the linger after our close_notify */
	crid_tls_serve_fn *serve;
	void *user;
	uint8_t *to_inner, *to_tls; /* what the other side did not take yet */
	size_t to_inner_len, to_tls_len;
	int rd_want, wr_want, sd_want; /* the fd event a blocked SSL_read/write/shutdown awaits */
	bool open;		       /* handshake done, inner end served */
	bool client_eof; /* nothing more goes to the inner end (its write side is shut) */
	bool inner_eof;	 /* nothing more comes from the inner end */
	bool shut_done;	 /* close_notify sent, TCP write side shut */
	bool dead;
};

static uint8_t chunk[CHUNK]; /* the loop has one thread: one buffer serves all */

static void bridge_free(struct crid_tls_bridge *b)
{
	struct ev_loop *ev = b->loop->ev;

	ev_io_stop(ev, &b->io);
	ev_io_stop(ev, &b->pio);
	ev_timer_stop(ev, &b->timer);
	if (!b->open)
		b->list->handshaking--;
	SSL_free(b->ssl);
	close(b->fd);
	if (b->pfd >= 0)
		close(b->pfd);
	CRID_DLIST_UNLINK(b->list->head, b);
	b->list->n--;
	crid_free(b->to_inner);
	crid_free(b->to_tls);
	crid_free(b);
}

/* Why OpenSSL failed, and its error queue emptied so the next call starts clean. */
static const char *ssl_why(void)
{
	unsigned long e = ERR_get_error();
	const char *r = e ? ERR_reason_error_string(e) : NULL;

	ERR_clear_error();
	return r ? r : "connection closed";
}

static void set_io(struct crid_tls_bridge *b, ev_io *w, int fd, int events)
{
	if ((w->events & (EV_READ | EV_WRITE)) == events && ev_is_active(w))
		return;
	ev_io_stop(b->loop->ev, w);
	ev_io_set(w, fd, events);
	if (events)
		ev_io_start(b->loop->ev, w);
}

/* Keeps |data|[0..len) for later in |*buf| (|data| may be its tail). False: no memory. */
static bool keep(uint8_t **buf, size_t *buf_len, const uint8_t *data, size_t len)
{
	uint8_t *p;

	if (*buf && data >= *buf && data < *buf + *buf_len) {
		memmove(*buf, data, len);
		*buf_len = len;
		return true;
	}
	p = crid_realloc(*buf, len);
	if (!p)
		return false;
	memcpy(p, data, len);
	*buf = p;
	*buf_len = len;
	return true;
}

static void release(uint8_t **buf, size_t *buf_len)
{
	crid_free(*buf);
	*buf = NULL;
	*buf_len = 0;
}

/* The inner end took nothing more: the client's bytes have nowhere to go. */
static void inner_gone(struct crid_tls_bridge *b)
{
	b->client_eof = true;
	release(&b->to_inner, &b->to_inner_len);
}

/* Writes |data| to the inner end; what it does not take waits in to_inner. */
static void to_inner(struct crid_tls_bridge *b, const uint8_t *data, size_t len)
{
	ssize_t n = send(b->pfd, data, len, MSG_NOSIGNAL | MSG_DONTWAIT);

	if (n < 0 && errno != EAGAIN && errno != EINTR) {
		inner_gone(b);
		return;
	}
	if (n < 0)
		n = 0;
	if ((size_t)n == len) {
		if (data == b->to_inner)
			release(&b->to_inner, &b->to_inner_len);
		return;
	}
	if (!keep(&b->to_inner, &b->to_inner_len, data + n, len - n)) {
		crid_log_warn("%s: tls: out of memory, closing", b->what);
		b->dead = true;
	}
}

/* The client's records, decrypted, to the inner end, until it or OpenSSL has no more. */
static void client_to_inner(struct crid_tls_bridge *b)
{
	for (int i = 0; i < ROUNDS; i++) {
		int n, e;

		if (b->dead || b->client_eof || b->to_inner_len)
			return;
		ERR_clear_error();
		n = SSL_read(b->ssl, chunk, sizeof(chunk));
		if (n > 0) {
			b->rd_want = EV_READ;
			to_inner(b, chunk, (size_t)n);
			continue;
		}
		e = SSL_get_error(b->ssl, n);
		if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
			b->rd_want = e == SSL_ERROR_WANT_READ ? EV_READ : EV_WRITE;
			return;
		}
		if (e == SSL_ERROR_ZERO_RETURN) { /* close_notify: the client is done sending */
			b->client_eof = true;
			shutdown(b->pfd, SHUT_WR);
			return;
		}
		/* reset, EOF without close_notify, bad record: the SSL is unusable both ways */
		crid_log_debug("%s: tls: %s, closing", b->what, ssl_why());
		b->dead = true;
		return;
	}
	ev_feed_event(b->loop->ev, &b->io, EV_READ); /* more may wait inside OpenSSL */
}

/* SSL_write of |data| (to_tls or the chunk); what it does not take waits in to_tls. */
static void to_tls(struct crid_tls_bridge *b, const uint8_t *data, size_t len)
{
	int n, e;

	ERR_clear_error();
	/* a retry after WANT_* repeats the same bytes, maybe moved: ACCEPT_MOVING_WRITE_BUFFER */
	n = SSL_write(b->ssl, data, (int)len);
	if (n > 0) {
		b->wr_want = EV_WRITE;
		if ((size_t)n == len && data == b->to_tls)
			release(&b->to_tls, &b->to_tls_len);
		if ((size_t)n == len)
			return;
	} else {
		e = SSL_get_error(b->ssl, n);
		if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE) {
			crid_log_debug("%s: tls: %s, closing", b->what, ssl_why());
			b->dead = true;
			return;
		}
		b->wr_want = e == SSL_ERROR_WANT_READ ? EV_READ : EV_WRITE;
		n = 0;
	}
	if (!keep(&b->to_tls, &b->to_tls_len, data + n, len - n)) {
		crid_log_warn("%s: tls: out of memory, closing", b->what);
		b->dead = true;
	}
}

/* close_notify and FIN once the inner end is done and all its bytes are out. */
static void tls_shutdown(struct crid_tls_bridge *b)
{
	int r, e;

	ERR_clear_error();
	r = SSL_shutdown(b->ssl);
	if (r < 0) {
		e = SSL_get_error(b->ssl, r);
		if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
			b->sd_want = e == SSL_ERROR_WANT_READ ? EV_READ : EV_WRITE;
			return;
		}
		ERR_clear_error();
		b->dead = true;
		return;
	}
	b->shut_done = true;
	shutdown(b->fd, SHUT_WR);
	if (!b->client_eof) {
		ev_timer_set(&b->timer, LINGER, 0.);
		ev_timer_start(b->loop->ev, &b->timer);
	}
}

/* The inner end's bytes, encrypted, to the client, until either has no more. */
static void inner_to_client(struct crid_tls_bridge *b)
{
	for (int i = 0; i < ROUNDS; i++) {
		ssize_t n;

		if (b->dead || b->inner_eof)
			return;
		if (b->to_tls_len) {
			to_tls(b, b->to_tls, b->to_tls_len);
			if (b->to_tls_len)
				return;
			continue;
		}
		n = recv(b->pfd, chunk, sizeof(chunk), MSG_DONTWAIT);
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			return;
		if (n <= 0) {
			b->inner_eof = true;
			return;
		}
		to_tls(b, chunk, (size_t)n);
	}
	ev_feed_event(b->loop->ev, &b->pio, EV_READ);
}

/* What each side waits for. */
static void update(struct crid_tls_bridge *b)
{
	int ev = 0, pev = 0;

	if (!b->client_eof && !b->to_inner_len)
		ev |= b->rd_want;
	if (b->to_tls_len)
		ev |= b->wr_want;
	if (b->inner_eof && !b->to_tls_len && !b->shut_done)
		ev |= b->sd_want;
	if (b->to_inner_len)
		pev |= EV_WRITE;
	if (!b->inner_eof && !b->to_tls_len)
		pev |= EV_READ;
	set_io(b, &b->io, b->fd, ev);
	set_io(b, &b->pio, b->pfd, pev);
}

static void pump(struct crid_tls_bridge *b)
{
	if (b->to_inner_len && !b->client_eof)
		to_inner(b, b->to_inner, b->to_inner_len);
	client_to_inner(b);
	inner_to_client(b);
	if (!b->dead && b->inner_eof && !b->to_tls_len && !b->shut_done)
		tls_shutdown(b);
	if (b->client_eof && b->shut_done)
		b->dead = true;
	if (!b->dead)
		update(b);
}

/* Handshake done: a socket pair, its far end to the server, as if just accepted. */
static void opened(struct crid_tls_bridge *b)
{
	int sv[2];

	ev_timer_stop(b->loop->ev, &b->timer);
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) < 0) {
		crid_log_warn("%s: tls: socketpair: %s", b->what, strerror(errno));
		b->dead = true;
		return;
	}
	b->pfd = sv[0];
	b->open = true;
	b->list->handshaking--;
	ev_io_init(&b->pio, b->io.cb, b->pfd, 0);
	b->pio.data = b;
	b->serve(b->user, sv[1]);
	pump(b);
}

static void handshake(struct crid_tls_bridge *b)
{
	int r, e;

	ERR_clear_error();
	r = SSL_accept(b->ssl);
	if (r == 1) {
		opened(b);
		return;
	}
	e = SSL_get_error(b->ssl, r);
	if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
		set_io(b, &b->io, b->fd, e == SSL_ERROR_WANT_READ ? EV_READ : EV_WRITE);
		return;
	}
	crid_log_debug("%s: tls handshake failed: %s", b->what, ssl_why());
	b->dead = true;
}

static void on_io(struct ev_loop *ev, ev_io *w, int revents)
{
	struct crid_tls_bridge *b = w->data;

	(void)ev;
	(void)revents;
	if (b->open)
		pump(b);
	else
		handshake(b);
	if (b->dead)
		bridge_free(b);
}

static void on_timeout(struct ev_loop *ev, ev_timer *w, int revents)
{
	struct crid_tls_bridge *b = w->data;

	(void)ev;
	(void)revents;
	if (!b->open)
		crid_log_debug("%s: a client did not finish its tls handshake in time, closing",
			       b->what);
	bridge_free(b);
}

void crid_tls_bridges_abort(struct crid_tls_bridges *list)
{
	while (list->head)
		bridge_free(list->head);
}

int crid_tls_bridge_new(struct crid_loop *loop, struct crid_tls *tls, int fd,
			struct crid_tls_bridges *list, double handshake_limit,
			crid_tls_serve_fn *serve, void *user, struct crid_err *err)
{
	struct crid_tls_bridge *b = crid_calloc(1, sizeof(*b));

	if (!b) {
		close(fd);
		return crid_err_set(err, ENOMEM, "tls connection");
	}
	b->ssl = SSL_new(tls->ctx);
	if (!b->ssl || !SSL_set_fd(b->ssl, fd)) {
		crid_err_set(err, ENOMEM, "tls connection: %s", ssl_why());
		SSL_free(b->ssl);
		crid_free(b);
		close(fd);
		return -1;
	}
	b->what = tls->what;
	b->loop = loop;
	b->fd = fd;
	b->pfd = -1;
	b->serve = serve;
	b->user = user;
	b->rd_want = EV_READ;
	b->wr_want = b->sd_want = EV_WRITE;
	ev_io_init(&b->io, on_io, fd, 0);
	b->io.data = b;
	ev_timer_init(&b->timer, on_timeout, handshake_limit, 0.);
	b->timer.data = b;
	b->list = list;
	CRID_DLIST_PUSH(list->head, b);
	list->n++;
	list->handshaking++;
	ev_timer_start(loop->ev, &b->timer);
	set_io(b, &b->io, fd, EV_READ); /* the ClientHello */
	return 0;
}

/* ---- the server's certificate ---- */

struct crid_tls *crid_tls_new(const char *what, const char *cert, const char *key,
			      struct crid_err *err)
{
	struct crid_tls *tls;
	const long modes = SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
			   SSL_MODE_RELEASE_BUFFERS;

	/* OpenSSL's own message for a missing file is "system lib": name the file and errno */
	if (access(cert, R_OK) < 0) {
		crid_err_set(err, errno, "%s tls certificate `%s`", what, cert);
		return NULL;
	}
	if (access(key, R_OK) < 0) {
		crid_err_set(err, errno, "%s tls key `%s`", what, key);
		return NULL;
	}
	tls = crid_calloc(1, sizeof(*tls));
	if (!tls || !(tls->ctx = SSL_CTX_new(TLS_server_method()))) {
		crid_err_set(err, ENOMEM, "%s tls context", what);
		goto fail;
	}
	tls->what = what;
	SSL_CTX_set_min_proto_version(tls->ctx, TLS1_2_VERSION);
	SSL_CTX_set_options(tls->ctx, SSL_OP_NO_RENEGOTIATION);
	SSL_CTX_set_mode(tls->ctx, modes);
	/*
	 * No resumption: every exec, attach, port-forward or scrape is a new
	 * connection that a client seldom resumes, so a server cache (TLS 1.2 sessions)
	 * would only hold memory after the connections are gone, and TLS 1.3
	 * tickets would only cost a write.
	 */
	SSL_CTX_set_session_cache_mode(tls->ctx, SSL_SESS_CACHE_OFF);
	SSL_CTX_set_num_tickets(tls->ctx, 0);
	ERR_clear_error();
	if (SSL_CTX_use_certificate_chain_file(tls->ctx, cert) != 1) {
		crid_err_set(err, 0, "%s tls certificate `%s`: %s", what, cert, ssl_why());
		goto fail;
	}
	if (SSL_CTX_use_PrivateKey_file(tls->ctx, key, SSL_FILETYPE_PEM) != 1) {
		crid_err_set(err, 0, "%s tls key `%s`: %s", what, key, ssl_why());
		goto fail;
	}
	if (SSL_CTX_check_private_key(tls->ctx) != 1) {
		crid_err_set(err, 0, "%s tls key `%s` does not match certificate `%s`", what, key,
			     cert);
		ERR_clear_error();
		goto fail;
	}
	return tls;

fail:
	crid_tls_free(tls);
	return NULL;
}

void crid_tls_free(struct crid_tls *tls)
{
	if (!tls)
		return;
	SSL_CTX_free(tls->ctx);
	crid_free(tls);
}
