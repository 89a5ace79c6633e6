# Replaces each marked solution region of a C source with its placeholder.
#
# A region in the reference source reads:
#
#     /* BEGIN SOLUTION: gemma_rms_norm, docs/03_rms_norm.md "The math"
#      * Student placeholder:
#      *     for (size_t i = 0; i < (size_t)T * D; i++)
#      *         out[i] = 0.0f;
#      *     (void)x; (void)weight; (void)eps;
#      */
#     ...the solution...
#     /* END SOLUTION */
#
# and becomes, at the indentation of the BEGIN line:
#
#     /* TODO: write gemma_rms_norm; read docs/03_rms_norm.md "The math".
#      * This placeholder compiles but fails the golden test. */
#     for (size_t i = 0; i < (size_t)T * D; i++)
#         out[i] = 0.0f;
#     (void)x; (void)weight; (void)eps;
#
# The placeholder lines lose the " * " of the comment and 4 spaces of
# indentation. With -v check=1 nothing is printed: the program only checks
# that every region is well formed. Exits 1 with file:line: message on the
# first malformed region.

function fail(message) {
    printf "%s:%d: %s\n", FILENAME, FNR, message > "/dev/stderr"
    failed = 1
    exit 1
}

function emit(line) {
    if (!check)
        print line
}

BEGIN { state = "code" }

state == "code" && /BEGIN SOLUTION:/ {
    match($0, /^[ \t]*/)
    indent = substr($0, 1, RLENGTH)
    begin_line = FNR
    rest = $0
    sub(/.*BEGIN SOLUTION:[ \t]*/, "", rest)
    # <title>, <file> "<section>": the title may contain commas, the file not.
    if (!match(rest, /, [^ ,"]+ "[^"]+"[ \t]*$/))
        fail("expected /* BEGIN SOLUTION: <title>, <file> \"<section>\" on one line")
    title = substr(rest, 1, RSTART - 1)
    where = substr(rest, RSTART + 2)
    sub(/[ \t]*$/, "", where)
    num_placeholder_lines = 0
    in_placeholder = 0
    state = "header"
    next
}

state == "header" {
    if ($0 ~ /\*\//) {
        if (!in_placeholder)
            fail("the BEGIN SOLUTION comment needs a \"Student placeholder:\" line before its */")
        state = "solution"
        next
    }
    if ($0 ~ /^[ \t]*\* Student placeholder:[ \t]*$/) {
        in_placeholder = 1
        next
    }
    if (!in_placeholder)
        fail("expected \" * Student placeholder:\" on the line after BEGIN SOLUTION")
    line = $0
    if (!sub(/^[ \t]*\* ?/, "", line))
        fail("a placeholder line must start with \" * \"")
    sub(/^    /, "", line)
    placeholder[++num_placeholder_lines] = line
    next
}

state == "solution" {
    if ($0 ~ /BEGIN SOLUTION:/)
        fail("BEGIN SOLUTION inside the region opened at line " begin_line "; regions do not nest")
    if ($0 ~ /END SOLUTION/) {
        emit(indent "/* TODO: write " title "; read " where ".")
        emit(indent " * This placeholder compiles but fails the golden test. */")
        for (i = 1; i <= num_placeholder_lines; i++)
            emit(placeholder[i] == "" ? "" : indent placeholder[i])
        regions++
        state = "code"
    }
    next
}

/END SOLUTION/ { fail("END SOLUTION without a BEGIN SOLUTION before it") }

{ emit($0) }

END {
    if (failed)
        exit 1
    if (state != "code") {
        printf "%s:%d: BEGIN SOLUTION has no END SOLUTION\n", FILENAME, begin_line > "/dev/stderr"
        exit 1
    }
}
