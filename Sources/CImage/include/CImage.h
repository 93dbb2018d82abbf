#ifndef SCALPEL_CIMAGE_H
#define SCALPEL_CIMAGE_H
#include <stddef.h>
#include <stdint.h>

/* Decodes a PNG or JPEG file to 8-bit RGB (alpha dropped, grey replicated, 16-bit reduced to
 * its high byte, palettes expanded). On success returns 0 and sets *rgb (malloc'd, [h, w, 3]),
 * *width and *height; the caller frees *rgb. On failure returns non-zero and writes a message. */
int sc_decode_image(const char *path, uint8_t **rgb, int *width, int *height, char *error, size_t error_size);

/* PIL's bilinear resize of 8-bit RGB (Image.resize with BILINEAR, reducing_gap None): separable,
 * antialiased (support scaled when shrinking), fixed-point coefficients, horizontal pass first.
 * in: [in_h, in_w, 3] -> out: [out_h, out_w, 3]. */
void sc_resize_bilinear(const uint8_t *in, int in_w, int in_h, uint8_t *out, int out_w, int out_h);

#endif
