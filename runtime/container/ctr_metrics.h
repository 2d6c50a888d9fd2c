/*
 * The containers-by-state and fd store entries gauges of the metrics
 * endpoint: a collector that counts the in-memory records at each scrape (a
 * pass over an array of pointers: ~µs at 500 containers, no file read) and
 * reads the fd store client's count.
 */
#ifndef CRID_CTR_METRICS_H
#define CRID_CTR_METRICS_H

#include "runtime/container/ctr.h"

/* Registers the collector for |ctrs| (which must outlive it); -1 when the collectors are full. */
int crid_ctr_metrics_register(struct crid_ctrs *ctrs);
void crid_ctr_metrics_unregister(struct crid_ctrs *ctrs);

#endif
