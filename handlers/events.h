/*
 * Container events for GetContainerEvents subscribers (handlers/events.c);
 * the subscribers hang off struct crid_daemon.
 */
#ifndef CRID_HANDLERS_EVENTS_H
#define CRID_HANDLERS_EVENTS_H

#include "handlers/handlers.h"

/* Makes d->ctrs report its state changes to the event subscribers. */
void crid_events_init(struct crid_daemon *d);

#endif
