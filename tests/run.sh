#!/bin/sh
# Runs every test program in $BUILD/tests and every tests/cli_*.sh script, adds up their
# "RESULT passed failed" lines and ends with "N passed, N failed".
BUILD=${BUILD:-build}
SLM=${SLM:-./slm}
export SLM
passed=0
failed=0
for t in "$BUILD"/tests/test_* tests/cli_*.sh; do
    [ -f "$t" ] || continue
    case "$t" in *.o|*.d|*/cli_lib.sh) continue ;; esac
    echo "== $t"
    case "$t" in
        # the CLI exits through die() with its buffers still allocated: not leaks worth reporting
        *.sh) out=$(ASAN_OPTIONS="${ASAN_OPTIONS:-}:detect_leaks=0" sh "$t" 2>&1) ;;
        *) out=$("$t" 2>&1) ;;
    esac
    rc=$?
    echo "$out" | grep -v '^RESULT '
    res=$(echo "$out" | grep '^RESULT ' | tail -n 1)
    if [ -z "$res" ]; then
        echo "FAIL $t ended without a RESULT line (exit $rc)"
        failed=$((failed + 1))
        continue
    fi
    p=$(echo "$res" | cut -d' ' -f2)
    f=$(echo "$res" | cut -d' ' -f3)
    passed=$((passed + p))
    failed=$((failed + f))
    if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
        echo "FAIL $t exited with $rc"
        failed=$((failed + 1))
    fi
done
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
