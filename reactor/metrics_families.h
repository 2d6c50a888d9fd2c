/*
 * Every family crid exports, in one catalog, so each hook is one line
 * (`crid_metric_inc(&crid_m_ops, name, status)`) wherever its event
 * happens and a scrape lists every family, recorded or not. CRI-O's
 * `crio_*` families have `crid_*` twins of the same type and labels where
 * crid has the same thing to count.
 */
#ifndef CRID_METRICS_FAMILIES_H
#define CRID_METRICS_FAMILIES_H

#include "reactor/metrics.h"
#include "reactor/metrics_text.h"

/* CRI calls: {operation (the RPC's method name), status (the gRPC code name)} */
extern struct crid_metric crid_m_ops, crid_m_ops_errors, crid_m_ops_latency;
/* the loop: iterations (the histogram's count), the longest, time per callback class {class} */
extern struct crid_metric crid_m_loop_iter, crid_m_loop_iter_max, crid_m_loop_class;
/* image pulls by {registry} */
extern struct crid_metric crid_m_pull_bytes, crid_m_pull_success, crid_m_pull_failure,
    crid_m_pull_duration, crid_m_layer_reuse;
/* containers {state}, OOM kills, exec sessions */
extern struct crid_metric crid_m_containers, crid_m_oom, crid_m_exec_sessions;
/* CNI ADD/DEL {operation}, OCI runtime calls {operation} */
extern struct crid_metric crid_m_cni_latency, crid_m_oci_latency;
/* names held in the fd store (runtime/state/fd_store.h) */
extern struct crid_metric crid_m_fd_store_entries;

/* Callback classes of the loop whose time crid_metrics_loop_class() adds up. */
enum crid_loop_class {
	CRID_LOOP_SIGNAL,
	CRID_LOOP_CHILD,
	CRID_LOOP_CLASSES,
};

/* Now (ev_time()) while metrics are on, 0 otherwise: the start of a timed span. */
double crid_metrics_clock(void);

/* Counts the time since |t0| (from crid_metrics_clock()) against class |c| of this iteration. */
void crid_metrics_loop_class(enum crid_loop_class c, double t0);

/*
 * One loop iteration ended: |busy| seconds in event callbacks (the classes
 * above included), then |hooks| in the before-sleep hooks.
 */
void crid_metrics_loop_iteration(double busy, double hooks);

/* A CRI call ended with |status| (its gRPC name), started at |started| (ev_time() seconds). */
void crid_metrics_call_end(const char *operation, const char *status, double started, bool failed);

/* Observes the seconds since |t0| (from crid_metrics_clock()) in histogram |m| for |l0|. */
void crid_metrics_since(struct crid_metric *m, double t0, const char *l0);

/* An image pull from |registry| ended, started at |t0| (crid_metrics_clock()). */
void crid_metrics_pull_end(const char *registry, double t0, bool ok);

/* Runs the collectors and encodes the whole catalog (see crid_metrics_encode()). */
int crid_metrics_scrape(enum crid_metrics_format fmt, char **out, size_t *len);

/* Frees every family's series (end of the daemon, so leak checks see nothing). */
void crid_metrics_reset(void);

#endif
