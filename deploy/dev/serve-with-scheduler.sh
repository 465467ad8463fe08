#!/usr/bin/env bash
# `make run`'s last step: `pantau serve` in the foreground and one `pantau scheduler`
# beside it, stopped together. Ctrl-C reaches both (the terminal signals the whole
# job), and each finishes what it is doing; SIGTERM to this script is passed on; when
# either stops on its own the other is stopped too. The scheduler's lines go to
# var/log/scheduler.log, so the terminal shows the server's.
# Usage: serve-with-scheduler.sh PATH_TO_PANTAU (settings from the environment).
set -u
pantau="$1"
mkdir -p var/log
"$pantau" scheduler >var/log/scheduler.log 2>&1 &
scheduler=$!
"$pantau" serve &
server=$!
# The scheduler first, so that the server's audit writer, closing last, chains the
# audit events of the scheduler's last runs.
stop() {
    kill -TERM "$scheduler" 2>/dev/null
    wait "$scheduler" 2>/dev/null
    kill -TERM "$server" 2>/dev/null
}
interrupted=""
trap 'interrupted=1' INT  # both processes have the terminal's SIGINT themselves
trap 'interrupted=1; stop' TERM
echo "scheduler: running beside the server (pid $scheduler), the rules on their crons in WIB; its log: var/log/scheduler.log"
wait -n "$server" "$scheduler"
if [ -z "$interrupted" ]; then
    stop  # one of them stopped on its own
fi
wait "$server"
status=$?
wait "$scheduler" 2>/dev/null
exit "$status"
