/*
 * The test runner: one Check suite per tests/test_*.c file, all in one
 * SRunner so that Check's environment variables work across them:
 *
 *   CK_RUN_SUITE=rms_norm build/tests/run_tests   run one suite
 *   CK_RUN_CASE=golden build/tests/run_tests      run one test case
 *   CK_FORK=no gdb build/tests/run_tests          debug in one process
 *   CK_VERBOSITY=verbose build/tests/run_tests    name every test
 *
 * The Makefile writes build/tests/suites.inc with one SUITE(name) line per
 * file tests/test_[NN_]name.c, whose suite function is name_suite().
 */
#include <check.h>
#include <stdlib.h>

#define SUITE(name) Suite *name##_suite(void);
#include "suites.inc"
#undef SUITE

int main(void)
{
    SRunner *runner = srunner_create(NULL);
#define SUITE(name) srunner_add_suite(runner, name##_suite());
#include "suites.inc"
#undef SUITE

    srunner_run_all(runner, CK_ENV);
    int failed = srunner_ntests_failed(runner);
    srunner_free(runner);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
