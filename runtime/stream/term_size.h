/*
 * The resize stream of exec and attach: a sequence of JSON objects
 * {"Width":W,"Height":H}, each followed by a newline (Go's json.Encoder on
 * remotecommand.TerminalSize), that may arrive split across frames or
 * several in one. Parsed incrementally in a fixed buffer: nothing grows.
 */
#ifndef CRID_TERM_SIZE_H
#define CRID_TERM_SIZE_H

#include <stddef.h>
#include <stdint.h>

/* One object longer than this is garbage (a real one is under 40 bytes). */
#define CRID_TERM_SIZE_MAX 256

struct crid_term_size_parser {
	char buf[CRID_TERM_SIZE_MAX];
	size_t len;
	int skipping; /* garbage seen: ignore up to the next newline */
};

typedef void (*crid_term_size_fn)(void *user, uint16_t width, uint16_t height);

void crid_term_size_init(struct crid_term_size_parser *p);

/*
 * Feeds |len| bytes; calls |fn| once per complete, valid object, in order.
 * An object that is not JSON, not an object, too long, or has a width or
 * height outside 0..65535 is skipped up to the next newline. Keys match
 * case-insensitively and a missing one is 0, as Go's decoder does.
 */
void crid_term_size_feed(struct crid_term_size_parser *p, const uint8_t *data, size_t len,
			 crid_term_size_fn fn, void *user);

#endif
