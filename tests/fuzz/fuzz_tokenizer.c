/* libFuzzer target: fuzz_tokenizer in fuzz_targets.h. Run with `make fuzz`. */
#include "fuzz_targets.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    pg_error err;
    fuzz_tokenizer(data, size, &err);
    return 0;
}
