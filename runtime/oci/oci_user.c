/*
 * User resolution for the OCI spec. The rules follow containerd's WithUser /
 * WithAdditionalGIDs and CRI-O: run_as_user (numeric) wins, then
 * run_as_username, then the image's User, else root (uid 0, looked up in the
 * image's /etc/passwd like any uid); the gid is run_as_group, else the
 * group named in the image's User, else the user's passwd entry, else 0.
 * With the Merge policy the groups listing the user in the image's
 * /etc/group are added, then supplemental_groups; Strict keeps only the latter.
 */
#include "runtime/oci/oci_user.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "reactor/mem.h"
#include "runtime/oci/oci_json.h"

/* /etc/passwd and /etc/group of real images are a few KiB. */
#define IDFILE_MAX (4u * 1024 * 1024)
#define ID_MAX 4294967294ULL /* (uid_t)-1 means "no change" to the kernel */

struct idfiles {
	const char *rootfs;
	char *passwd, *group; /* NULL until read; "" when the image has none */
};

struct pwent {
	char name[256];
	uint32_t uid, gid;
};

static int load(struct idfiles *f, bool group, struct crid_err *err)
{
	char **dst = group ? &f->group : &f->passwd;
	const char *path = group ? "/etc/group" : "/etc/passwd";
	struct crid_err e;

	if (*dst)
		return 0;
	if (crid_oci_read_file(f->rootfs, path, IDFILE_MAX, dst, NULL, &e) == 0)
		return 0;
	if (e.code != ENOENT) {
		/* There but unusable (a link loop or out of the root, not a file, too big): the
		 * image is at fault, not the request, and retrying will not help. */
		return crid_err_cause(err, EBUSY, "the image's %s cannot be read (%s)", path,
				      e.msg);
	}
	/* An image without the file has no names: numeric ids still work. */
	*dst = crid_strdup("");
	return *dst ? 0 : crid_err_set(err, ENOMEM, "image user database");
}

/* Parses a decimal id; false for anything else. */
static bool parse_id(const char *s, size_t len, uint32_t *out)
{
	unsigned long long v = 0;

	if (len == 0 || len > 10)
		return false;
	for (size_t i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		v = v * 10 + (unsigned)(s[i] - '0');
	}
	if (v > ID_MAX)
		return false;
	*out = (uint32_t)v;
	return true;
}

/* Splits the line at |p| into at most |max| ':' fields; returns the next line. */
static const char *split_line(const char *p, const char **fld, size_t *flen, size_t max, size_t *n)
{
	const char *end = strchr(p, '\n');

	if (!end)
		end = p + strlen(p);
	*n = 0;
	while (*n < max) {
		const char *c = memchr(p, ':', (size_t)(end - p));

		fld[*n] = p;
		flen[*n] = (size_t)((c ? c : end) - p);
		(*n)++;
		if (!c)
			break;
		p = c + 1;
	}
	return *end ? end + 1 : end;
}

/* Finds a passwd entry by |name| (non-NULL) or by |uid|. */
static bool pw_find(const char *db, const char *name, uint32_t uid, struct pwent *out)
{
	const char *fld[7];
	size_t flen[7], n;
	uint32_t u, g;

	for (const char *p = db; *p;) {
		p = split_line(p, fld, flen, 7, &n);
		if (n < 4 || flen[0] == 0 || flen[0] >= sizeof(out->name) || fld[0][0] == '#')
			continue;
		if (!parse_id(fld[2], flen[2], &u) || !parse_id(fld[3], flen[3], &g))
			continue;
		if (name ? (strlen(name) == flen[0] && memcmp(name, fld[0], flen[0]) == 0)
			 : u == uid) {
			out->uid = u;
			out->gid = g;
			memcpy(out->name, fld[0], flen[0]);
			out->name[flen[0]] = '\0';
			return true;
		}
	}
	return false;
}

static bool gr_find(const char *db, const char *name, uint32_t *gid)
{
	const char *fld[4];
	size_t flen[4], n;

	for (const char *p = db; *p;) {
		p = split_line(p, fld, flen, 4, &n);
		if (n >= 3 && strlen(name) == flen[0] && memcmp(name, fld[0], flen[0]) == 0 &&
		    parse_id(fld[2], flen[2], gid))
			return true;
	}
	return false;
}

static int add_gid(struct crid_ctr_user *u, uint32_t gid, struct crid_err *err)
{
	size_t max = sizeof(u->additional_gids) / sizeof(u->additional_gids[0]);

	for (size_t i = 0; i < u->n_additional_gids; i++)
		if (u->additional_gids[i] == gid)
			return 0;
	if (u->n_additional_gids == max)
		return crid_err_invalid(err, "the container's user is in more than %zu groups",
					max);
	u->additional_gids[u->n_additional_gids++] = gid;
	return 0;
}

/* Adds every group of the image's /etc/group whose member list names |user|. */
static int add_member_groups(struct idfiles *f, const char *user, struct crid_ctr_user *u,
			     struct crid_err *err)
{
	const char *fld[4];
	size_t flen[4], n, ulen = strlen(user);
	uint32_t gid;

	if (!*user)
		return 0;
	if (load(f, true, err) < 0)
		return -1;
	for (const char *p = f->group; *p;) {
		p = split_line(p, fld, flen, 4, &n);
		if (n < 4 || !parse_id(fld[2], flen[2], &gid))
			continue;
		for (const char *m = fld[3], *end = fld[3] + flen[3]; m < end;) {
			const char *c = memchr(m, ',', (size_t)(end - m));
			size_t mlen = (size_t)((c ? c : end) - m);

			if (mlen == ulen && memcmp(m, user, ulen) == 0 && add_gid(u, gid, err) < 0)
				return -1;
			m = c ? c + 1 : end;
		}
	}
	return 0;
}

/* The image's User: "uid", "uid:gid", "name", "name:group", each part numeric or a name. */
static int image_user(struct idfiles *f, const char *spec, struct pwent *pw, bool *have_pw,
		      bool *have_gid, struct crid_err *err)
{
	const char *colon = strchr(spec, ':');
	size_t ulen = colon ? (size_t)(colon - spec) : strlen(spec);
	char name[256];

	if (ulen == 0 || ulen >= sizeof(name))
		return crid_err_invalid(err, "image config User `%s`: no user", spec);
	memcpy(name, spec, ulen);
	name[ulen] = '\0';
	if (load(f, false, err) < 0)
		return -1;
	if (parse_id(name, ulen, &pw->uid)) {
		*have_pw = pw_find(f->passwd, NULL, pw->uid, pw);
		if (!*have_pw)
			pw->gid = 0;
	} else if (!(*have_pw = pw_find(f->passwd, name, 0, pw))) {
		return crid_err_cause(
		    err, EBUSY, "image config User `%s`: no user `%s` in the image's /etc/passwd",
		    spec, name);
	}
	*have_gid = colon != NULL;
	if (!colon)
		return 0;
	if (parse_id(colon + 1, strlen(colon + 1), &pw->gid))
		return 0;
	if (load(f, true, err) < 0)
		return -1;
	if (!gr_find(f->group, colon + 1, &pw->gid))
		return crid_err_cause(
		    err, EBUSY, "image config User `%s`: no group `%s` in the image's /etc/group",
		    spec, colon + 1);
	return 0;
}

static int check_id(int64_t v, const char *field, struct crid_err *err)
{
	if (v < 0 || (unsigned long long)v > ID_MAX)
		return crid_err_invalid(err, "linux.security_context.%s: %lld is not a valid id",
					field, (long long)v);
	return 0;
}

static int resolve(struct idfiles *f, const struct crid_ctr_security *sec, const char *img,
		   struct crid_ctr_user *out, struct crid_err *err)
{
	struct pwent pw = { .name = "" };
	bool have_pw = false, have_gid = false;

	if (sec->has_run_as_user) {
		if (check_id(sec->run_as_user, "run_as_user.value", err) < 0 ||
		    load(f, false, err) < 0)
			return -1;
		have_pw = pw_find(f->passwd, NULL, (uint32_t)sec->run_as_user, &pw);
		pw.uid = (uint32_t)sec->run_as_user;
		if (!have_pw)
			pw.gid = 0;
	} else if (sec->run_as_username && *sec->run_as_username) {
		if (load(f, false, err) < 0)
			return -1;
		have_pw = pw_find(f->passwd, sec->run_as_username, 0, &pw);
		if (!have_pw)
			return crid_err_invalid(
			    err,
			    "linux.security_context.run_as_username: no user `%s` in "
			    "the image's /etc/passwd",
			    sec->run_as_username);
	} else if (img && *img) {
		if (image_user(f, img, &pw, &have_pw, &have_gid, err) < 0)
			return -1;
	} else {
		/* nobody named a user: root, looked up like any uid (containerd's "0", CRI-O's) */
		if (load(f, false, err) < 0)
			return -1;
		have_pw = pw_find(f->passwd, NULL, 0, &pw);
		pw.uid = 0;
		if (!have_pw)
			pw.gid = 0;
	}
	if (sec->has_run_as_group) {
		if (check_id(sec->run_as_group, "run_as_group.value", err) < 0)
			return -1;
		pw.gid = (uint32_t)sec->run_as_group;
	}
	out->uid = pw.uid;
	out->gid = pw.gid;
	out->n_additional_gids = 0;
	if (add_gid(out, out->gid, err) < 0)
		return -1;
	if (sec->groups_policy == CRID_GROUPS_MERGE && have_pw &&
	    add_member_groups(f, pw.name, out, err) < 0)
		return -1;
	for (size_t i = 0; i < sec->n_supplemental_groups; i++) {
		char field[64];

		snprintf(field, sizeof(field), "supplemental_groups[%zu]", i);
		if (check_id(sec->supplemental_groups[i], field, err) < 0 ||
		    add_gid(out, (uint32_t)sec->supplemental_groups[i], err) < 0)
			return -1;
	}
	return 0;
}

int crid_oci_user_resolve(const char *rootfs, const struct crid_ctr_security *sec,
			  const char *image_user, struct crid_ctr_user *out, struct crid_err *err)
{
	struct idfiles f = { .rootfs = rootfs };
	int r = resolve(&f, sec, image_user, out, err);

	crid_free(f.passwd);
	crid_free(f.group);
	return r;
}
