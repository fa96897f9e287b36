#!/bin/sh
# Escalation stand-in: answers with the request it was given, byte for byte.
exec cat
