/*
 * io/lazylib: dlopen() on first use (see lazylib.h for why). RTLD_LOCAL:
 * the libraries' symbols stay out of the global scope, so nothing else
 * binds to them by accident; RTLD_NOW: a missing symbol fails the load
 * here, not in the middle of a pull.
 */
#include <dlfcn.h>
#include <stddef.h>

#include "io/lazylib.h"
#include "reactor/log.h"

struct crid_lazylib crid_lazy_curl = { .soname = "libcurl.so.4" };
struct crid_lazylib crid_lazy_ssl = { .soname = "libssl.so.3" };
struct crid_lazylib crid_lazy_crypto = { .soname = "libcrypto.so.3" };
struct crid_lazylib crid_lazy_h2o = { .soname = "libh2o.so.0.13" };
struct crid_lazylib crid_lazy_systemd = { .soname = "libsystemd.so.0" };

static void *load(struct crid_lazylib *lib)
{
	void *h = atomic_load(&lib->handle);

	if (h || atomic_load(&lib->failed))
		return h;
	h = dlopen(lib->soname, RTLD_NOW | RTLD_LOCAL);
	if (!h) {
		if (!atomic_exchange(&lib->failed, 1))
			crid_log_error("load `%s`: %s", lib->soname, dlerror());
		return NULL;
	}
	/* two threads (crid-bench) may both get here: dlopen counts, one handle stays */
	atomic_store(&lib->handle, h);
	crid_log_debug("loaded `%s` on first use", lib->soname);
	return h;
}

void *crid_lazylib_sym(struct crid_lazylib *lib, const char *name)
{
	void *h = load(lib), *p;

	if (!h)
		return NULL;
	p = dlsym(h, name);
	if (!p)
		crid_log_error("`%s` has no symbol %s", lib->soname, name);
	return p;
}

int crid_lazylib_loaded(const struct crid_lazylib *lib)
{
	return atomic_load(&lib->handle) != NULL;
}
