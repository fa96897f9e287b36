#!/bin/sh
# Prints each argument on its own line between brackets, then the request.
for a in "$@"; do printf '[%s]\n' "$a"; done
cat
