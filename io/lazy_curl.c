/*
 * libcurl, loaded by the first registry request (io/lazylib.h). Mapping
 * libcurl at start costs the idle daemon most of a megabyte of PSS: it
 * brings GnuTLS (whose constructor runs at load), Kerberos, LDAP, libssh2
 * and more, none of which a daemon that has not pulled needs.
 *
 * The variadic setters forward their one argument with the type its
 * option's number range gives it, as curl's own setopt reads it
 * (lib/setopt.c: CURLOPTTYPE_* bases; CURLINFO_TYPEMASK for getinfo,
 * whose argument is always a pointer to the result).
 */
#define CURL_DISABLE_TYPECHECK 1
#include <curl/curl.h>
#include <stdarg.h>

#include "io/lazylib.h"

#define L crid_lazy_curl

CRID_LAZY_FN(L, CURLcode, curl_global_init, (long flags), (flags), CURLE_FAILED_INIT)
CRID_LAZY_FN(L, CURL *, curl_easy_init, (void), (), NULL)
CRID_LAZY_VOID(L, curl_easy_cleanup, (CURL * e), (e))
CRID_LAZY_FN(L, CURLcode, curl_easy_pause, (CURL * e, int bitmask), (e, bitmask), CURLE_FAILED_INIT)
CRID_LAZY_FN(L, const char *, curl_easy_strerror, (CURLcode c), (c), "libcurl unavailable")
CRID_LAZY_FN(L, CURLHcode, curl_easy_header,
	     (CURL * e, const char *name, size_t index, unsigned int origin, int request,
	      struct curl_header **hout),
	     (e, name, index, origin, request, hout), CURLHE_NOT_BUILT_IN)
CRID_LAZY_VOID(L, curl_free, (void *p), (p))
CRID_LAZY_FN(L, struct curl_slist *, curl_slist_append, (struct curl_slist * l, const char *s),
	     (l, s), NULL)
CRID_LAZY_VOID(L, curl_slist_free_all, (struct curl_slist * l), (l))
CRID_LAZY_FN(L, CURLM *, curl_multi_init, (void), (), NULL)
CRID_LAZY_FN(L, CURLMcode, curl_multi_cleanup, (CURLM * m), (m), CURLM_BAD_HANDLE)
CRID_LAZY_FN(L, CURLMcode, curl_multi_add_handle, (CURLM * m, CURL *e), (m, e), CURLM_BAD_HANDLE)
CRID_LAZY_FN(L, CURLMcode, curl_multi_remove_handle, (CURLM * m, CURL *e), (m, e), CURLM_BAD_HANDLE)
CRID_LAZY_FN(L, CURLMcode, curl_multi_assign, (CURLM * m, curl_socket_t s, void *p), (m, s, p),
	     CURLM_BAD_HANDLE)
CRID_LAZY_FN(L, CURLMsg *, curl_multi_info_read, (CURLM * m, int *left), (m, left), NULL)
CRID_LAZY_FN(L, CURLMcode, curl_multi_socket_action,
	     (CURLM * m, curl_socket_t s, int ev_bitmask, int *running),
	     (m, s, ev_bitmask, running), CURLM_BAD_HANDLE)
CRID_LAZY_FN(L, const char *, curl_multi_strerror, (CURLMcode c), (c), "libcurl unavailable")
CRID_LAZY_FN(L, CURLU *, curl_url, (void), (), NULL)
CRID_LAZY_VOID(L, curl_url_cleanup, (CURLU * u), (u))
CRID_LAZY_FN(L, CURLUcode, curl_url_get,
	     (CURLU * u, CURLUPart what, char **part, unsigned int flags), (u, what, part, flags),
	     CURLUE_OUT_OF_MEMORY)
CRID_LAZY_FN(L, CURLUcode, curl_url_set,
	     (CURLU * u, CURLUPart what, const char *part, unsigned int flags),
	     (u, what, part, flags), CURLUE_OUT_OF_MEMORY)

/* One option value, read from |ap| with the type curl reads it with. */
union opt_arg {
	long l;
	void *p;
	curl_off_t o;
};

static int opt_kind(int option, union opt_arg *v, va_list ap)
{
	if (option < CURLOPTTYPE_OBJECTPOINT) {
		v->l = va_arg(ap, long);
		return 'l';
	}
	if (option >= CURLOPTTYPE_OFF_T && option < CURLOPTTYPE_BLOB) {
		v->o = va_arg(ap, curl_off_t);
		return 'o';
	}
	v->p = va_arg(ap, void *); /* object, function and blob pointers alike */
	return 'p';
}

CURLcode curl_easy_setopt(CURL *e, CURLoption option, ...)
{
	static CURLcode (*_Atomic fn)(CURL *, CURLoption, ...);
	CURLcode (*f)(CURL *, CURLoption, ...) = atomic_load(&fn);
	union opt_arg v;
	va_list ap;
	int k;

	if (!f && !(f = crid_lazylib_sym(&L, "curl_easy_setopt")))
		return CURLE_FAILED_INIT;
	atomic_store(&fn, f);
	va_start(ap, option);
	k = opt_kind((int)option, &v, ap);
	va_end(ap);
	return k == 'l' ? f(e, option, v.l) : k == 'o' ? f(e, option, v.o) : f(e, option, v.p);
}

CURLMcode curl_multi_setopt(CURLM *m, CURLMoption option, ...)
{
	static CURLMcode (*_Atomic fn)(CURLM *, CURLMoption, ...);
	CURLMcode (*f)(CURLM *, CURLMoption, ...) = atomic_load(&fn);
	union opt_arg v;
	va_list ap;
	int k;

	if (!f && !(f = crid_lazylib_sym(&L, "curl_multi_setopt")))
		return CURLM_BAD_HANDLE;
	atomic_store(&fn, f);
	va_start(ap, option);
	k = opt_kind((int)option, &v, ap);
	va_end(ap);
	return k == 'l' ? f(m, option, v.l) : k == 'o' ? f(m, option, v.o) : f(m, option, v.p);
}

CURLcode curl_easy_getinfo(CURL *e, CURLINFO info, ...)
{
	static CURLcode (*_Atomic fn)(CURL *, CURLINFO, ...);
	CURLcode (*f)(CURL *, CURLINFO, ...) = atomic_load(&fn);
	void *out;
	va_list ap;

	if (!f && !(f = crid_lazylib_sym(&L, "curl_easy_getinfo")))
		return CURLE_FAILED_INIT;
	atomic_store(&fn, f);
	va_start(ap, info);
	out = va_arg(ap, void *); /* every CURLINFO type takes a pointer to the result */
	va_end(ap);
	return f(e, info, out);
}
