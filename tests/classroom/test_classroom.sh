#!/bin/sh
# Tests of make student and make grade, run by make test-classroom and .ci/run.
# Each check prints "ok" or "FAIL" with the reason; the script exits 1 if any
# failed. Student trees go to a temporary folder that is removed at the end.
set -u

root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
: "${MAKE:=make}"
work=$(mktemp -d "${TMPDIR:-/tmp}/pg_classroom.XXXXXX")
trap 'rm -rf "$work"' EXIT
failures=0

ok() { echo "ok   $1"; }
fail() {
    echo "FAIL $1"
    failures=$((failures + 1))
}
# expect "description" command...: the command must succeed.
expect() {
    description=$1
    shift
    if "$@" > "$work/last.log" 2>&1; then ok "$description"; else fail "$description"; tail -20 "$work/last.log"; fi
}
# grade_tree TREE LOG [VAR=value...]: runs make grade inside TREE; returns its status.
# make exits 2 whenever the recipe fails, so graded_with_failures reads the
# grader's own exit status (1: some tests failed, 2: the grader could not run)
# from make's message.
grade_tree() {
    tree=$1
    log=$2
    shift 2
    (cd "$tree" && env "$@" "$MAKE" --no-print-directory grade) > "$log" 2>&1
}
# row LOG CHAPTER: the table line of one chapter.
row() { grep "^$2 " "$1"; }
graded_with_failures() { grep -q "grade\] Error 1$" "$1"; }

marked_files=$(grep -rl "BEGIN SOLUTION:" chapters)

# ---- the markers -------------------------------------------------------------

for file in $marked_files; do
    expect "well-formed regions in $file" awk -v check=1 -f tests/classroom/blank_solutions.awk "$file"
done

for test_file in tests/test_[0-9][0-9]_*.c; do
    chapter=$(basename "$test_file" .c | sed 's/^test_//')
    if grep -qs "BEGIN SOLUTION:" chapters/"$chapter"/*.c; then
        ok "chapter $chapter has a solution region"
    else
        fail "chapter $chapter has a test but no BEGIN SOLUTION region"
    fi
done

# Every region names a file and a section (a heading or a phrase) that exist.
grep -h "BEGIN SOLUTION:" $marked_files | sed 's/.*, \([^ ,"]*\) "\([^"]*\)" *$/\1|\2/' | sort -u |
    while IFS='|' read -r file section; do
        if grep -qF "$section" "$file" 2>/dev/null; then
            echo "ok   $file contains \"$section\""
        else
            echo "FAIL a region points at $file \"$section\", which does not exist"
        fi
    done > "$work/sections.log"
cat "$work/sections.log"
failures=$((failures + $(grep -c '^FAIL' "$work/sections.log")))

# The markers are comments: without them the preprocessor gives the same tokens.
for file in $marked_files; do
    sed -e '/BEGIN SOLUTION:/,/\*\//d' -e '/END SOLUTION/d' "$file" > "$work/stripped.c"
    cp "$file" "$work/marked.c"
    dir=$(dirname "$file")
    preprocessed=yes
    for variant in marked stripped; do
        cc -E -P -Icommon -Ichapters -I"$dir" -I/usr/include/stb -I/usr/include/cjson -D_POSIX_C_SOURCE=200809L \
            "$work/$variant.c" > "$work/$variant.raw" || preprocessed=no
        grep -v '^[[:space:]]*$' "$work/$variant.raw" > "$work/$variant.i"
    done
    if [ $preprocessed = no ] || [ ! -s "$work/marked.i" ]; then
        fail "cc -E failed on $file"
    elif cmp -s "$work/marked.i" "$work/stripped.i"; then
        ok "markers compile away in $file"
    else
        fail "the markers in $file change the preprocessed source"
    fi
done

# Docs describe the exercises but never show a marker (docs/teaching.md
# documents the marker syntax itself).
leaks=$(grep -l "BEGIN SOLUTION\|END SOLUTION" docs/*.md README.md 2>/dev/null | grep -v '^docs/teaching.md$' || true)
if [ -z "$leaks" ]; then ok "no doc contains a solution marker"; else fail "solution markers in: $leaks"; fi

# ---- every chapter blanked ---------------------------------------------------

all=$work/all
expect "make student CHAPTERS=all" "$MAKE" --no-print-directory student CHAPTERS=all STUDENT_DIR="$all"
remaining=$(cd "$all" && grep -rl "BEGIN SOLUTION:" chapters || true)
if [ -z "$remaining" ]; then ok "the student tree has no solution left"; else fail "solutions left in: $remaining"; fi
expect "the student tree builds with -Werror" "$MAKE" --no-print-directory -C "$all" -j2 all

grade_tree "$all" "$work/all.grade"
status=$?
cat "$work/all.grade"
if [ $status -ne 0 ] && graded_with_failures "$work/all.grade"; then ok "grading the blank tree exits 1"; else fail "grading the blank tree: expected the grader's exit status 1"; fi
for file in $marked_files; do
    chapter=$(echo "$file" | cut -d/ -f2)
    if row "$work/all.grade" "$chapter" | grep -q " FAIL; first: "; then
        ok "blank $chapter fails"
    else
        fail "blank $chapter is not reported as failing"
    fi
done
if grep -q "crashed\|timed out\|does not compile\|does not link\|without a summary" "$work/all.grade"; then
    fail "a placeholder crashed, hung or did not build"
else
    ok "no placeholder crashed, hung or failed to build"
fi

# ---- the reference gets full marks -------------------------------------------

"$MAKE" --no-print-directory grade STUDENT_DIR=. > "$work/reference.grade" 2>&1
status=$?
tail -3 "$work/reference.grade"
chapters_marked=$(echo "$marked_files" | cut -d/ -f2 | sort -u | wc -l)
if [ $status -eq 0 ] && grep -q "^total .* $chapters_marked of $chapters_marked chapters pass" "$work/reference.grade"; then
    ok "the reference solutions get full marks"
else
    fail "grading the reference (make grade STUDENT_DIR=.) exited $status"
    cat "$work/reference.grade"
fi

# ---- a two-chapter assignment: RMSNorm and the decoder layer -------------------

tree=$work/two
expect "make student CHAPTERS=\"03 07\"" "$MAKE" --no-print-directory student CHAPTERS="03 07" STUDENT_DIR="$tree"
reference=$tree/.classroom/reference/chapters
rms_norm=chapters/03_rms_norm/rms_norm.c

# The student writes the decoder layer correctly and RMSNorm Llama-style:
# the scale is w instead of 1 + w.
cp "$reference/07_decoder_layer/decoder_layer.c" "$tree/chapters/07_decoder_layer/decoder_layer.c"
sed 's/normed \* (1\.0f + weight\[d\])/normed * weight[d]/' "$reference/03_rms_norm/rms_norm.c" > "$tree/$rms_norm"
if grep -q 'normed \* weight\[d\]' "$tree/$rms_norm"; then ok "wrong RMSNorm written"; else fail "the sed patch of $rms_norm matched nothing"; fi

grade_tree "$tree" "$work/wrong.grade"
status=$?
cat "$work/wrong.grade"
if [ $status -ne 0 ] && graded_with_failures "$work/wrong.grade"; then ok "a wrong RMSNorm fails the grade"; else fail "a wrong RMSNorm: expected the grader's exit status 1"; fi
if row "$work/wrong.grade" 03_rms_norm | grep -q 'FAIL; first: random_weights: tensor "random", max abs err'; then
    ok "the failure names the rms_norm tensor and its max error"
else
    fail "the 03_rms_norm row does not name the failing tensor"
fi
if grep -A1 "^03_rms_norm " "$work/wrong.grade" | grep -q 'read docs/03_rms_norm.md "The math"'; then
    ok "the failure points at docs/03_rms_norm.md"
else
    fail "the 03_rms_norm row has no doc hint"
fi
if row "$work/wrong.grade" 07_decoder_layer | grep -q " pass$"; then
    ok "the decoder layer passes on the reference RMSNorm"
else
    fail "the wrong RMSNorm failed the decoder layer too: chapters are not isolated"
fi

# The same tree graded from the reference repository gives the same table.
"$MAKE" --no-print-directory grade STUDENT_DIR="$tree" > "$work/teacher.grade" 2>&1
if [ "$(grep '^total' "$work/teacher.grade")" = "$(grep '^total' "$work/wrong.grade")" ]; then
    ok "grading from the reference repository agrees"
else
    fail "make grade STUDENT_DIR=... from the repository gives another total"
    cat "$work/teacher.grade"
fi

cp "$reference/03_rms_norm/rms_norm.c" "$tree/$rms_norm"
grade_tree "$tree" "$work/right.grade"
status=$?
tail -3 "$work/right.grade"
if [ $status -eq 0 ] && grep -q "^total .* 2 of 2 chapters pass" "$work/right.grade"; then
    ok "the correct RMSNorm gets full marks"
else
    fail "the correct RMSNorm: make grade exited $status"
    cat "$work/right.grade"
fi

# ---- a crash and a hang are reported, not fatal --------------------------------

tree=$work/broken
expect "make student CHAPTERS=\"03 10\"" "$MAKE" --no-print-directory student CHAPTERS="03 10" STUDENT_DIR="$tree"
{ echo '#include <signal.h>'; sed 's|^\( *\)/\* TODO: write gemma_rms_norm.*|\1raise(SIGSEGV);\n&|' "$tree/$rms_norm"; } > "$work/crash.c"
mv "$work/crash.c" "$tree/$rms_norm"
projector=chapters/10_projector/projector.c
sed 's|^\( *\)/\* TODO: write paligemma_multi_modal_projector.*|\1for (;;) {}\n&|' "$tree/$projector" > "$work/hang.c"
mv "$work/hang.c" "$tree/$projector"
# One second per test keeps the three hung projector tests short.
grade_tree "$tree" "$work/broken.grade" CK_DEFAULT_TIMEOUT=1
status=$?
cat "$work/broken.grade"
if [ $status -ne 0 ] && graded_with_failures "$work/broken.grade"; then ok "a crash and a hang grade as failures"; else fail "crash and hang: expected the grader's exit status 1"; fi
if row "$work/broken.grade" 03_rms_norm | grep -q "crashed"; then ok "a crash is reported"; else fail "the crash is not reported"; fi
if row "$work/broken.grade" 10_projector | grep -q "timed out"; then ok "a hang is reported"; else fail "the hang is not reported"; fi

echo
if [ $failures -eq 0 ]; then
    echo "classroom tests: all passed"
    exit 0
fi
echo "classroom tests: $failures failed"
exit 1
