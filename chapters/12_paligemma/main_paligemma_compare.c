/*
 * paligemma-compare: compare two activation dumps tensor by tensor.
 *
 *   paligemma-compare DUMP_A DUMP_B [--threshold PATTERN=VALUE]...
 *
 * DUMP_A is the run under test (paligemma --dump-activations), DUMP_B the
 * reference (golden/dump_reference.py). One row per tensor in DUMP_A's order,
 * then a line naming the first tensor that fails. docs/numerics.md explains
 * the columns and the default thresholds.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "12_paligemma/activation_compare.h"
#include "io.h"

#define PROGRAM "paligemma-compare"
/* Exit status: 0 every tensor passes, 1 some tensor fails, 2 usage or index errors. */
#define EXIT_MISMATCH 1
#define EXIT_ERROR 2

static void print_help(FILE *out)
{
    fprintf(out,
            "usage: paligemma-compare DUMP_A DUMP_B [--threshold PATTERN=VALUE]...\n"
            "\n"
            "Compares two activation dumps (folders with index.txt and one .npy per tensor), such as\n"
            "`paligemma --dump-activations` (A) and golden/dump_reference.py (B). Prints per tensor, in\n"
            "A's order: shape, max|B|, max abs error, relative error = max|A - B| / max|B|, cosine\n"
            "similarity, the worst element with both values, the tolerance and PASS or FAIL.\n"
            "\n"
            "  --threshold PATTERN=VALUE  largest relative error that passes for tensor names matching\n"
            "                        the shell pattern, e.g. 'text_layer_*=1e-3'; repeatable, a later\n"
            "                        one wins over an earlier one, all win over the defaults\n"
            "  --help                print this help\n"
            "\n"
            "Default thresholds (first match wins):\n");
    for (int i = 0; i < compare_num_default_thresholds; i++)
        fprintf(out, "  %-24s %g\n", compare_default_thresholds[i].pattern, compare_default_thresholds[i].tolerance);
    fprintf(out, "\nExit status: 0 if every tensor passes, 1 if any fails or is missing, 2 on errors.\n");
}

int main(int argc, char **argv)
{
    const char *folders[2] = {NULL, NULL};
    int num_folders = 0;
    compare_threshold *thresholds = pg_xcalloc((size_t)argc, sizeof *thresholds, "the thresholds");
    int num_thresholds = 0;
    pg_error err;

    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
            print_help(stdout);
            return 0;
        }
        if (strcmp(arg, "--threshold") == 0) {
            if (i + 1 >= argc) {
                fprintf(stderr, PROGRAM ": option --threshold needs a value PATTERN=VALUE\n");
                return EXIT_ERROR;
            }
            if (compare_threshold_parse(&thresholds[num_thresholds++], argv[++i], &err) != 0)
                pg_die(PROGRAM, &err, EXIT_ERROR);
            continue;
        }
        if (arg[0] == '-' || num_folders == 2) {
            fprintf(stderr, PROGRAM ": unexpected argument '%s'\nRun 'paligemma-compare --help' for the usage.\n",
                    arg);
            return EXIT_ERROR;
        }
        folders[num_folders++] = arg;
    }
    if (num_folders != 2) {
        fprintf(stderr, PROGRAM ": expected two dump folders, DUMP_A and DUMP_B\n"
                "Run 'paligemma-compare --help' for the usage.\n");
        return EXIT_ERROR;
    }

    compare_report report;
    if (activation_compare(&report, folders[0], folders[1], thresholds, num_thresholds, &err) != 0)
        pg_die(PROGRAM, &err, EXIT_ERROR);
    printf("A = %s\nB = %s\n", folders[0], folders[1]);
    compare_report_print(&report, stdout);
    int status = report.num_failed > 0 ? EXIT_MISMATCH : 0;
    compare_report_free(&report);
    free(thresholds);
    return status;
}
