/*
 * Name resolution on the loop with c-ares: no resolver threads (Debian's
 * libcurl would start one per lookup), /etc/hosts first, then DNS, results
 * cached per host for their TTL, concurrent lookups of one host coalesced.
 */
#ifndef CRID_DNS_H
#define CRID_DNS_H

#include <stddef.h>

#include "reactor/err.h"
#include "reactor/loop.h"

struct crid_dns;
struct crid_dns_query;

/*
 * Completion of a lookup. |status| is 0 with |addrs_csv| the addresses as
 * "1.2.3.4,::1" (IPv4 first) and |errmsg| NULL, or negative with |addrs_csv|
 * NULL and |errmsg| like "resolve `foo.example`: Domain name not found".
 * Both strings are valid only during the call.
 */
typedef void (*crid_dns_done_fn)(void *user, int status, const char *addrs_csv, const char *errmsg);

/* Creates a resolver on |loop| (c-ares channel, lookups "fb": hosts file, then DNS). */
int crid_dns_new(struct crid_loop *loop, struct crid_dns **out, struct crid_err *err);

/* Drops every pending lookup without calling its callback and frees the resolver. */
void crid_dns_free(struct crid_dns *d);

/*
 * Resolves |host|. A literal IP, "localhost" or a cached answer completes
 * at once: |done| runs before this returns and *|query| is set to NULL.
 * Otherwise *|query| is a handle for crid_dns_cancel(), valid until |done|
 * runs. Returns -1 (and calls nothing) only when the lookup cannot start.
 */
int crid_dns_resolve(struct crid_dns *d, const char *host, crid_dns_done_fn done, void *user,
		     struct crid_dns_query **query, struct crid_err *err);

/* Cancels a pending lookup: its callback is not called. |query| may be NULL. */
void crid_dns_cancel(struct crid_dns_query *query);

/* Forgets every cached answer (tests; a changed resolv.conf). */
void crid_dns_flush(struct crid_dns *d);

/* Number of cached hosts (tests). */
size_t crid_dns_cached(const struct crid_dns *d);

#endif
