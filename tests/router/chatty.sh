#!/bin/sh
# Echoes the request and writes 1 MB to stderr at the same time as it reads.
head -c 1000000 /dev/zero | tr '\0' 'e' >&2 &
cat
wait
