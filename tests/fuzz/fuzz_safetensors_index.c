/* libFuzzer target: fuzz_safetensors_index in fuzz_targets.h, in one
 * temporary folder made at start-up. Run with `make fuzz` from the
 * repository root. */
#include "fuzz_targets.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char index_dir[64];

static void remove_index_dir(void)
{
    fuzz_index_dir_remove(index_dir);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    fuzz_index_dir_create(index_dir);
    atexit(remove_index_dir);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    pg_error err;
    fuzz_safetensors_index(index_dir, data, size, &err);
    return 0;
}
