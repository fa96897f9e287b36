#!/bin/sh
# Answers with 3 MB, over the default cap of 1 MiB.
cat >/dev/null
head -c 3000000 /dev/zero | tr '\0' 'a'
