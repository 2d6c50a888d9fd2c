/*
 * Containers by state, and the fd store's entries (their fds), for the
 * metrics endpoint (runtime/container/ctr_metrics.h).
 */
#include "runtime/container/ctr_metrics.h"

#include "reactor/metrics_families.h"
#include "runtime/state/fd_store.h"

/* Indexed by enum crid_ctr_state; the CRI's names, lower-case, as CRI-O's labels are. */
static const char *const state_names[] = { "created", "running", "exited", "unknown", "creating" };

static void collect(void *user)
{
	struct crid_ctrs *ctrs = user;
	double counts[5] = { 0 };
	size_t n = 0;
	struct crid_container *const *all = crid_container_list(ctrs->store, &n);

	for (size_t i = 0; i < n; i++)
		if ((unsigned)all[i]->state < 5)
			counts[all[i]->state]++;
	for (size_t s = 0; s < 5; s++)
		crid_metric_set(&crid_m_containers, counts[s], state_names[s], NULL);
	if (ctrs->fds)
		crid_metric_set(&crid_m_fd_store_entries, (double)crid_fd_store_entries(ctrs->fds),
				NULL, NULL);
}

int crid_ctr_metrics_register(struct crid_ctrs *ctrs)
{
	return crid_metrics_add_collector(collect, ctrs);
}

void crid_ctr_metrics_unregister(struct crid_ctrs *ctrs)
{
	crid_metrics_remove_collector(collect, ctrs);
}
