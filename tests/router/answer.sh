#!/bin/sh
# A well-behaved remote model: reads the whole request, answers on stdout.
n=$(wc -c)
printf 'remote answer to %s bytes\n' "$n"
