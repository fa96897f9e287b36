#!/bin/sh
# Reads a few bytes, closes its stdin, then answers: the rest of the request is never read.
head -c 10 >/dev/null
exec 0<&-
sleep 0.3
echo "answer from a partial request"
