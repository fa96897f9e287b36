#!/bin/sh
# Never answers: starts a background sleep (its pid goes to $1) and waits for it.
cat >/dev/null
sleep 30 &
echo $! >"$1"
wait
