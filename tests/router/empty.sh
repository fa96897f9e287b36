#!/bin/sh
# Reads the request and answers nothing.
cat >/dev/null
