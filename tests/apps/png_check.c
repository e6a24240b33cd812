/* png_check — decodes a PNG with libpng and prints what a test needs to know about it:
 *
 *     png_check FILE   ->   WIDTH HEIGHT CONTENT
 *
 * CONTENT is the fraction of pixels whose colour differs from the most frequent one (the
 * background): 0 for a blank picture. Exit status 1 (with a message) when FILE is not a PNG that
 * decodes. Used by tests/apps/test_cli_*.sh on every PNG scoresde writes. */
#include <png.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: png_check FILE\n");
        return 2;
    }
    png_image image;
    memset(&image, 0, sizeof image);
    image.version = PNG_IMAGE_VERSION;
    if (!png_image_begin_read_from_file(&image, argv[1])) {
        fprintf(stderr, "png_check: %s: %s\n", argv[1], image.message);
        return 1;
    }
    image.format = PNG_FORMAT_RGB;
    size_t n = (size_t)image.width * image.height;
    unsigned char *rgb = malloc(PNG_IMAGE_SIZE(image));
    if (!rgb || !png_image_finish_read(&image, NULL, rgb, 0, NULL)) {
        fprintf(stderr, "png_check: %s: %s\n", argv[1], rgb ? image.message : "out of memory");
        free(rgb);
        png_image_free(&image);
        return 1;
    }
    /* the most frequent colour, by a histogram of 2^15 colour cells (5 bits a channel) */
    enum { CELLS = 1 << 15 };
    size_t *count = calloc(CELLS, sizeof *count), background = 0;
    if (!count) {
        free(rgb);
        return 1;
    }
    for (size_t i = 0; i < n; i++) {
        const unsigned char *p = rgb + 3 * i;
        size_t cell = (size_t)(p[0] >> 3) << 10 | (size_t)(p[1] >> 3) << 5 | (size_t)(p[2] >> 3);
        if (++count[cell] > count[background])
            background = cell;
    }
    printf("%u %u %.6f\n", image.width, image.height, n ? 1.0 - (double)count[background] / (double)n : 0.0);
    free(count);
    free(rgb);
    return 0;
}
