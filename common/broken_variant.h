/*
 * broken_variant.h - deliberately wrong conventions, for testing the
 * comparison tool only.
 *
 * tests/test_numerics_compare.c checks that paligemma-compare names the first
 * tensor where a known bug shows. It needs builds that contain those bugs. A
 * few chapter files hold a short block, guarded by #ifdef PG_BROKEN_VARIANTS,
 * that applies one bug when the environment variable PG_BROKEN_VARIANT names
 * it. Only the Makefile's build/paligemma-broken defines PG_BROKEN_VARIANTS,
 * so the library, the tests and the paligemma program never contain these
 * blocks, whatever PG_BROKEN_VARIANT is set to.
 */
#ifndef PG_BROKEN_VARIANT_H
#define PG_BROKEN_VARIANT_H

/* The values of PG_BROKEN_VARIANT, and the tensor where each bug first shows. */
enum {
    PG_BROKEN_NONE = 0,
    PG_BROKEN_RMS_NORM_WEIGHT = 1,   /* chapter 3: scale by w, not 1 + w: text_layer_0_attention */
    PG_BROKEN_ROPE_ADJACENT = 2,     /* chapter 5: rotate pairs (2i, 2i + 1): text_layer_0_attention */
    PG_BROKEN_CAUSAL_PREFIX = 3,     /* chapter 12: causal mask in the prefill: text_layer_0_attention */
    PG_BROKEN_IMAGE_SCALE = 4,       /* chapter 11: image rows times sqrt(D): merged_embeddings */
    PG_BROKEN_MLP_GELU_ON_UP = 5,    /* chapter 4: GELU on up_proj, not gate_proj: text_layer_1 */
};

#ifdef PG_BROKEN_VARIANTS
#include <stdlib.h>

/* Returns PG_BROKEN_VARIANT as an integer, read once per file; 0 when unset. */
static inline int pg_broken_variant(void)
{
    static int variant = -1;
    if (variant < 0) {
        const char *value = getenv("PG_BROKEN_VARIANT");
        variant = value != NULL ? atoi(value) : PG_BROKEN_NONE;
    }
    return variant;
}
#endif

#endif
