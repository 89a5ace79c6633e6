#!/bin/sh
# Runs build/paligemma with the tiny-shapes model on the committed examples:
# for each line of examples/examples.tsv (image, prompt, expected answer) it
# prints the prompt, the expected and the generated answer, and the timings.
# Detection answers are also drawn, with --boxes, into build/examples/.
#
#   golden/tiny_shapes/run_examples.sh [MODEL_DIR]     (after `make`)
set -eu
here=$(dirname "$0")
model=${1:-$here/model}
binary=${PALIGEMMA:-build/paligemma}
examples=$here/examples
mkdir -p build/examples

tab=$(printf '\t')
while IFS="$tab" read -r image prompt expected; do
    boxes=""
    case $prompt in
        detect*) boxes="build/examples/${image%.png}-boxes.png" ;;
    esac
    echo "== $image: $prompt"
    echo "   expected: $expected"
    if [ -n "$boxes" ]; then
        answer=$("$binary" --model "$model" --image "$examples/$image" --prompt "$prompt" --boxes "$boxes" 2>build/examples/stderr.txt)
    else
        answer=$("$binary" --model "$model" --image "$examples/$image" --prompt "$prompt" 2>build/examples/stderr.txt)
    fi
    echo "   answer:   $answer"
    sed 's/^/   /' build/examples/stderr.txt
done < "$examples/examples.tsv"
