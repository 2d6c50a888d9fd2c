/* Helpers for runtime/oci_spec.c: yajl tree copy and bounded file reads. */
#include "runtime/oci/oci_json.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "reactor/mem.h"

void crid_oci_gen_tree(yajl_gen g, yajl_val v)
{
	if (!v) {
		yajl_gen_null(g);
	} else if (YAJL_IS_STRING(v)) {
		CRID_OCI_GSTR(g, v->u.string);
	} else if (YAJL_IS_NUMBER(v)) {
		yajl_gen_number(g, v->u.number.r, strlen(v->u.number.r));
	} else if (YAJL_IS_TRUE(v)) {
		yajl_gen_bool(g, 1);
	} else if (YAJL_IS_FALSE(v)) {
		yajl_gen_bool(g, 0);
	} else if (YAJL_IS_OBJECT(v)) {
		yajl_gen_map_open(g);
		for (size_t i = 0; i < v->u.object.len; i++) {
			CRID_OCI_GSTR(g, v->u.object.keys[i]);
			crid_oci_gen_tree(g, v->u.object.values[i]);
		}
		yajl_gen_map_close(g);
	} else if (YAJL_IS_ARRAY(v)) {
		yajl_gen_array_open(g);
		for (size_t i = 0; i < v->u.array.len; i++)
			crid_oci_gen_tree(g, v->u.array.values[i]);
		yajl_gen_array_close(g);
	} else {
		yajl_gen_null(g);
	}
}

yajl_val crid_oci_get(yajl_val obj, const char *key, yajl_type type)
{
	const char *path[] = { key, NULL };

	return obj ? yajl_tree_get(obj, path, type) : NULL;
}

static int open_in_root(const char *root, const char *path, struct crid_err *err)
{
	struct open_how how = {
		.flags = O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK,
		.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS,
	};
	int dfd, fd;

	dfd = open(root, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return crid_err_set(err, errno, "open `%s`", root);
	while (*path == '/')
		path++;
	fd = (int)syscall(SYS_openat2, dfd, path, &how, sizeof(how));
	if (fd < 0)
		crid_err_set(err, errno, "open `%s` in `%s`", path, root);
	close(dfd);
	return fd;
}

int crid_oci_read_file(const char *root, const char *path, size_t max, char **out, size_t *len,
		       struct crid_err *err)
{
	size_t used = 0;
	struct stat st;
	char *buf;
	int fd;

	fd = root ? open_in_root(root, path, err)
		  : open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0)
		return root ? -1 : crid_err_set(err, errno, "open `%s`", path);
	if (fstat(fd, &st) < 0) {
		crid_err_set(err, errno, "stat `%s`", path);
		goto fail;
	}
	if (!S_ISREG(st.st_mode)) {
		crid_err_invalid(err, "`%s` is not a regular file", path);
		goto fail;
	}
	if ((unsigned long long)st.st_size > max) {
		crid_err_set(err, EFBIG, "`%s` is larger than %zu bytes", path, max);
		goto fail;
	}
	buf = crid_malloc((size_t)st.st_size + 1);
	if (!buf) {
		crid_err_set(err, ENOMEM, "read `%s`", path);
		goto fail;
	}
	/* The size may change under us: never read past what was allocated. */
	while (used < (size_t)st.st_size) {
		ssize_t n = read(fd, buf + used, (size_t)st.st_size - used);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			crid_err_set(err, errno, "read `%s`", path);
			crid_free(buf);
			goto fail;
		}
		if (n == 0)
			break;
		used += (size_t)n;
	}
	buf[used] = '\0';
	close(fd);
	*out = buf;
	if (len)
		*len = used;
	return 0;
fail:
	close(fd);
	return -1;
}
