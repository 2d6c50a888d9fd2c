/*
 * The Prometheus endpoint (`--enable-metrics`): a small HTTP/1.1 server on
 * the loop answering `GET /metrics` (and HEAD) with a scrape of
 * reactor/metrics_families.h, in the text format or OpenMetrics as the
 * Accept header asks. One request per connection (`Connection: close`);
 * anything else gets 400, 404, 405 or 431 and the connection ends. At most
 * 32 connections at once, 10 s each: a scraper needs one.
 */
#ifndef CRID_METRICS_HTTP_H
#define CRID_METRICS_HTTP_H

#include "reactor/err.h"
#include "reactor/loop.h"

struct crid_metrics_http;

/*
 * Listens on |address| (an IPv4 or IPv6 literal) port |port| (0: any free
 * one) and serves on |loop|. NULL with |err| naming the address on failure.
 */
struct crid_metrics_http *crid_metrics_http_start(struct crid_loop *loop, const char *address,
						  int port, struct crid_err *err);

/* The port it listens on (the one picked when asked for 0). */
int crid_metrics_http_port(const struct crid_metrics_http *srv);

/* Closes the listener and every connection; NULL is a no-op. */
void crid_metrics_http_stop(struct crid_metrics_http *srv);

#endif
