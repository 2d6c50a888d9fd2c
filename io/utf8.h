/* UTF-8 validity as protobuf and JSON readers enforce it (Go's utf8.Valid, RFC 3629). */
#ifndef CRID_UTF8_H
#define CRID_UTF8_H

#include <stddef.h>
#include <stdint.h>

/*
 * Offset of the first byte of |s| (|len| bytes) that does not start a valid
 * UTF-8 sequence, or |len| when all of it is valid: no overlong forms, no
 * surrogates, nothing above U+10FFFF.
 */
size_t crid_utf8_invalid_at(const uint8_t *s, size_t len);

/*
 * Replaces, in place, every byte of the NUL-terminated |s| that is not part of
 * a valid sequence with '?' (the length never changes). Returns how many
 * bytes were replaced.
 */
size_t crid_utf8_scrub(char *s);

#endif
