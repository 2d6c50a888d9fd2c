/*
 * The Prometheus exposition of reactor/metrics.h families: the text format
 * 0.0.4 and OpenMetrics 1.0 (chosen from the scraper's Accept header, as
 * client_golang's promhttp does). Pure: families in, bytes out.
 */
#ifndef CRID_METRICS_TEXT_H
#define CRID_METRICS_TEXT_H

#include <stddef.h>

#include "reactor/metrics.h"

enum crid_metrics_format {
	CRID_METRICS_TEXT,	  /* text/plain; version=0.0.4 */
	CRID_METRICS_OPENMETRICS, /* application/openmetrics-text; version=1.0.0 */
};

/* The Content-Type header value for |fmt|. */
const char *crid_metrics_content_type(enum crid_metrics_format fmt);

/*
 * OpenMetrics when the Accept header value |accept| (|len| bytes, may be
 * NULL) lists application/openmetrics-text with no q=0, the text format
 * otherwise.
 */
enum crid_metrics_format crid_metrics_negotiate(const char *accept, size_t len);

/*
 * Encodes the families |fams| (|n| of them, in that order) into a new
 * buffer: *|out| (free with crid_free) of *|len| bytes. Families without a
 * series are written with their HELP and TYPE only; label values and help
 * texts are escaped. Returns 0, or -1 when out of memory.
 */
int crid_metrics_encode(struct crid_metric *const *fams, size_t n, enum crid_metrics_format fmt,
			char **out, size_t *len);

#endif
