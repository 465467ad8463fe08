#!/usr/bin/env bash
# `make run`'s last step: `pantau serve` in the foreground and one `pantau scheduler`
# beside it, stopped together. Ctrl-C reaches both (the terminal signals the whole
# job), and each finishes what it is doing; SIGTERM to this script is passed on; when
# either stops on its own the other is stopped too. The scheduler's lines go to
# var/log/scheduler.log, so the terminal shows the server's.
# With PANTAU_DEV_EXCHANGE=1 (`make run`) it also starts the alert exchange: the two
# reference receivers of agency_adapters (the police's AlertReceiverService on
# PANTAU_DEV_POLICE_LISTEN, default 127.0.0.1:7601; the regional government's
# Standard Webhooks endpoint on PANTAU_DEV_REGION_LISTEN, default 127.0.0.1:7602),
# each verifying and storing what it receives under var/receivers/, and one
# `pantau deliver` worker pushing the feeds to them (and the CAP directory);
# their logs are in var/log/. They stop with the rest.
# Usage: serve-with-scheduler.sh PATH_TO_PANTAU (settings from the environment).
set -u
pantau="$1"
python="$(dirname "$pantau")/python"
mkdir -p var/log
exchange=()
if [ "${PANTAU_DEV_EXCHANGE:-}" = 1 ]; then
    mkdir -p var/receivers
    "$pantau" keys jwks --out var/receivers/jwks.json >/dev/null || exit 1
    "$python" -m agency_adapters.receivers police \
        --listen "${PANTAU_DEV_POLICE_LISTEN:-127.0.0.1:7601}" \
        --cert var/pki/server.crt --key var/pki/server.key --ca var/pki/ca.crt \
        --jwks var/receivers/jwks.json --store var/receivers/polres-anambas \
        --agency polres-anambas >var/log/receiver-police.log 2>&1 &
    exchange+=($!)
    "$python" -m agency_adapters.receivers webhook \
        --listen "${PANTAU_DEV_REGION_LISTEN:-127.0.0.1:7602}" \
        --cert var/pki/server.crt --key var/pki/server.key \
        --jwks var/receivers/jwks.json --store var/receivers/pemkab-anambas \
        --agency pemkab-anambas >var/log/receiver-webhook.log 2>&1 &
    exchange+=($!)
    "$pantau" deliver >var/log/deliver.log 2>&1 &
    exchange+=($!)
    echo "alert exchange: a delivery worker pushes the signed feeds to the police's reference receiver"
    echo "  (gRPC, mutual TLS) and the regional government's (Standard Webhooks, HTTPS), which verify"
    echo "  each entry and log it: var/log/receiver-police.log, var/log/receiver-webhook.log; what they"
    echo "  accepted is in var/receivers/; the CAP documents in var/feeds/pemkab-anambas/cap/;"
    echo "  the worker's log var/log/deliver.log, its lanes: $pantau deliver status"
fi
"$pantau" scheduler >var/log/scheduler.log 2>&1 &
scheduler=$!
"$pantau" serve &
server=$!
# The scheduler and the exchange first, so that the server's audit writer, closing
# last, chains the audit events of their last runs and deliveries.
stop() {
    kill -TERM "$scheduler" "${exchange[@]}" 2>/dev/null
    wait "$scheduler" "${exchange[@]}" 2>/dev/null
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
