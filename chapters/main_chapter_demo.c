/*
 * chapter-demo: runs chapters 1 to 3 on small hand-made inputs and prints
 * what each step does. `make run` runs it until the full model lands.
 */
#include <stdio.h>

#include "01_kv_cache/kv_cache.h"
#include "02_repeat_kv/repeat_kv.h"
#include "03_rms_norm/rms_norm.h"

static void print_row(const char *label, const float *x, int n)
{
    printf("  %-28s [", label);
    for (int i = 0; i < n; i++)
        printf(i ? ", %.6f" : "%.6f", x[i]);
    printf("]\n");
}

int main(void)
{
    /* Chapter 3: RMSNorm of x = [1, 2, 3, 4] with weight [0.5, 0, -1, 1]. */
    float x[4] = {1, 2, 3, 4}, weight[4] = {0.5f, 0, -1, 1}, normed[4];
    gemma_rms_norm(normed, x, weight, 1, 4, 1e-6f);
    printf("Chapter 3, GemmaRMSNorm: x * rsqrt(mean(x^2) + eps) * (1 + w)\n");
    print_row("x", x, 4);
    print_row("weight", weight, 4);
    print_row("gemma_rms_norm(x)", normed, 4);

    /* Chapter 1: a cache of 1 layer, 1 key/value head, head_dim 4; 2 updates. */
    kv_cache cache;
    pg_error err;
    if (kv_cache_create(&cache, 1, 1, 4, 8, &err) != 0)
        pg_die("chapter-demo", &err, 1);
    float prefill[2 * 4] = {1, 1, 1, 1, 2, 2, 2, 2}, step[4] = {3, 3, 3, 3};
    printf("\nChapter 1, KVCache: prefill 2 tokens, then decode 1\n");
    if (kv_cache_update(&cache, 0, prefill, prefill, 2, &err) != 0)
        pg_die("chapter-demo", &err, 1);
    printf("  num_items() after prefill:   %d\n", kv_cache_num_items(&cache));
    if (kv_cache_update(&cache, 0, step, step, 1, &err) != 0)
        pg_die("chapter-demo", &err, 1);
    printf("  num_items() after one step:  %d\n", kv_cache_num_items(&cache));

    /* Chapter 2: the 3 cached keys of the one head, shared by 2 query heads. */
    float repeated[2 * 3 * 4];
    repeat_kv(repeated, kv_cache_keys(&cache, 0, 0), 1, 2, 3, 4);
    printf("\nChapter 2, repeat_kv: 1 key/value head for 2 query heads\n");
    print_row("query head 0, token 2", repeated + 2 * 4, 4);
    print_row("query head 1, token 2", repeated + (3 + 2) * 4, 4);
    kv_cache_free(&cache);
    return 0;
}
