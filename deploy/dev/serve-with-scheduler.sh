#!/usr/bin/env bash
# `make run`'s last step: `pantau serve` in the foreground and one `pantau scheduler`
# beside it, stopped together: Ctrl-C or SIGTERM stops both (each finishes what it
# is doing), and when either stops on its own the other is stopped too.
# The scheduler's lines go to var/log/scheduler.log, so the terminal shows the
# server's. Usage: serve-with-scheduler.sh PATH_TO_PANTAU (settings from the environment).
set -u
pantau="$1"
mkdir -p var/log
"$pantau" scheduler >var/log/scheduler.log 2>&1 &
scheduler=$!
"$pantau" serve &
server=$!
stop() {
    kill -TERM "$server" "$scheduler" 2>/dev/null
}
trap stop INT TERM
echo "scheduler: running beside the server (pid $scheduler), the rules on their crons in WIB; its log: var/log/scheduler.log"
# Whichever stops first (or a signal) stops the other.
wait -n "$server" "$scheduler"
stop
wait "$server"
status=$?
wait "$scheduler"
exit "$status"
