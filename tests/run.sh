#!/bin/sh
# Runs every test program in $BUILD/tests and every tests/cli_*.sh script, then the model fixtures once
# more with the AVX2 kernels (SLM_ISA=avx2: the narrower paths, and NF4 prompts in float, checked against
# transformers too), adds up their "RESULT passed failed" lines and ends with "N passed, N failed".
BUILD=${BUILD:-build}
SLM=${SLM:-./slm}
export SLM
passed=0
failed=0

# run NAME COMMAND...: one program or script, its RESULT line added to the totals
run() {
    name=$1
    shift
    echo "== $name"
    case "$name" in
        # the CLI exits through die() with its buffers still allocated: not leaks worth reporting
        *.sh) out=$(ASAN_OPTIONS="${ASAN_OPTIONS:-}:detect_leaks=0" "$@" 2>&1) ;;
        *) out=$("$@" 2>&1) ;;
    esac
    rc=$?
    echo "$out" | grep -v '^RESULT '
    res=$(echo "$out" | grep '^RESULT ' | tail -n 1)
    if [ -z "$res" ]; then
        echo "FAIL $name ended without a RESULT line (exit $rc)"
        failed=$((failed + 1))
        return
    fi
    p=$(echo "$res" | cut -d' ' -f2)
    f=$(echo "$res" | cut -d' ' -f3)
    passed=$((passed + p))
    failed=$((failed + f))
    if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
        echo "FAIL $name exited with $rc"
        failed=$((failed + 1))
    fi
}

for t in "$BUILD"/tests/test_* tests/cli_*.sh; do
    [ -f "$t" ] || continue
    case "$t" in
        *.o | *.d | */cli_lib.sh) continue ;;
        *.sh) run "$t" sh "$t" ;;
        *) run "$t" "$t" ;;
    esac
done
if [ -f "$BUILD/tests/test_model" ]; then
    run "SLM_ISA=avx2 $BUILD/tests/test_model" env SLM_ISA=avx2 "$BUILD/tests/test_model"
fi
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
