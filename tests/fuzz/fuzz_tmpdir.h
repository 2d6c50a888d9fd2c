/*
 * A fuzz target's temporary dir, removed with all it holds when the run ends
 * (libFuzzer exits through exit()). A header of static functions: each target
 * is one translation unit linked alone with libcrid.a.
 */
#ifndef CRID_FUZZ_TMPDIR_H
#define CRID_FUZZ_TMPDIR_H

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>

static char fuzz_root[64];

static int fuzz_remove_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st, (void)flag, (void)ftw;
	remove(path);
	return 0;
}

static void fuzz_remove_root(void)
{
	nftw(fuzz_root, fuzz_remove_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* Makes fuzz_root, `/tmp/<prefix>XXXXXX`, gone at exit; aborts on failure. */
static void fuzz_tmpdir_make(const char *prefix)
{
	snprintf(fuzz_root, sizeof(fuzz_root), "/tmp/%sXXXXXX", prefix);
	if (!mkdtemp(fuzz_root))
		abort();
	atexit(fuzz_remove_root);
}

#endif
