#!/usr/bin/env bash
# Creates the virtual environment with Python 3.11+ (installing Debian's python3
# and the build headers some pinned packages compile against, if missing).
set -euo pipefail
PYTHON="${1:-python3}"
VENV="${2:-.venv}"
need=()
command -v "$PYTHON" >/dev/null || need+=(python3 python3-venv python3-dev)
dpkg -s libicu-dev >/dev/null 2>&1 || need+=(libicu-dev)
dpkg -s pkg-config >/dev/null 2>&1 || need+=(pkg-config)
command -v g++ >/dev/null || need+=(g++)
if [ ${#need[@]} -gt 0 ] && [ "$(id -u)" = 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq && apt-get install -y -qq "${need[@]}" >/dev/null
fi
"$PYTHON" -c 'import sys; assert sys.version_info >= (3, 11), "Pantau needs Python 3.11 or newer"'
[ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"
"$VENV/bin/pip" install -q --upgrade pip==26.3
