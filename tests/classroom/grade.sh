#!/bin/sh
# Grades a student tree chapter by chapter and prints a score table. See
# docs/teaching.md. Run by make grade, which passes CC, CFLAGS, CPPFLAGS,
# LDLIBS, CHECK_LIBS, BUILD and MAKE in the environment.
#
#   tests/classroom/grade.sh STUDENT_DIR [CHAPTERS]
#
# Two modes, chosen by the current folder:
#   - a student tree (it has .classroom/assignment): grade its own assigned
#     chapters; the other chapters are linked from .classroom/reference.
#   - any other tree (the reference repository): grade STUDENT_DIR's assigned
#     chapters (all marked chapters if it has no assignment); the other
#     chapters, the tests and the golden data are this tree's.
# CHAPTERS ("03 07") overrides the assigned list.
#
# Exit status: 0 when every graded test passes, 1 when some fail, 2 when
# the grader itself cannot run (a reference file does not build, a missing tree).
set -eu

[ $# -ge 1 ] || { echo "usage: tests/classroom/grade.sh STUDENT_DIR [CHAPTERS]" >&2; exit 2; }
student_arg=$1
chapters_arg=${2:-}
: "${MAKE:=make}" "${BUILD:=build}" "${CC:=cc}" "${CFLAGS:=}" "${CPPFLAGS:=}" "${LDLIBS:=}" "${CHECK_LIBS:=}"
# A runner that Check's own per-test timeouts did not stop is killed after this many seconds.
: "${GRADE_TIMEOUT:=300}"

grade_build=$BUILD/grade
if [ -e .classroom/assignment ]; then
    student_dir=.
    reference_dir=.classroom/reference
    assignment=.classroom/assignment
    if [ ! -d "$reference_dir" ]; then
        echo "NOTE: $reference_dir is missing, so each chapter is graded with this tree's other chapters;" \
             "a mistake in one chapter can fail the chapters built on it" >&2
        reference_dir=.
    fi
else
    if [ ! -d "$student_arg" ]; then
        echo "make grade: the student tree $student_arg does not exist; run make student first," \
             "or pass STUDENT_DIR=path" >&2
        exit 2
    fi
    student_dir=$(cd "$student_arg" && pwd)
    reference_dir=.
    assignment=$student_dir/.classroom/assignment
    [ "$student_dir" = "$(pwd)" ] && student_dir=.
fi

# The chapters to grade, as folder names (03_rms_norm).
if [ -n "$chapters_arg" ]; then
    numbers=$chapters_arg
elif [ -f "$assignment" ]; then
    numbers=$(sed -n 's/^chapters: *//p' "$assignment")
else
    numbers=$(grep -l "BEGIN SOLUTION:" chapters/[0-9][0-9]_*/*.c | cut -d/ -f2 | cut -c1-2 | sort -u)
fi
graded=""
for number in $numbers; do
    number=${number%%_*}
    case $number in [0-9]) number=0$number ;; esac
    set -- chapters/"$number"_*/
    if [ ! -d "$1" ]; then
        echo "make grade: no folder chapters/${number}_* in $(pwd)" >&2
        exit 2
    fi
    graded="$graded $(basename "$1")"
done
if [ -z "$graded" ]; then
    echo "make grade: no chapter to grade; pass CHAPTERS=\"03 07\"" >&2
    exit 2
fi

mkdir -p "$grade_build"
# Student objects are rebuilt every time: another tree may have been graded here.
rm -rf "$grade_build/student"
for chapter in $graded; do
    rm -rf "${grade_build:?}/$chapter"
done

grade_make() {
    "$MAKE" --no-print-directory -f tests/classroom/grade.mk GRADE_BUILD="$grade_build" STUDENT_DIR="$student_dir" \
        REFERENCE_DIR="$reference_dir" GRADED="$graded" CC="$CC" CFLAGS="$CFLAGS" CPPFLAGS="$CPPFLAGS" \
        LDLIBS="$LDLIBS" CHECK_LIBS="$CHECK_LIBS" "$@"
}

echo "Building the reference chapters and the tests (log: $grade_build/build.log)"
if ! grade_make -j2 base > "$grade_build/build.log" 2>&1; then
    tail -20 "$grade_build/build.log" >&2
    echo "make grade: the reference sources or the tests do not build; this is a grader problem," \
         "not the student's (full log: $grade_build/build.log)" >&2
    exit 2
fi

# The doc section named by the chapter's first solution region, or by the
# first TODO that replaced one.
hint_of() {
    for file in "$reference_dir"/chapters/"$1"/*.c chapters/"$1"/*.c; do
        [ -f "$file" ] || continue
        hint=$(sed -n -e 's/.*BEGIN SOLUTION: .*, \([^ ,"]* "[^"]*"\) *$/\1/p' \
                      -e 's/.*TODO: write .*; read \([^ ]* "[^"]*"\)\.$/\1/p' "$file" | head -1)
        if [ -n "$hint" ]; then
            echo "$hint"
            return
        fi
    done
    echo "docs/$1.md"
}

# Check's summary line: "<n>%: Checks: <checks>, Failures: <f>, Errors: <e>".
summary_field() {
    sed -n "s/.*Checks: \([0-9]*\), Failures: \([0-9]*\), Errors: \([0-9]*\).*/\\$2/p" "$1" | tail -1
}

table="$grade_build/table.txt"
: > "$table"
total_passed=0
total_tests=0
chapters_passed=0
chapters_graded=0
grader_problem=0

row() {
    printf '%-26s %7s   %s\n' "$1" "$2" "$3" >> "$table"
    [ -z "${4:-}" ] || printf '%-26s %7s     %s\n' "" "" "$4" >> "$table"
}

for chapter in $graded; do
    chapters_graded=$((chapters_graded + 1))
    suite=$(echo "$chapter" | sed 's/^[0-9]*_//')
    log="$grade_build/$chapter.log"
    hint="read $(hint_of "$chapter")"
    runner="$grade_build/$chapter/run_tests"

    if [ ! -f tests/test_"$chapter".c ]; then
        row "$chapter" "-" "no test file tests/test_$chapter.c; nothing to grade"
        grader_problem=1
        continue
    fi

    status=""
    if ! grade_make "student-objects-$chapter" > "$log" 2>&1; then
        status="does not compile: $(grep -m1 -E ': (fatal )?error:' "$log" | cut -c1-110)"
    elif ! grade_make "$runner" >> "$log" 2>&1; then
        status="does not link with the other chapters: $(grep -m1 -E ': (fatal )?error:|undefined reference|multiple definition' "$log" |
            cut -c1-110)"
    fi
    if [ -n "$status" ]; then
        # NOTE: without a runner the total is the count of START_TEST lines,
        # which is lower than Check's count if a suite adds loop tests.
        tests=$(grep -c '^START_TEST' tests/test_"$chapter".c || true)
        total_tests=$((total_tests + tests))
        row "$chapter" "0/$tests" "$status" "$hint (build log: $log)"
        continue
    fi

    # Forked tests (Check's default) isolate crashes and time out hung tests.
    set +e
    env -u CK_RUN_CASE -u CK_INCLUDE_TAGS -u CK_EXCLUDE_TAGS -u CK_XML_LOG_FILE_NAME \
        -u CK_TAP_LOG_FILE_NAME -u CK_LOG_FILE_NAME CK_FORK=yes CK_VERBOSITY=normal CK_RUN_SUITE="$suite" \
        timeout "$GRADE_TIMEOUT" "$runner" > "$log" 2>&1
    rc=$?
    set -e
    checks=$(summary_field "$log" 1)
    if [ -z "$checks" ]; then
        if [ $rc -eq 124 ]; then
            result="timed out: the suite ran past $GRADE_TIMEOUT s"
        else
            result="the test runner stopped without a summary (exit status $rc)"
        fi
        tests=$(grep -c '^START_TEST' tests/test_"$chapter".c || true)
        total_tests=$((total_tests + tests))
        row "$chapter" "0/$tests" "$result" "$hint (log: $log)"
        continue
    fi
    failures=$(summary_field "$log" 2)
    errors=$(summary_field "$log" 3)
    passed=$((checks - failures - errors))
    total_passed=$((total_passed + passed))
    total_tests=$((total_tests + checks))
    if [ "$passed" -eq "$checks" ]; then
        chapters_passed=$((chapters_passed + 1))
        row "$chapter" "$passed/$checks" "pass"
        continue
    fi

    # Check's failure lines: file:line:F|E:tcase:test:iteration: message.
    crashes=$(grep -c ':E:.*Received signal' "$log" || true)
    timeouts=$(grep -c ':E:.*Test timeout expired' "$log" || true)
    first=$(grep -m1 '^[^:]*:[0-9]*:[FE]:' "$log" || true)
    test_name=$(echo "$first" | cut -d: -f5)
    message=$(echo "$first" | cut -d: -f7- | sed 's/^ *//')
    # A ck_assert_tensor message starts with the tensor name and carries the max error.
    tensor_error=$(echo "$message" | sed -n 's/^\([^:]*\): [0-9]* elements, \(max abs err [^,]*\).*/tensor "\1", \2/p')
    [ -n "$tensor_error" ] && message=$tensor_error
    result="FAIL"
    [ "$crashes" -eq 0 ] || result="$result, $crashes crashed"
    [ "$timeouts" -eq 0 ] || result="$result, $timeouts timed out"
    row "$chapter" "$passed/$checks" "$result; first: $test_name: $(echo "$message" | cut -c1-90)" "$hint (log: $log)"
done

echo
printf '%-26s %7s   %s\n' "chapter" "tests" "result"
cat "$table"
printf '%-26s %7s   %s\n' "total" "$total_passed/$total_tests" "$chapters_passed of $chapters_graded chapters pass"

[ $grader_problem -eq 0 ] || exit 2
[ "$total_passed" -eq "$total_tests" ] || exit 1
exit 0
