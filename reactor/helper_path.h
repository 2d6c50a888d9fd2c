/*
 * Where crid's helper programs (crid-pinns, crid-keeper) are: one rule for
 * every caller, so a build tree, `make install` and the Debian package all
 * work without a setting.
 */
#ifndef CRID_REACTOR_HELPER_PATH_H
#define CRID_REACTOR_HELPER_PATH_H

#include <stddef.h>

#include "reactor/err.h"

/*
 * Sets the directory the helpers are looked up in first (the config's
 * `helper_dir`); NULL or "" = none. The string is copied; called by main
 * before anything spawns a helper.
 */
int crid_helper_dir_set(const char *dir, struct crid_err *err);

/*
 * Writes to |out| the path of helper |name|: $|env| when set (an absolute
 * path, for tests), else <helper_dir>/|name| when a helper dir is set, else
 * |name| next to the running executable when it is there (a build tree),
 * else <executable's dir>/../libexec/crid/|name| (`make install`,
 * the package). Fails naming the places looked at when none is executable.
 */
int crid_helper_path(const char *name, const char *env, char *out, size_t size,
		     struct crid_err *err);

#endif
