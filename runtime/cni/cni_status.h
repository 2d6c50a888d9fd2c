/*
 * Is the pod network ready? The NetworkReady condition of the CRI Status RPC,
 * decided the way libcni/ocicni (CRI-O) and go-cni (containerd) decide it: the
 * lexically first valid CNI config in the config dir wins, and it is valid only
 * when every plugin it names is an executable in one of the plugin dirs.
 */
#ifndef CRID_CNI_STATUS_H
#define CRID_CNI_STATUS_H

#include <limits.h>
#include <stdbool.h>

#include "runtime/cni/cni_conf.h"
#include "runtime/config/config.h"

struct crid_cni_status {
	bool ready;
	char reason[64];   /* "" when ready, else "NetworkPluginNotReady" */
	char message[512]; /* "" when ready, else "Network plugin returns error: ..." */
	/* The chosen config; all "" when not ready. */
	char network[128];	    /* its "name" */
	char config_file[PATH_MAX]; /* full path */
	char cni_version[32];	    /* its "cniVersion" */
	char plugins[256];	    /* plugin types in chain order, comma-separated */
};

/* Caches the status of one config dir; see crid_cni_watch_status(). */
struct crid_cni_watch;

/*
 * Watches |conf_dir| with plugins searched in |plugin_dirs| (both copied; the
 * dirs need not exist yet). Nothing is read until the first status call.
 * Returns NULL only when out of memory.
 */
struct crid_cni_watch *crid_cni_watch_new(const char *conf_dir,
					  const struct crid_strv *plugin_dirs);

/*
 * The current status. Re-scans only when something it depends on changed: the
 * config dir, a config file it read, a plugin dir or a chosen plugin binary
 * (dev, inode, size, mtime, ctime, mode, by stat(2)); otherwise it costs a few
 * stat calls and reads nothing. A timestamp within 2 s of the previous scan is
 * not trusted (a write in the same clock tick would leave it unchanged), so the
 * next call re-scans once more. The result stays valid until the next call on
 * |w| or crid_cni_watch_free(). Never fails: problems are reported in the status.
 */
const struct crid_cni_status *crid_cni_watch_status(struct crid_cni_watch *w);

/* Forces the next crid_cni_watch_status() to re-scan (e.g. after a CNI ADD failed). */
void crid_cni_watch_invalidate(struct crid_cni_watch *w);

/* How many times |w| has scanned the config dir (for tests and metrics). */
unsigned long crid_cni_watch_scans(const struct crid_cni_watch *w);

void crid_cni_watch_free(struct crid_cni_watch *w);

#endif
