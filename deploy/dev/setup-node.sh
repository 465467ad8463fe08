#!/usr/bin/env bash
# Installs the pinned Node.js tools: the buf linter for the .proto contract and
# the gRPC client of the cross-language test (from package-lock.json).
set -euo pipefail
if ! command -v npm >/dev/null && [ "$(id -u)" = 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq && apt-get install -y -qq nodejs npm >/dev/null
fi
npm ci --silent --no-audit --no-fund
