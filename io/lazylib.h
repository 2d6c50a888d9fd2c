/*
 * Libraries bound on first use. libcurl (and through it GnuTLS, Kerberos,
 * LDAP, libssh2...), libssl/libcrypto, libh2o and libsystemd (libgcrypt,
 * liblz4, liblzma; only cgroup_manager systemd uses it) cost an idle daemon most of
 * its memory when the dynamic linker maps them at start (relocated data,
 * GnuTLS's constructor, OpenSSL's tables) although only a pull, a TLS
 * stream or a streaming request uses them. io/lazy_*.c define the few
 * functions crid calls from each with the library's own names and
 * prototypes; each forwards through a pointer looked up on its first call,
 * which dlopen()s the library then. The binaries are linked without them.
 */
#ifndef CRID_LAZYLIB_H
#define CRID_LAZYLIB_H

#include <stdatomic.h>

/* One library: |soname| as the headers crid builds against name it. */
struct crid_lazylib {
	const char *soname;
	void *_Atomic handle;
	atomic_int failed; /* dlopen failed once: the reason was logged, every call fails */
};

/*
 * The address of |name| in |lib|, loading |lib| first if needed; NULL (and
 * one error line in the log) when the library or the symbol is missing.
 * Callers' failure values then say the library is unavailable.
 */
void *crid_lazylib_sym(struct crid_lazylib *lib, const char *name);

/* Whether |lib| is loaded (tests: nothing at start-up loads it). */
int crid_lazylib_loaded(const struct crid_lazylib *lib);

extern struct crid_lazylib crid_lazy_curl, crid_lazy_ssl, crid_lazy_crypto, crid_lazy_h2o,
    crid_lazy_systemd;

/*
 * Defines |name| with parameters |params| forwarding |args| to the library's
 * own |name|; |fail| is returned when the library cannot be loaded.
 */
#define CRID_LAZY_FN(lib, ret, name, params, args, fail)                                           \
	ret name params                                                                            \
	{                                                                                          \
		static ret(*_Atomic lazy_fn_) params;                                              \
		ret(*lazy_f_) params = atomic_load_explicit(&lazy_fn_, memory_order_acquire);      \
		if (!lazy_f_) {                                                                    \
			lazy_f_ = (ret(*) params)crid_lazylib_sym(&(lib), #name);                  \
			if (!lazy_f_)                                                              \
				return fail;                                                       \
			atomic_store_explicit(&lazy_fn_, lazy_f_, memory_order_release);           \
		}                                                                                  \
		return lazy_f_ args;                                                               \
	}

/* The same for a function returning nothing. */
#define CRID_LAZY_VOID(lib, name, params, args)                                                    \
	void name params                                                                           \
	{                                                                                          \
		static void(*_Atomic lazy_fn_) params;                                             \
		void(*lazy_f_) params = atomic_load_explicit(&lazy_fn_, memory_order_acquire);     \
		if (!lazy_f_) {                                                                    \
			lazy_f_ = (void(*) params)crid_lazylib_sym(&(lib), #name);                 \
			if (!lazy_f_)                                                              \
				return;                                                            \
			atomic_store_explicit(&lazy_fn_, lazy_f_, memory_order_release);           \
		}                                                                                  \
		lazy_f_ args;                                                                      \
	}

#endif
