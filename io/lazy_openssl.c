/*
 * libssl and libcrypto, loaded by their first use (io/lazylib.h): a digest
 * during a pull, a WebSocket handshake's SHA-1, base64 of registry
 * credentials, or the streaming server's TLS. Mapped at start they cost the
 * idle daemon ~0.5 MiB of relocated tables alone.
 */
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>

#include "io/lazylib.h"

#define C crid_lazy_crypto
#define S crid_lazy_ssl

CRID_LAZY_FN(C, unsigned long, ERR_get_error, (void), (), 0)
CRID_LAZY_VOID(C, ERR_clear_error, (void), ())
CRID_LAZY_FN(C, const char *, ERR_reason_error_string, (unsigned long e), (e),
	     "libcrypto unavailable")
CRID_LAZY_FN(C, const EVP_MD *, EVP_sha1, (void), (), NULL)
CRID_LAZY_FN(C, const EVP_MD *, EVP_sha256, (void), (), NULL)
CRID_LAZY_FN(C, EVP_MD_CTX *, EVP_MD_CTX_new, (void), (), NULL)
CRID_LAZY_VOID(C, EVP_MD_CTX_free, (EVP_MD_CTX * c), (c))
CRID_LAZY_FN(C, int, EVP_DigestInit_ex, (EVP_MD_CTX * c, const EVP_MD *t, ENGINE *impl),
	     (c, t, impl), 0)
CRID_LAZY_FN(C, int, EVP_DigestUpdate, (EVP_MD_CTX * c, const void *d, size_t n), (c, d, n), 0)
CRID_LAZY_FN(C, int, EVP_DigestFinal_ex, (EVP_MD_CTX * c, unsigned char *md, unsigned int *s),
	     (c, md, s), 0)
CRID_LAZY_FN(C, int, EVP_Digest,
	     (const void *d, size_t n, unsigned char *md, unsigned int *s, const EVP_MD *t,
	      ENGINE *impl),
	     (d, n, md, s, t, impl), 0)
CRID_LAZY_FN(C, int, EVP_EncodeBlock, (unsigned char *t, const unsigned char *f, int n), (t, f, n),
	     -1)
CRID_LAZY_FN(C, int, EVP_DecodeBlock, (unsigned char *t, const unsigned char *f, int n), (t, f, n),
	     -1)

CRID_LAZY_FN(S, const SSL_METHOD *, TLS_server_method, (void), (), NULL)
CRID_LAZY_FN(S, SSL_CTX *, SSL_CTX_new, (const SSL_METHOD *m), (m), NULL)
CRID_LAZY_VOID(S, SSL_CTX_free, (SSL_CTX * c), (c))
CRID_LAZY_FN(S, long, SSL_CTX_ctrl, (SSL_CTX * c, int cmd, long larg, void *parg),
	     (c, cmd, larg, parg), 0)
CRID_LAZY_FN(S, uint64_t, SSL_CTX_set_options, (SSL_CTX * c, uint64_t op), (c, op), 0)
CRID_LAZY_FN(S, int, SSL_CTX_set_num_tickets, (SSL_CTX * c, size_t n), (c, n), 0)
CRID_LAZY_FN(S, int, SSL_CTX_use_certificate_chain_file, (SSL_CTX * c, const char *f), (c, f), 0)
CRID_LAZY_FN(S, int, SSL_CTX_use_PrivateKey_file, (SSL_CTX * c, const char *f, int type),
	     (c, f, type), 0)
CRID_LAZY_FN(S, int, SSL_CTX_check_private_key, (const SSL_CTX *c), (c), 0)
CRID_LAZY_FN(S, SSL *, SSL_new, (SSL_CTX * c), (c), NULL)
CRID_LAZY_VOID(S, SSL_free, (SSL * s), (s))
CRID_LAZY_FN(S, int, SSL_set_fd, (SSL * s, int fd), (s, fd), 0)
CRID_LAZY_FN(S, int, SSL_accept, (SSL * s), (s), -1)
CRID_LAZY_FN(S, int, SSL_read, (SSL * s, void *b, int n), (s, b, n), -1)
CRID_LAZY_FN(S, int, SSL_write, (SSL * s, const void *b, int n), (s, b, n), -1)
CRID_LAZY_FN(S, int, SSL_shutdown, (SSL * s), (s), -1)
CRID_LAZY_FN(S, int, SSL_get_error, (const SSL *s, int ret), (s, ret), SSL_ERROR_SSL)
