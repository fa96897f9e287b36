#!/bin/sh
# Reads the request, complains on stderr and exits with status 3.
cat >/dev/null
echo "backend unavailable" >&2
exit 3
