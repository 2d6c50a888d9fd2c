/*
 * A push-based tar reader: bytes in (any slice size, even one byte at a
 * time), callbacks out. It never touches the filesystem and buffers only a
 * header block and bounded metadata (pax records, GNU long names), so it can
 * sit at the end of a streaming pull. Formats: v7, ustar (prefix + name),
 * pax ('x' records for path, linkpath, size, uid, gid, mtime, SCHILY.xattr.*;
 * 'g' global headers ignored), GNU ('L'/'K' long names), base-256 numbers.
 * Semantics follow Go's archive/tar, which is what produced most layers.
 */
#ifndef CRID_TAR_READER_H
#define CRID_TAR_READER_H

#include <stddef.h>
#include <stdint.h>

#include "reactor/err.h"

enum crid_tar_type {
	CRID_TAR_REG,
	CRID_TAR_HARDLINK,
	CRID_TAR_SYMLINK,
	CRID_TAR_CHAR,
	CRID_TAR_BLOCK,
	CRID_TAR_DIR,
	CRID_TAR_FIFO,
};

/* One SCHILY.xattr.NAME record: |name| is NUL-terminated, |value| is raw bytes. */
struct crid_tar_xattr {
	const char *name;
	const void *value;
	size_t value_len;
};

/*
 * One archive member. Strings are NUL-terminated, never empty for |path|,
 * shorter than PATH_MAX and free of embedded NULs; |linkpath| is "" unless
 * the entry is a link. The struct and everything it points to stay valid
 * until the entry_end callback returns.
 */
struct crid_tar_entry {
	enum crid_tar_type type;
	const char *path;
	const char *linkpath;
	uint32_t mode; /* permission bits incl. setuid/setgid/sticky (07777) */
	int64_t uid, gid;
	int64_t mtime_sec;
	uint32_t mtime_nsec;
	uint64_t size; /* data bytes that follow; 0 for all but CRID_TAR_REG */
	uint32_t devmajor, devminor;
	const struct crid_tar_xattr *xattrs;
	size_t nxattrs;
	uint64_t index; /* 0-based position among the entries reported */
};

/*
 * Called in order: entry, data* (only for CRID_TAR_REG, chunks summing to
 * |size|, pointing into the caller's slice), entry_end. Each returns 0 or
 * -1 with |err| set; -1 stops the reader for good and feed() returns it.
 * Any callback may be NULL.
 */
struct crid_tar_callbacks {
	int (*entry)(void *user, const struct crid_tar_entry *e, struct crid_err *err);
	int (*data)(void *user, const void *buf, size_t len, struct crid_err *err);
	int (*entry_end)(void *user, struct crid_err *err);
};

/* Bounds against hostile archives; a zero field takes the default. */
struct crid_tar_limits {
	size_t max_pax_size;	/* bytes of one pax header; default 1 MiB */
	size_t max_xattrs;	/* xattrs on one entry; default 128 */
	size_t max_xattr_value; /* bytes of one xattr value; default 64 KiB */
};

#define CRID_TAR_DEFAULT_MAX_PAX_SIZE (1u << 20)
#define CRID_TAR_DEFAULT_MAX_XATTRS 128
#define CRID_TAR_DEFAULT_MAX_XATTR_VALUE 65536

struct crid_tar_reader;

/* |cb| is copied; |lim| may be NULL for the defaults. NULL on ENOMEM. */
struct crid_tar_reader *crid_tar_reader_new(const struct crid_tar_callbacks *cb, void *user,
					    const struct crid_tar_limits *lim,
					    struct crid_err *err);

/*
 * Consumes all |len| bytes of |data|, calling back as members complete.
 * Errors read "tar: entry N (offset O): cause" with N counted from 1.
 * After an error every further call fails.
 */
int crid_tar_reader_feed(struct crid_tar_reader *r, const void *data, size_t len,
			 struct crid_err *err);

/*
 * Like crid_tar_reader_feed(), but returns early when a callback asked for it
 * with crid_tar_reader_yield(): stores the bytes taken in |*consumed| and
 * returns 0 when all |len| were taken, 1 when it stopped before (feed the
 * rest, |data| + |*consumed|, later), -1 on error. It stops right after the
 * callback that yielded: an entry, its end, or one data chunk.
 */
int crid_tar_reader_feed_some(struct crid_tar_reader *r, const void *data, size_t len,
			      size_t *consumed, struct crid_err *err);

/*
 * From inside a callback: asks the running crid_tar_reader_feed_some() to
 * return once that callback returns (crid_tar_reader_feed() ignores it).
 */
void crid_tar_reader_yield(struct crid_tar_reader *r);

/*
 * Declares end of input. Like Go's archive/tar it accepts end-of-archive
 * (two zero blocks) and also plain EOF at a header boundary; EOF inside a
 * header, a member's data or after an extended header is an error.
 * Bytes after end-of-archive are ignored.
 */
int crid_tar_reader_finish(struct crid_tar_reader *r, struct crid_err *err);

/* Entries reported so far (extended headers not counted). */
uint64_t crid_tar_reader_entries(const struct crid_tar_reader *r);

void crid_tar_reader_free(struct crid_tar_reader *r);

#endif
