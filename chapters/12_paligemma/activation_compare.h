/*
 * Comparing two activation dumps (activation_dump.h) tensor by tensor, in
 * the order the first one computed them. paligemma-compare prints the table;
 * docs/numerics.md explains how to read it.
 *
 * For each tensor, A is the dump under test and B the reference:
 *   max abs error   max |A - B| over all elements
 *   relative error  max |A - B| / max |B|, the error in units of the
 *                   tensor's largest entry (just max |A - B| when B is all 0)
 *   cosine          sum(A B) / sqrt(sum(A^2) sum(B^2)), in double
 *   worst index     where |A - B| is largest, with both values
 * A tensor passes when every element of A and B is finite and its relative error
 * is at most the tolerance of the first threshold whose pattern matches its
 * name (fnmatch(3) patterns; user thresholds before the defaults).
 */
#ifndef PG_ACTIVATION_COMPARE_H
#define PG_ACTIVATION_COMPARE_H

#include <stddef.h>
#include <stdio.h>

#include "pg_error.h"

typedef struct {
    char pattern[128];  /* fnmatch pattern over tensor names, e.g. "text_layer_*" */
    double tolerance;   /* largest relative error that passes */
} compare_threshold;

/* The default thresholds, tried after the user's; the last one matches every
 * name. docs/numerics.md gives the reasoning behind each value. */
extern const compare_threshold compare_default_thresholds[];
extern const int compare_num_default_thresholds;

typedef enum {
    COMPARE_PASS,
    COMPARE_FAIL,           /* over the tolerance, or non-finite values */
    COMPARE_SHAPE_MISMATCH,
    COMPARE_MISSING_IN_A,   /* listed only in B's index */
    COMPARE_MISSING_IN_B,   /* listed only in A's index */
    COMPARE_UNREADABLE,     /* a .npy file that cannot be read; see message */
} compare_status;

/* One row of the table. */
typedef struct {
    char name[128];
    compare_status status;
    char shape_a[64], shape_b[64]; /* "20x64", or "-" when missing */
    size_t count;                  /* elements compared */
    size_t non_finite;             /* elements where A or B is NaN or infinite */
    double max_abs_b;
    double max_abs_error;
    double relative_error;
    double cosine;
    char worst_index[64];          /* "[3,17]" */
    double worst_a, worst_b;
    double tolerance;
    const char *threshold_pattern; /* points into the threshold that matched */
    char message[PG_ERROR_SIZE];   /* why a file could not be read */
} compare_row;

typedef struct {
    compare_row *rows; /* A's tensors in A's order, then those only in B */
    int num_rows;
    int num_failed;    /* rows whose status is not COMPARE_PASS */
    int first_failure; /* index of the first such row, or -1 */
} compare_report;

/* Parses "PATTERN=VALUE" (split at the last '='), VALUE a number >= 0.
 * Returns -1 with a message on anything else. */
int compare_threshold_parse(compare_threshold *threshold, const char *text, pg_error *err);

/* Returns the threshold for a tensor name: the last matching one of the
 * user's (so a later --threshold overrides an earlier one), else the first
 * matching default. */
const compare_threshold *compare_threshold_for(const char *name, const compare_threshold *user, int num_user);

/* Compares every tensor of dump folder A with the same name in dump folder
 * B and fills report (free it with compare_report_free). Missing names,
 * shape mismatches and unreadable .npy files become rows, not errors.
 * Returns -1 with a message only when an index.txt is missing or invalid. */
int activation_compare(compare_report *report, const char *folder_a, const char *folder_b,
                       const compare_threshold *user, int num_user, pg_error *err);

/* Prints the table, one row per tensor, and a summary line naming the first
 * failing tensor. */
void compare_report_print(const compare_report *report, FILE *out);

void compare_report_free(compare_report *report);

#endif
