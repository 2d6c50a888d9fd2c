/*
 * The Prometheus endpoint (`--enable-metrics`): a small HTTP/1.1 server on
 * the loop answering `GET /metrics` (and HEAD) with a scrape of
 * reactor/metrics_families.h, in the text format or OpenMetrics as the
 * Accept header asks. One request per connection (`Connection: close`);
 * anything else gets 400, 404, 405 or 431 and the connection ends. At most
 * 32 connections at once, 10 s each: a scraper needs one. With a
 * certificate (`--metrics-cert`, `--metrics-key`, as CRI-O's `metrics_cert`
 * and `metrics_key`) it speaks only HTTPS (TLS 1.2 and later) through
 * io/tls_bridge.h: a plain HTTP request fails the handshake.
 */
#ifndef CRID_METRICS_HTTP_H
#define CRID_METRICS_HTTP_H

#include <stdbool.h>

#include "reactor/err.h"
#include "reactor/loop.h"

struct crid_metrics_http;

/* Where and how the endpoint listens. */
struct crid_metrics_http_opts {
	const char *address; /* an IPv4 or IPv6 literal */
	int port;	     /* 0: any free one */
	const char *cert; /* PEM certificate (chain) and key: both set, HTTPS; NULL or "": HTTP */
	const char *key;
};

/*
 * Listens as |o| says and serves on |loop|. NULL with |err| naming the
 * address, or the certificate or key that could not be used, on failure.
 */
struct crid_metrics_http *crid_metrics_http_start(struct crid_loop *loop,
						  const struct crid_metrics_http_opts *o,
						  struct crid_err *err);

/* Whether it speaks HTTPS. */
bool crid_metrics_http_tls(const struct crid_metrics_http *srv);

/* The port it listens on (the one picked when asked for 0). */
int crid_metrics_http_port(const struct crid_metrics_http *srv);

/* Closes the listener and every connection; NULL is a no-op. */
void crid_metrics_http_stop(struct crid_metrics_http *srv);

#endif
