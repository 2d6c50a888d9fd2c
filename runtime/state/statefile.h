/*
 * Small state files written crash-safely: temp file, fsync, rename, fsync of
 * the directory. After a kill -9 or power loss a reader sees the old content
 * or the new one, never a mix.
 */
#ifndef CRID_STATEFILE_H
#define CRID_STATEFILE_H

#include <stddef.h>

#include "reactor/err.h"

/* Replaces |path| with |len| bytes of |data| (mode 0600). */
int crid_statefile_write(const char *path, const void *data, size_t len, struct crid_err *err);

/* The same with the file's |mode| (exactly, whatever the umask). */
int crid_statefile_write_mode(const char *path, const void *data, size_t len, unsigned mode,
			      struct crid_err *err);

/*
 * The same without fsync: for files under the runroot, which a reboot empties
 * anyway. A kill -9 still leaves the old content or the new one (rename), and
 * the page cache keeps it; only a power cut could lose it, with everything
 * else in that directory.
 */
int crid_statefile_write_volatile(const char *path, const void *data, size_t len, unsigned mode,
				  struct crid_err *err);

/*
 * Reads |path| (at most |max| bytes) into a NUL-terminated buffer the caller
 * frees with crid_free(). Fails with ENOENT when it does not exist and
 * EFBIG when it is larger than |max|.
 */
int crid_statefile_read(const char *path, size_t max, char **out, size_t *len,
			struct crid_err *err);

/* Creates |path| and its missing parents with |mode|. */
int crid_mkdir_p(const char *path, unsigned mode, struct crid_err *err);

#endif
