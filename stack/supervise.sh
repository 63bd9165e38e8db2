#!/usr/bin/env bash
# Runs one stack server and ties its life to the Node process that started it: when that
# parent dies (even by SIGKILL) or this wrapper is signalled, the server's whole process
# group is stopped, so no orphan keeps ports or data folders busy.
# usage: supervise.sh <parent-pid> <command> [args...]
# With SUPERVISE_PID_FILE set, the server's pid (also its process group id) is written
# there, so that callers can signal the server itself (kill -9 it to inject a crash).
parent=$1
shift
pid_file=${SUPERVISE_PID_FILE:-}
unset SUPERVISE_PID_FILE
setsid "$@" &
child=$!
if [ -n "$pid_file" ]; then echo "$child" >"$pid_file.tmp" && mv -f "$pid_file.tmp" "$pid_file"; fi
stop() {
  kill -TERM -- "-$child" 2>/dev/null || kill -TERM "$child" 2>/dev/null
  for _ in $(seq 1 100); do kill -0 "$child" 2>/dev/null || exit 0; sleep 0.1; done
  kill -KILL -- "-$child" 2>/dev/null
  exit 0
}
trap stop TERM INT HUP
while kill -0 "$child" 2>/dev/null; do
  kill -0 "$parent" 2>/dev/null || stop
  sleep 1 &
  wait $!
done
wait "$child"
