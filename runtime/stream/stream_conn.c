/*
 * The server's list of open streaming connections (runtime/stream/stream_conn.h):
 * every connection links itself when made and unlinks itself when freed, so
 * the server can count the sessions and end them all when the daemon stops.
 */
#include "runtime/stream/stream_conn.h"

#include "reactor/dlist.h"

void crid_stream_conns_link(struct crid_stream_conns *l, struct crid_stream_conn *c)
{
	c->list = l;
	CRID_DLIST_PUSH(l->head, c);
	l->n++;
}

void crid_stream_conns_unlink(struct crid_stream_conn *c)
{
	struct crid_stream_conns *l = c->list;

	if (!l)
		return;
	CRID_DLIST_UNLINK(l->head, c);
	c->list = NULL;
	l->n--;
}
