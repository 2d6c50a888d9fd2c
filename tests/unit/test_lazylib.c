/*
 * io/lazylib and the lazy_* forwarders: nothing is loaded before its first
 * call; each forwarder reaches the real library (a SHA-256 and base64
 * through libcrypto, TLS_server_method through libssl, a curl handle with
 * long, pointer and curl_off_t options and a getinfo, a request head
 * through libh2o's picohttpparser); a missing library fails every call
 * cleanly and is reported once.
 */
#define CURL_DISABLE_TYPECHECK 1
#include <curl/curl.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <string.h>

#include "io/lazylib.h"
#include "tests/unit/tap.h"

struct phr_header {
	const char *name;
	size_t name_len;
	const char *value;
	size_t value_len;
};
int phr_parse_request(const char *buf, size_t len, const char **method, size_t *method_len,
		      const char **path, size_t *path_len, int *minor_version,
		      struct phr_header *headers, size_t *num_headers, size_t last_len);

static void test_crypto(void)
{
	static const unsigned char abc_sha256[] = {
		0xba, 0x78, 0x16, 0xbf, 0x8f, 0x01, 0xcf, 0xea, 0x41, 0x41, 0x40,
		0xde, 0x5d, 0xae, 0x22, 0x23, 0xb0, 0x03, 0x61, 0xa3, 0x96, 0x17,
		0x7a, 0x9c, 0xb4, 0x10, 0xff, 0x61, 0xf2, 0x00, 0x15, 0xad,
	};
	unsigned char md[EVP_MAX_MD_SIZE], b64[16];
	unsigned int n = 0;

	CHECK(!crid_lazylib_loaded(&crid_lazy_crypto), "libcrypto not loaded before first use");
	CHECK(EVP_Digest("abc", 3, md, &n, EVP_sha256(), NULL) == 1 && n == 32 &&
		  memcmp(md, abc_sha256, 32) == 0,
	      "sha256(abc) through the forwarder");
	CHECK(crid_lazylib_loaded(&crid_lazy_crypto), "libcrypto loaded by the first call");
	CHECK(EVP_EncodeBlock(b64, (const unsigned char *)"crid", 4) == 8 &&
		  strcmp((char *)b64, "Y3JpZA==") == 0,
	      "base64 through the forwarder");
	CHECK(!crid_lazylib_loaded(&crid_lazy_ssl), "libssl still not loaded");
	CHECK(TLS_server_method() != NULL && crid_lazylib_loaded(&crid_lazy_ssl),
	      "libssl loaded by TLS_server_method");
}

static void test_curl(void)
{
	CURL *e;
	long code = -1;

	CHECK(!crid_lazylib_loaded(&crid_lazy_curl), "libcurl not loaded before first use");
	CHECK(curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK, "curl_global_init");
	e = curl_easy_init();
	if (!CHECK(e != NULL, "curl_easy_init"))
		return;
	CHECK(curl_easy_setopt(e, CURLOPT_URL, "http://127.0.0.1:1/") == CURLE_OK,
	      "pointer option");
	CHECK(curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, 1000L) == CURLE_OK, "long option");
	CHECK(curl_easy_setopt(e, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)1 << 40) == CURLE_OK,
	      "curl_off_t option");
	CHECK(curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "nope") != CURLE_OK,
	      "a bad value still reaches curl and is refused");
	CHECK(curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &code) == CURLE_OK && code == 0,
	      "getinfo writes through the pointer");
	curl_easy_cleanup(e);
}

static void test_h2o(void)
{
	static const char req[] = "GET /exec/x HTTP/1.1\r\nHost: a\r\n\r\n";
	const char *method, *path;
	size_t mlen, plen, nh = 4;
	struct phr_header h[4];
	int minor;

	CHECK(phr_parse_request(req, sizeof(req) - 1, &method, &mlen, &path, &plen, &minor, h, &nh,
				0) == (int)sizeof(req) - 1 &&
		  plen == 7 && memcmp(path, "/exec/x", 7) == 0 && nh == 1,
	      "picohttpparser through the forwarder");
}

static void test_missing(void)
{
	struct crid_lazylib gone = { .soname = "libcrid-absent.so.0" };

	CHECK(crid_lazylib_sym(&gone, "anything") == NULL && atomic_load(&gone.failed),
	      "a missing library: NULL, marked failed");
	CHECK(crid_lazylib_sym(&gone, "anything") == NULL && !crid_lazylib_loaded(&gone),
	      "and stays failed without another dlopen");
	CHECK(crid_lazylib_sym(&crid_lazy_crypto, "crid_no_such_symbol") == NULL,
	      "a missing symbol: NULL");
}

int main(void)
{
	test_crypto();
	test_curl();
	test_h2o();
	test_missing();
	return tap_done();
}
