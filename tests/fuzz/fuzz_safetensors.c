/* libFuzzer target: fuzz_safetensors in fuzz_targets.h. Run with `make fuzz`. */
#include "fuzz_targets.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    pg_error err;
    fuzz_safetensors(data, size, &err);
    return 0;
}
