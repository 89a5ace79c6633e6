/*
 * Replays every input the fuzzers found a bug with, committed under
 * tests/fuzz/regressions/<target>/, through the entry point of that target
 * (tests/fuzz/fuzz_targets.h). Each must now end cleanly: accepted (0), or
 * rejected (-1) with a message that names the input. A crash, a sanitizer
 * report (under `make sanitize`) or an abort fails the run.
 *
 *   CK_RUN_SUITE=fuzz_regressions build/tests/run_tests
 */
#include <check.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz/fuzz_targets.h"

#define REGRESSIONS_DIR "tests/fuzz/regressions"

static tokenizer test_tokenizer;
static char index_dir[64];

static int replay_encode(const uint8_t *bytes, size_t size, pg_error *err)
{
    return fuzz_encode_with(&test_tokenizer, bytes, size, err);
}

static int replay_safetensors_index(const uint8_t *bytes, size_t size, pg_error *err)
{
    return fuzz_safetensors_index(index_dir, bytes, size, err);
}

/* Each target: its folder name, its entry point, and the text every
 * rejection message contains (the name the entry point gives the input). */
static const struct {
    const char *target;
    int (*replay)(const uint8_t *bytes, size_t size, pg_error *err);
    const char *named;
} TARGETS[] = {
    {"npy", fuzz_npy, "fuzz.npy"},
    {"safetensors", fuzz_safetensors, "fuzz.safetensors"},
    {"safetensors_index", replay_safetensors_index, "pg_fuzz_index_"},
    {"config", fuzz_config, "fuzz/config.json"},
    {"tokenizer", fuzz_tokenizer, "fuzz/tokenizer.model"},
    {"encode", replay_encode, "tokenizer_encode"},
    {"image", fuzz_image, "fuzz.png"},
};
#define NUM_TARGETS (sizeof TARGETS / sizeof TARGETS[0])

static void setup(void)
{
    pg_error err;
    ck_assert_msg(tokenizer_load(&test_tokenizer, FUZZ_TOKENIZER_PATH, &err) == 0, "%s", err.message);
    fuzz_index_dir_create(index_dir);
}

static void teardown(void)
{
    tokenizer_free(&test_tokenizer);
    fuzz_index_dir_remove(index_dir);
}

START_TEST(regressions_end_cleanly)
{
    const char *target = TARGETS[_i].target;
    char dir_path[256];
    snprintf(dir_path, sizeof dir_path, REGRESSIONS_DIR "/%s", target);
    DIR *dir = opendir(dir_path);
    if (dir == NULL)
        return; /* no regression input for this target yet */

    int replayed = 0;
    for (struct dirent *entry = readdir(dir); entry != NULL; entry = readdir(dir)) {
        if (entry->d_name[0] == '.')
            continue;
        char path[512];
        snprintf(path, sizeof path, "%s/%s", dir_path, entry->d_name);
        size_t size = 0;
        pg_error err = {{0}};
        uint8_t *bytes = pg_read_file(path, &size, &err);
        ck_assert_msg(bytes != NULL, "%s", err.message);

        int status = TARGETS[_i].replay(bytes, size, &err);
        ck_assert_msg(status == 0 || status == -1, "%s: status %d, expected 0 or -1", path, status);
        if (status == -1)
            ck_assert_msg(strstr(err.message, TARGETS[_i].named) != NULL,
                          "%s: rejected with message \"%s\", which does not name the input (%s)", path,
                          err.message, TARGETS[_i].named);
        free(bytes);
        replayed++;
    }
    closedir(dir);
    ck_assert_int_gt(replayed, 0);
}
END_TEST

Suite *fuzz_regressions_suite(void)
{
    Suite *suite = suite_create("fuzz_regressions");
    TCase *replay = tcase_create("replay");
    tcase_add_unchecked_fixture(replay, setup, teardown);
    tcase_add_loop_test(replay, regressions_end_cleanly, 0, (int)NUM_TARGETS);
    suite_add_tcase(suite, replay);
    return suite;
}
