/*
 * Chapter 12: choosing the next token from a row of logits.
 *
 * Greedy decoding takes the argmax. Sampling draws from
 * softmax(logits / temperature), optionally restricted by top-p (nucleus)
 * filtering: keep the most likely tokens, in order, until their probability
 * reaches top_p, including the token that crosses it, then renormalize.
 */
#include "paligemma.h"

#include <math.h>
#include <stdlib.h>

int sample_argmax(const float *logits, int V)
{
    /* BEGIN SOLUTION: sample_argmax, docs/12_paligemma.md "A request, step by step"
     * Student placeholder:
     *     (void)logits; (void)V;
     *     return 0;
     */
    /* Strictly greater: on ties the first index wins, as torch.argmax does. */
    int best = 0;
    for (int v = 1; v < V; v++)
        if (logits[v] > logits[best])
            best = v;
    return best;
    /* END SOLUTION */
}

/* qsort comparator state: qsort has no context argument, so the logits being
 * sorted are passed through this file-level pointer. */
static const float *sort_logits;

/* Orders token ids by descending logit, and by ascending id on ties so that
 * the order does not depend on the sort algorithm. */
static int compare_by_logit(const void *a, const void *b)
{
    int i = *(const int *)a, j = *(const int *)b;
    if (sort_logits[i] > sort_logits[j])
        return -1;
    if (sort_logits[i] < sort_logits[j])
        return 1;
    return (i > j) - (i < j);
}

int sample_top_p(const float *logits, int V, float temperature, float top_p, double u, int *scratch)
{
    /* Softmax of logits / temperature, computed in double from the max for
     * stability; only the normalizing sum is needed up front. */
    double max_scaled = (double)logits[sample_argmax(logits, V)] / temperature;
    double total = 0.0;
    for (int v = 0; v < V; v++)
        total += exp((double)logits[v] / temperature - max_scaled);

    /* Sort the ids from most to least likely. */
    for (int v = 0; v < V; v++)
        scratch[v] = v;
    sort_logits = logits;
    qsort(scratch, (size_t)V, sizeof(int), compare_by_logit);

    /* Keep tokens until their mass reaches top_p; the crossing token stays. */
    int kept = 0;
    double kept_mass = 0.0;
    while (kept < V) {
        kept_mass += exp((double)logits[scratch[kept]] / temperature - max_scaled) / total;
        kept++;
        if (kept_mass >= top_p)
            break;
    }

    /* Draw from the kept tokens, renormalized to sum to 1. */
    double target = u * kept_mass, cumulative = 0.0;
    for (int i = 0; i < kept; i++) {
        cumulative += exp((double)logits[scratch[i]] / temperature - max_scaled) / total;
        if (target < cumulative)
            return scratch[i];
    }
    return scratch[kept - 1];
}
