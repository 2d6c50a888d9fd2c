/*
 * Reference grammar from github.com/distribution/reference (regexp.go):
 *
 *   reference := name [ ":" tag ] [ "@" digest ]
 *   name      := [domain "/"] path-component ["/" path-component]*
 *   domain    := host [":" port]; host := domain-component ["." domain-component]* | "[" ipv6 "]"
 *   domain-component := /([a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])/
 *   path-component   := /[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*\/
 *   tag       := /[\w][\w.-]{0,127}/
 *   digest    := algorithm ":" hex (we accept sha256 with 64 lowercase hex only)
 *
 * and normalization from normalize.go (splitDockerDomain): the first
 * component is a domain only when it contains '.' or ':', is "localhost",
 * or has uppercase letters; otherwise the domain is docker.io, and a
 * single-component docker.io path gets "library/".
 */
#include "runtime/image/image_ref.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* Longer input is never a valid reference; keeps error messages bounded too. */
#define REF_INPUT_MAX 1024

#define invalid crid_err_invalid /* bad input: EINVAL, no strerror suffix */

static bool is_lower_alnum(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

static bool is_alnum(char c)
{
	return is_lower_alnum(c) || (c >= 'A' && c <= 'Z');
}

static bool is_word(char c)
{
	return is_alnum(c) || c == '_';
}

static bool is_lower_hex(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
}

static bool all_lower_hex(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!is_lower_hex(s[i]))
			return false;
	return true;
}

bool crid_image_ref_digest_valid(const char *s)
{
	return strncmp(s, "sha256:", 7) == 0 && strlen(s + 7) == 64 && all_lower_hex(s + 7, 64);
}

static bool valid_tag(const char *t, size_t n)
{
	if (n == 0 || n > CRID_REF_TAG_MAX || !is_word(t[0]))
		return false;
	for (size_t i = 1; i < n; i++)
		if (!is_word(t[i]) && t[i] != '.' && t[i] != '-')
			return false;
	return true;
}

/* One path component: [a-z0-9]+ joined by '.', '_', '__' or any run of '-'. */
static bool valid_path_component(const char *p, size_t n)
{
	size_t i = 0;

	while (i < n) {
		if (!is_lower_alnum(p[i]))
			return false;
		while (i < n && is_lower_alnum(p[i]))
			i++;
		if (i == n)
			return true;
		if (p[i] == '.' || (p[i] == '_' && (i + 1 >= n || p[i + 1] != '_')))
			i++;
		else if (p[i] == '_')
			i += 2;
		else if (p[i] == '-')
			while (i < n && p[i] == '-')
				i++;
		else
			return false;
		if (i == n)
			return false; /* a separator must be followed by alnum */
	}
	return n > 0;
}

static bool valid_path(const char *p)
{
	const char *end;

	for (;; p = end + 1) {
		end = strchr(p, '/');
		if (!valid_path_component(p, end ? (size_t)(end - p) : strlen(p)))
			return false;
		if (!end)
			return true;
	}
}

static bool valid_domain_component(const char *c, size_t n)
{
	if (n == 0 || !is_alnum(c[0]) || !is_alnum(c[n - 1]))
		return false;
	for (size_t i = 1; i + 1 < n; i++)
		if (!is_alnum(c[i]) && c[i] != '-')
			return false;
	return true;
}

static bool valid_port(const char *p, size_t n)
{
	if (n == 0)
		return false;
	for (size_t i = 0; i < n; i++)
		if (p[i] < '0' || p[i] > '9')
			return false;
	return true;
}

/* host[:port] where host is dotted components or a bracketed IPv6 address. */
static bool valid_domain(const char *d)
{
	size_t n = strlen(d), host_end;
	const char *colon;

	if (d[0] == '[') {
		const char *rb = strchr(d, ']');

		if (!rb || rb == d + 1)
			return false;
		for (const char *q = d + 1; q < rb; q++)
			if (!is_lower_hex(*q) && !(*q >= 'A' && *q <= 'F') && *q != ':')
				return false;
		host_end = (size_t)(rb - d) + 1;
	} else {
		colon = strchr(d, ':');
		host_end = colon ? (size_t)(colon - d) : n;
		for (size_t i = 0, j; i < host_end; i = j + 1) {
			for (j = i; j < host_end && d[j] != '.'; j++)
				;
			if (!valid_domain_component(d + i, j - i))
				return false;
		}
	}
	if (host_end == n)
		return true;
	return d[host_end] == ':' && valid_port(d + host_end + 1, n - host_end - 1);
}

static bool copy_str(char *dst, size_t size, const char *src, size_t n)
{
	if (n >= size)
		return false;
	memcpy(dst, src, n);
	dst[n] = '\0';
	return true;
}

/* "sha256:HEX" only; other well-formed algorithms get their own message. */
static int parse_digest(const char *in, const char *d, struct crid_image_ref *ref,
			struct crid_err *err)
{
	const char *colon = strchr(d, ':');

	if (!colon || colon == d)
		return invalid(err, "invalid reference `%s`: digest `%s` is not ALGO:HEX", in, d);
	if ((size_t)(colon - d) != 6 || strncmp(d, "sha256", 6) != 0)
		return invalid(err,
			       "invalid reference `%s`: unsupported digest algorithm `%.*s` "
			       "(only sha256)",
			       in, (int)(colon - d), d);
	if (!crid_image_ref_digest_valid(d))
		return invalid(err,
			       "invalid reference `%s`: digest `%s` must be sha256: and 64 "
			       "lowercase hex digits",
			       in, d);
	memcpy(ref->digest, d, CRID_DIGEST_LEN + 1);
	return 0;
}

/* An image ID ("sha256:HEX" or bare "HEX"), which ImageStatus looks up by id. */
static bool parse_image_id(const char *s, struct crid_image_ref *ref)
{
	if (strncmp(s, "sha256:", 7) == 0)
		s += 7;
	if (strlen(s) != 64 || !all_lower_hex(s, 64))
		return false;
	ref->kind = CRID_REF_IMAGE_ID;
	snprintf(ref->digest, sizeof(ref->digest), "sha256:%s", s);
	return true;
}

static bool has_upper(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (s[i] >= 'A' && s[i] <= 'Z')
			return true;
	return false;
}

/* normalize.go splitDockerDomain, then the domain and path grammar. */
static int parse_name(const char *in, const char *name, size_t n, struct crid_image_ref *ref,
		      struct crid_err *err)
{
	const char *slash = memchr(name, '/', n), *rest = name;
	size_t dlen = slash ? (size_t)(slash - name) : 0;

	if (slash && (memchr(name, '.', dlen) || memchr(name, ':', dlen) ||
		      (dlen == 9 && memcmp(name, "localhost", 9) == 0) || has_upper(name, dlen))) {
		if (!copy_str(ref->domain, sizeof(ref->domain), name, dlen))
			return invalid(err, "invalid reference `%s`: name too long", in);
		rest = slash + 1;
		if (strcmp(ref->domain, "index.docker.io") == 0)
			strcpy(ref->domain, CRID_REF_DEFAULT_DOMAIN);
	} else {
		strcpy(ref->domain, CRID_REF_DEFAULT_DOMAIN);
	}
	n -= (size_t)(rest - name);
	if (has_upper(rest, n))
		return invalid(err,
			       "invalid reference `%s`: repository name `%.*s` must be lowercase",
			       in, (int)n, rest);
	if (snprintf(ref->path, sizeof(ref->path), "%s%.*s",
		     strcmp(ref->domain, CRID_REF_DEFAULT_DOMAIN) == 0 && !memchr(rest, '/', n)
			 ? "library/"
			 : "",
		     (int)n, rest) >= (int)sizeof(ref->path) ||
	    strlen(ref->domain) + 1 + strlen(ref->path) > CRID_REF_NAME_MAX)
		return invalid(err, "invalid reference `%s`: repository name longer than %d bytes",
			       in, CRID_REF_NAME_MAX);
	if (!valid_domain(ref->domain))
		return invalid(err, "invalid reference `%s`: bad registry host `%s`", in,
			       ref->domain);
	if (!valid_path(ref->path))
		return invalid(err,
			       "invalid reference `%s`: bad repository path `%s` (components "
			       "are [a-z0-9] joined by '.', '_', '__' or '-')",
			       in, ref->path);
	return 0;
}

static int parse_named(const char *s, struct crid_image_ref *ref, struct crid_err *err)
{
	const char *at = strchr(s, '@'), *colon, *slash;
	size_t n = at ? (size_t)(at - s) : strlen(s);

	if (at && parse_digest(s, at + 1, ref, err) < 0)
		return -1;
	colon = memrchr(s, ':', n);
	slash = memrchr(s, '/', n);
	if (colon && (!slash || colon > slash)) {
		size_t tlen = n - (size_t)(colon - s) - 1;

		if (!valid_tag(colon + 1, tlen))
			return invalid(err,
				       "invalid reference `%s`: bad tag `%.*s` (want "
				       "[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})",
				       s, (int)tlen, colon + 1);
		memcpy(ref->tag, colon + 1, tlen);
		ref->tag[tlen] = '\0';
		n = (size_t)(colon - s);
	}
	if (n == 0)
		return invalid(err, "invalid reference `%s`: no repository name", s);
	if (parse_name(s, s, n, ref, err) < 0)
		return -1;
	if (!ref->tag[0] && !ref->digest[0])
		strcpy(ref->tag, "latest");
	return 0;
}

int crid_image_ref_parse(const char *s, struct crid_image_ref *ref, struct crid_err *err)
{
	size_t n = strlen(s);

	memset(ref, 0, sizeof(*ref));
	if (n == 0)
		return invalid(err, "invalid reference: empty");
	if (n > REF_INPUT_MAX)
		return invalid(err, "invalid reference `%.64s...`: longer than %d bytes", s,
			       REF_INPUT_MAX);
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] <= ' ' || (unsigned char)s[i] >= 0x7F)
			return invalid(err,
				       "invalid reference `%s`: blank, control or non-ASCII "
				       "character at offset %zu",
				       s, i);
	if (parse_image_id(s, ref))
		return 0;
	ref->kind = CRID_REF_NAMED;
	if (parse_named(s, ref, err) < 0) {
		memset(ref, 0, sizeof(*ref));
		return -1;
	}
	return 0;
}

static int finish(int r, char *buf, size_t size)
{
	if (r < 0 || (size_t)r >= size) {
		if (size)
			buf[0] = '\0';
		return -1;
	}
	return r;
}

int crid_image_ref_repo(const struct crid_image_ref *ref, char *buf, size_t size)
{
	if (ref->kind != CRID_REF_NAMED)
		return finish(-1, buf, size);
	return finish(snprintf(buf, size, "%s/%s", ref->domain, ref->path), buf, size);
}

int crid_image_ref_string(const struct crid_image_ref *ref, char *buf, size_t size)
{
	if (ref->kind != CRID_REF_NAMED)
		return finish(snprintf(buf, size, "%s", ref->digest), buf, size);
	return finish(snprintf(buf, size, "%s/%s%s%s%s%s", ref->domain, ref->path,
			       ref->tag[0] ? ":" : "", ref->tag, ref->digest[0] ? "@" : "",
			       ref->digest),
		      buf, size);
}

int crid_image_ref_tagged(const struct crid_image_ref *ref, char *buf, size_t size)
{
	if (ref->kind != CRID_REF_NAMED || !ref->tag[0])
		return finish(-1, buf, size);
	return finish(snprintf(buf, size, "%s/%s:%s", ref->domain, ref->path, ref->tag), buf, size);
}

int crid_image_ref_digested(const struct crid_image_ref *ref, const char *digest, char *buf,
			    size_t size)
{
	if (ref->kind != CRID_REF_NAMED || !crid_image_ref_digest_valid(digest))
		return finish(-1, buf, size);
	return finish(snprintf(buf, size, "%s/%s@%s", ref->domain, ref->path, digest), buf, size);
}

int crid_image_ref_familiar(const struct crid_image_ref *ref, char *buf, size_t size)
{
	const char *path = ref->path;
	bool docker = strcmp(ref->domain, CRID_REF_DEFAULT_DOMAIN) == 0;

	if (ref->kind != CRID_REF_NAMED)
		return finish(snprintf(buf, size, "%s", ref->digest), buf, size);
	if (docker && strncmp(path, "library/", 8) == 0 && !strchr(path + 8, '/'))
		path += 8;
	return finish(snprintf(buf, size, "%s%s%s%s%s%s%s", docker ? "" : ref->domain,
			       docker ? "" : "/", path, ref->tag[0] ? ":" : "", ref->tag,
			       ref->digest[0] ? "@" : "", ref->digest),
		      buf, size);
}

const char *crid_image_ref_api_host(const char *domain)
{
	return strcmp(domain, CRID_REF_DEFAULT_DOMAIN) == 0 ? CRID_REF_DOCKER_API_HOST : domain;
}

const char *crid_image_ref_fetch_ref(const struct crid_image_ref *ref)
{
	return ref->digest[0] ? ref->digest : ref->tag;
}
