/* The SPDY/3 header compression dictionary both zlib streams are seeded with. */
#ifndef CRID_SPDY_DICT_H
#define CRID_SPDY_DICT_H

#include <stdint.h>

#define CRID_SPDY_DICT_LEN 1423

extern const uint8_t crid_spdy_dict[CRID_SPDY_DICT_LEN];

#endif
