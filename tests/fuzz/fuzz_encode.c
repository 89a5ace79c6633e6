/* libFuzzer target: fuzz_encode_with in fuzz_targets.h, with the test
 * tokenizer loaded once. Run with `make fuzz` from the repository root. */
#include "fuzz_targets.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static tokenizer test_tokenizer;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    pg_error err;
    if (tokenizer_load(&test_tokenizer, FUZZ_TOKENIZER_PATH, &err) != 0) {
        fprintf(stderr, "fuzz_encode: %s (run from the repository root)\n", err.message);
        exit(1);
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    pg_error err;
    fuzz_encode_with(&test_tokenizer, data, size, &err);
    return 0;
}
