#!/bin/sh
# Answers with bytes that are not UTF-8.
cat >/dev/null
printf 'answer \377\376 with bad bytes\n'
