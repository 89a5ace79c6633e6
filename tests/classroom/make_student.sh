#!/bin/sh
# Writes a student tree: a copy of the repository's tracked files in which
# the solution regions of the chosen chapters are replaced by placeholders
# (classroom/blank_solutions.awk). See docs/teaching.md.
#
#   tests/classroom/make_student.sh STUDENT_DIR "03 07"    blank chapters 3 and 7
#   tests/classroom/make_student.sh STUDENT_DIR all        blank every marked chapter
#
# Besides the copy, it writes STUDENT_DIR/.classroom/:
#   assignment   the blanked chapters and where the tree came from
#   reference/   the original sources of the blanked files, which make grade
#                links in place of a chapter that is not being graded
set -eu

usage='usage: make student CHAPTERS="03 07" [STUDENT_DIR=student]   (or CHAPTERS=all)'
[ $# -eq 2 ] || { echo "$usage" >&2; exit 2; }
student_dir=$1
chapters=$2

root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
awk_program=tests/classroom/blank_solutions.awk

if [ -e .classroom/assignment ]; then
    echo "make student: $root is itself a student tree (it has .classroom/assignment);" \
         "run make student in the reference repository" >&2
    exit 2
fi
if [ -z "$chapters" ]; then
    echo "make student: CHAPTERS is empty; $usage" >&2
    exit 2
fi
if [ -z "$student_dir" ]; then
    echo "make student: STUDENT_DIR is empty; $usage" >&2
    exit 2
fi

# The chapter folders with at least one solution region.
marked_chapters() {
    for dir in chapters/[0-9][0-9]_*/; do
        dir=${dir%/}
        if grep -qs "BEGIN SOLUTION:" "$dir"/*.c "$dir"/*.h; then
            echo "$dir"
        fi
    done
}

# Resolve "3", "03" or "03_rms_norm" to chapters/03_rms_norm.
selected=""
if [ "$chapters" = all ]; then
    selected=$(marked_chapters)
else
    for chapter in $chapters; do
        number=${chapter%%_*}
        case $number in
        [0-9]) number=0$number ;;
        [0-9][0-9]) ;;
        *) echo "make student: chapter '$chapter' is not a chapter number such as 03; $usage" >&2; exit 2 ;;
        esac
        set -- chapters/"$number"_*/
        if [ ! -d "$1" ]; then
            echo "make student: no folder chapters/${number}_*; the chapters are:" \
                 $(ls -d chapters/[0-9][0-9]_* | sed 's|chapters/||') >&2
            exit 2
        fi
        dir=${1%/}
        if ! grep -qs "BEGIN SOLUTION:" "$dir"/*.c "$dir"/*.h; then
            echo "make student: $dir has no BEGIN SOLUTION region, so there is nothing to blank;" \
                 "mark one first (docs/teaching.md, \"Adding a chapter, or marking more code\")" >&2
            exit 2
        fi
        selected="$selected $dir"
    done
fi
selected=$(printf '%s\n' $selected | sort -u)

# Never write into a folder that is not empty: it may contain a student's work.
if [ -e "$student_dir" ] && [ -n "$(ls -A "$student_dir" 2>/dev/null)" ]; then
    echo "make student: $student_dir exists and is not empty; remove it or choose another STUDENT_DIR" >&2
    exit 2
fi
mkdir -p "$student_dir"
student_dir=$(cd "$student_dir" && pwd)
case $student_dir/ in
"$root"/chapters/* | "$root"/common/* | "$root"/tests/* | "$root"/golden/* | "$root"/docs/*)
    echo "make student: STUDENT_DIR $student_dir is inside a source folder; choose a path outside them" >&2
    exit 2 ;;
esac

# Copy the tracked files (with their working-tree contents). Without git,
# copy everything but the build outputs.
if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
    git ls-files -z | xargs -0 sh -c 'for f; do [ -f "$f" ] && printf "%s\0" "$f"; done' sh |
        tar --null -T - -cf - | tar -C "$student_dir" -xf -
    origin="$root (commit $(git rev-parse --short HEAD)$(git diff --quiet HEAD -- 2>/dev/null || echo ', with uncommitted changes'))"
else
    tar --exclude=./build --exclude=./student --exclude=./.git -cf - . | tar -C "$student_dir" -xf -
    origin="$root (not a git checkout)"
fi

# Blank the solution regions of the chosen chapters, keeping the originals.
mkdir -p "$student_dir/.classroom/reference"
for dir in $selected; do
    mkdir -p "$student_dir/.classroom/reference/$dir"
    for file in $(grep -ls "BEGIN SOLUTION:" "$dir"/*.c "$dir"/*.h); do
        awk -f "$awk_program" "$file" > "$student_dir/$file"
    done
    # The whole chapter folder goes to the reference (its .c files include
    # their own headers), so that grading can link the chapter from there.
    cp "$dir"/*.c "$dir"/*.h "$student_dir/.classroom/reference/$dir/"
done

numbers=$(for dir in $selected; do basename "$dir" | cut -c1-2; done | tr '\n' ' ' | sed 's/ $//')
cat > "$student_dir/.classroom/assignment" <<END
# Written by make student; make grade reads the chapters line.
chapters: $numbers
made from: $origin
END

echo "Wrote the student tree $student_dir with chapters $numbers blanked."
echo "Students implement the TODO regions and run: make grade"
echo "NOTE: $student_dir/.classroom/reference holds the solutions, so that make grade can isolate each chapter;"
echo "      hand out the tree without it only if you grade from here: make grade STUDENT_DIR=$student_dir"
