# Shared helpers for the tests/cli_*.sh scripts (sourced, not run).
# expect_fail NAME PATTERN CMD...: CMD must exit non-zero, print exactly one line to stderr
# matching PATTERN, and not crash (no signal, no sanitizer report).
PASSED=0
FAILED=0
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

ok() { echo "ok   $1"; PASSED=$((PASSED + 1)); }
bad() { echo "FAIL $1: $2"; FAILED=$((FAILED + 1)); }

expect_fail() {
    name=$1; pattern=$2; shift 2
    "$@" >"$TMP/out" 2>"$TMP/err" </dev/null
    rc=$?
    if [ $rc -eq 0 ]; then bad "$name" "exit 0, expected an error"; return; fi
    if [ $rc -ge 128 ]; then bad "$name" "killed by signal $((rc - 128))"; cat "$TMP/err"; return; fi
    lines=$(grep -c . "$TMP/err")
    if [ "$lines" -ne 1 ]; then bad "$name" "expected one line on stderr, got $lines:"; cat "$TMP/err"; return; fi
    if ! grep -q -- "$pattern" "$TMP/err"; then bad "$name" "stderr does not match '$pattern': $(cat "$TMP/err")"; return; fi
    ok "$name"
}

expect_ok() {
    name=$1; shift
    "$@" >"$TMP/out" 2>"$TMP/err" </dev/null
    rc=$?
    if [ $rc -ne 0 ]; then bad "$name" "exit $rc: $(tail -n 3 "$TMP/err")"; return; fi
    ok "$name"
}

finish() { echo "RESULT $PASSED $FAILED"; }
