/* stb_image compiled into the fuzzers, so that the sanitizers and the
 * coverage instrumentation see inside the decoder. The other builds link
 * Debian's libstb, the same source. */
#define STB_IMAGE_IMPLEMENTATION
#include <stb_image.h>
