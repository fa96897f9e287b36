#!/bin/sh
# Dies by SIGSEGV after reading the request.
cat >/dev/null
kill -SEGV $$
