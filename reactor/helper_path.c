/* Finding crid-pinns and crid-keeper (see helper_path.h). */
#include "reactor/helper_path.h"

#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "reactor/mem.h"

/* Process-wide like argv[0]: where this installation keeps its programs. */
static char *helper_dir;

int crid_helper_dir_set(const char *dir, struct crid_err *err)
{
	char *copy = NULL;

	if (dir && dir[0]) {
		if (dir[0] != '/')
			return crid_err_invalid(err, "helper_dir `%s` is not an absolute path",
						dir);
		copy = crid_strdup(dir);
		if (!copy)
			return crid_err_set(err, ENOMEM, "helper_dir");
	}
	crid_free(helper_dir);
	helper_dir = copy;
	return 0;
}

static int put(char *out, size_t size, const char *dir, const char *sub, const char *name)
{
	return snprintf(out, size, "%s%s/%s", dir, sub, name) >= (int)size ? -1 : 0;
}

int crid_helper_path(const char *name, const char *env, char *out, size_t size,
		     struct crid_err *err)
{
	const char *v = env ? getenv(env) : NULL;
	char self[PATH_MAX], *dir;
	ssize_t n;

	if (v && v[0]) {
		if (v[0] != '/' || snprintf(out, size, "%s", v) >= (int)size)
			return crid_err_invalid(err, "$%s `%s` is not an absolute path", env, v);
		return 0;
	}
	if (helper_dir)
		return put(out, size, helper_dir, "", name) < 0
			   ? crid_err_set(err, ENAMETOOLONG, "%s in `%s`", name, helper_dir)
			   : 0;
	n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n < 0)
		return crid_err_set(err, errno, "readlink `/proc/self/exe`");
	self[n] = '\0';
	dir = dirname(self);
	if (put(out, size, dir, "", name) == 0 && access(out, X_OK) == 0)
		return 0;
	if (put(out, size, dir, "/../libexec/crid", name) == 0 && access(out, X_OK) == 0)
		return 0;
	return crid_err_set(
	    err, ENOENT, "%s not found next to `%s` nor in `%s/../libexec/crid` (set helper_dir)",
	    name, dir, dir);
}
