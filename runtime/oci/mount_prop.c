/*
 * Mount propagation of a path's mount, read from mountinfo. A line is
 * (proc(5)): "id parent major:minor root mount_point options [optional...] -
 * fstype source super_options"; the optional fields before the lone "-" say
 * "shared:N" for a member of peer group N and "master:N" for a slave of it.
 */
#include "runtime/oci/mount_prop.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* Fills |out| from the fields after the mount id (field 0); false when malformed. */
static bool parse_fields(char *s, struct crid_mount_prop *out)
{
	char *save = NULL;
	int field = 1;

	memset(out, 0, sizeof(*out));
	for (char *tok = strtok_r(s, " \n", &save); tok; tok = strtok_r(NULL, " \n", &save)) {
		if (field == 4)
			snprintf(out->mount_point, sizeof(out->mount_point), "%s", tok);
		else if (field >= 6 && strcmp(tok, "-") == 0)
			return true;
		else if (field >= 6 && strncmp(tok, "shared:", 7) == 0)
			out->shared = true;
		else if (field >= 6 && strncmp(tok, "master:", 7) == 0)
			out->slave = true;
		field++;
	}
	return false;
}

int crid_mount_prop_find(const char *mountinfo, unsigned long long mnt_id,
			 struct crid_mount_prop *out, struct crid_err *err)
{
	FILE *f = fopen(mountinfo, "re");
	char *line = NULL, *rest;
	size_t cap = 0;
	int r = -1;

	if (!f)
		return crid_err_set(err, errno, "open `%s`", mountinfo);
	while (getline(&line, &cap, f) > 0) {
		if (strtoull(line, &rest, 10) != mnt_id || *rest != ' ')
			continue;
		if (!parse_fields(rest + 1, out)) {
			crid_err_cause(err, EBADMSG, "`%s`: malformed line for mount %llu",
				       mountinfo, mnt_id);
			goto out;
		}
		r = 0;
		goto out;
	}
	crid_err_cause(err, ENOENT, "`%s`: no mount %llu", mountinfo, mnt_id);
out:
	free(line); /* getline's buffer comes from libc's malloc */
	fclose(f);
	return r;
}

int crid_mount_prop_of(const char *path, struct crid_mount_prop *out, struct crid_err *err)
{
	struct statx sx;

	if (statx(AT_FDCWD, path, 0, STATX_MNT_ID, &sx) < 0)
		return crid_err_set(err, errno, "statx `%s`", path);
	if (!(sx.stx_mask & STATX_MNT_ID))
		return crid_err_cause(err, ENOTSUP, "`%s`: the kernel reports no mount id", path);
	return crid_mount_prop_find("/proc/self/mountinfo", sx.stx_mnt_id, out, err);
}
