#include "CImage.h"
#include <math.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <png.h>
#include <jpeglib.h>

/* ---------------------------------------------------------------- PNG */
/* libpng's errors and warnings stay quiet: the caller reports one line naming the file */
static void png_quiet_error(png_structp png, png_const_charp message) { (void)message; png_longjmp(png, 1); }
static void png_quiet_warning(png_structp png, png_const_charp message) { (void)png; (void)message; }

/* Images larger than this (a corrupt or hostile header) are refused before any allocation. */
#define MAX_PIXELS ((size_t)1 << 27)

static int decode_png(FILE *f, uint8_t **rgb, int *width, int *height, char *error, size_t n) {
    png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, NULL, png_quiet_error, png_quiet_warning);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    /* volatile: assigned after setjmp and freed in its error branch (a plain local may be
     * restored from a register by longjmp and leak; found by the image fuzz target) */
    uint8_t *volatile pixels = NULL;
    png_bytep *volatile rows = NULL;
    if (!png || !info) { snprintf(error, n, "cannot initialise libpng"); return 1; }
    if (setjmp(png_jmpbuf(png))) {
        png_destroy_read_struct(&png, &info, NULL);
        free((void *)pixels); free((void *)rows);
        snprintf(error, n, "corrupt PNG data");
        return 1;
    }
    png_init_io(png, f);
    png_read_info(png, info);
    int color = png_get_color_type(png, info), depth = png_get_bit_depth(png, info);
    if (depth == 16) png_set_strip_16(png);
    if (color == PNG_COLOR_TYPE_PALETTE) png_set_palette_to_rgb(png);
    if ((color == PNG_COLOR_TYPE_GRAY || color == PNG_COLOR_TYPE_GRAY_ALPHA) && depth < 8) png_set_expand_gray_1_2_4_to_8(png);
    if (color == PNG_COLOR_TYPE_GRAY || color == PNG_COLOR_TYPE_GRAY_ALPHA) png_set_gray_to_rgb(png);
    if (png_get_valid(png, info, PNG_INFO_tRNS)) png_set_tRNS_to_alpha(png);
    png_set_strip_alpha(png);
    png_set_interlace_handling(png);
    png_read_update_info(png, info);
    int w = (int)png_get_image_width(png, info), h = (int)png_get_image_height(png, info);
    if (png_get_rowbytes(png, info) != (size_t)w * 3) { png_destroy_read_struct(&png, &info, NULL); snprintf(error, n, "unsupported PNG layout"); return 1; }
    if (w <= 0 || h <= 0 || (size_t)w * (size_t)h > MAX_PIXELS) {
        png_destroy_read_struct(&png, &info, NULL); snprintf(error, n, "image of %d x %d pixels is larger than %d megapixels", w, h, (int)(MAX_PIXELS >> 20)); return 1;
    }
    pixels = malloc((size_t)w * h * 3);
    if (!pixels) { png_destroy_read_struct(&png, &info, NULL); snprintf(error, n, "out of memory"); return 1; }
    rows = malloc(sizeof(png_bytep) * h);
    if (!rows) { png_destroy_read_struct(&png, &info, NULL); free(pixels); snprintf(error, n, "out of memory"); return 1; }
    for (int y = 0; y < h; y++) rows[y] = pixels + (size_t)y * w * 3;
    png_read_image(png, rows);
    png_read_end(png, NULL);
    png_destroy_read_struct(&png, &info, NULL);
    free(rows);
    *rgb = (uint8_t *)pixels; *width = w; *height = h;
    return 0;
}

/* ---------------------------------------------------------------- JPEG */
struct jpeg_failure { struct jpeg_error_mgr base; jmp_buf jump; char message[JMSG_LENGTH_MAX]; };

static void jpeg_fail(j_common_ptr info) {
    struct jpeg_failure *f = (struct jpeg_failure *)info->err;
    (*info->err->format_message)(info, f->message);
    longjmp(f->jump, 1);
}

static void jpeg_quiet(j_common_ptr info) { (void)info; }

static int decode_jpeg(FILE *f, uint8_t **rgb, int *width, int *height, char *error, size_t n) {
    struct jpeg_decompress_struct info;
    struct jpeg_failure failure;
    uint8_t *volatile pixels = NULL;  /* see decode_png */
    info.err = jpeg_std_error(&failure.base);
    failure.base.error_exit = jpeg_fail;
    failure.base.output_message = jpeg_quiet;
    if (setjmp(failure.jump)) {
        jpeg_destroy_decompress(&info);
        free((void *)pixels);
        snprintf(error, n, "corrupt JPEG data: %s", failure.message);
        return 1;
    }
    jpeg_create_decompress(&info);
    jpeg_stdio_src(&info, f);
    jpeg_read_header(&info, TRUE);
    info.out_color_space = JCS_RGB;
    jpeg_start_decompress(&info);
    int w = (int)info.output_width, h = (int)info.output_height;
    if (w <= 0 || h <= 0 || (size_t)w * (size_t)h > MAX_PIXELS || !(pixels = malloc((size_t)w * h * 3))) {
        snprintf(error, n, "image of %d x %d pixels is larger than %d megapixels", w, h, (int)(MAX_PIXELS >> 20));
        jpeg_destroy_decompress(&info);
        return 1;
    }
    while (info.output_scanline < info.output_height) {
        JSAMPROW row = (uint8_t *)pixels + (size_t)info.output_scanline * w * 3;
        jpeg_read_scanlines(&info, &row, 1);
    }
    jpeg_finish_decompress(&info);
    jpeg_destroy_decompress(&info);
    *rgb = (uint8_t *)pixels; *width = w; *height = h;
    return 0;
}

int sc_decode_image(const char *path, uint8_t **rgb, int *width, int *height, char *error, size_t n) {
    FILE *f = fopen(path, "rb");
    if (!f) { snprintf(error, n, "cannot open file"); return 1; }
    unsigned char magic[8] = {0};
    size_t got = fread(magic, 1, 8, f);
    rewind(f);
    int r;
    if (got == 8 && png_sig_cmp(magic, 0, 8) == 0) r = decode_png(f, rgb, width, height, error, n);
    else if (got >= 3 && magic[0] == 0xFF && magic[1] == 0xD8 && magic[2] == 0xFF) r = decode_jpeg(f, rgb, width, height, error, n);
    else { snprintf(error, n, "not a PNG or JPEG image"); r = 1; }
    fclose(f);
    return r;
}

/* ---------------------------------------------------------------- resize (Pillow's Resample.c, bilinear) */
#define PRECISION_BITS (32 - 8 - 2)

static double bilinear(double x) { x = x < 0 ? -x : x; return x < 1.0 ? 1.0 - x : 0.0; }

/* fixed-point coefficients: bounds[2·out] = (xmin, count), kk[out·ksize] */
static int coefficients(int in_size, int out_size, int **bounds_out, int **kk_out) {
    double scale = (double)in_size / out_size, filterscale = scale < 1.0 ? 1.0 : scale;
    double support = 1.0 * filterscale;
    int ksize = (int)ceil(support) * 2 + 1;
    double *k = calloc((size_t)out_size * ksize, sizeof(double));
    int *bounds = malloc(sizeof(int) * 2 * out_size);
    int *kk = calloc((size_t)out_size * ksize, sizeof(int));
    for (int xx = 0; xx < out_size; xx++) {
        double center = (xx + 0.5) * scale, ww = 0.0, ss = 1.0 / filterscale;
        int xmin = (int)(center - support + 0.5);
        if (xmin < 0) xmin = 0;
        int xmax = (int)(center + support + 0.5);
        if (xmax > in_size) xmax = in_size;
        xmax -= xmin;
        double *kx = k + (size_t)xx * ksize;
        for (int x = 0; x < xmax; x++) { double w = bilinear((x + xmin - center + 0.5) * ss); kx[x] = w; ww += w; }
        for (int x = 0; x < xmax; x++) if (ww != 0.0) kx[x] /= ww;
        bounds[2 * xx] = xmin; bounds[2 * xx + 1] = xmax;
    }
    for (size_t i = 0; i < (size_t)out_size * ksize; i++)
        kk[i] = k[i] < 0 ? (int)(-0.5 + k[i] * (1 << PRECISION_BITS)) : (int)(0.5 + k[i] * (1 << PRECISION_BITS));
    free(k);
    *bounds_out = bounds; *kk_out = kk;
    return ksize;
}

static inline uint8_t clip8(int v) {
    if (v >= (1 << PRECISION_BITS << 8)) return 255;
    if (v <= 0) return 0;
    return (uint8_t)(v >> PRECISION_BITS);
}

void sc_resize_bilinear(const uint8_t *in, int in_w, int in_h, uint8_t *out, int out_w, int out_h) {
    const uint8_t *src = in;
    uint8_t *tmp = NULL;
    int cur_w = in_w;
    if (out_w != in_w) {
        int *bounds, *kk;
        int ksize = coefficients(in_w, out_w, &bounds, &kk);
        tmp = malloc((size_t)out_w * in_h * 3);
        for (int y = 0; y < in_h; y++)
            for (int xx = 0; xx < out_w; xx++) {
                int xmin = bounds[2 * xx], xmax = bounds[2 * xx + 1];
                const int *k = kk + (size_t)xx * ksize;
                for (int c = 0; c < 3; c++) {
                    int ss = 1 << (PRECISION_BITS - 1);
                    for (int x = 0; x < xmax; x++) ss += src[((size_t)y * in_w + x + xmin) * 3 + c] * k[x];
                    tmp[((size_t)y * out_w + xx) * 3 + c] = clip8(ss);
                }
            }
        free(bounds); free(kk);
        src = tmp;
        cur_w = out_w;
    }
    if (out_h != in_h) {
        int *bounds, *kk;
        int ksize = coefficients(in_h, out_h, &bounds, &kk);
        for (int yy = 0; yy < out_h; yy++) {
            int ymin = bounds[2 * yy], ymax = bounds[2 * yy + 1];
            const int *k = kk + (size_t)yy * ksize;
            for (int x = 0; x < cur_w; x++)
                for (int c = 0; c < 3; c++) {
                    int ss = 1 << (PRECISION_BITS - 1);
                    for (int y = 0; y < ymax; y++) ss += src[((size_t)(y + ymin) * cur_w + x) * 3 + c] * k[y];
                    out[((size_t)yy * out_w + x) * 3 + c] = clip8(ss);
                }
        }
        free(bounds); free(kk);
    } else {
        memcpy(out, src, (size_t)out_w * out_h * 3);
    }
    free(tmp);
}
