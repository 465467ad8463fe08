#!/usr/bin/env bash
# Makes Debian's Chromium ready for the report's browser tests (tests/e2e/test_report_page.py)
# and the README's screenshot, as root: installs the `chromium` package if it is missing.
# Playwright (a pinned dev dependency) drives this browser; it never downloads one of its
# own (exchange_service/tools/browser.py launches /usr/bin/chromium). Safe to run again.
set -euo pipefail

if ! command -v chromium >/dev/null; then
  echo "setup-browser: installing chromium"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq chromium >/dev/null
fi
echo "setup-browser: $(dpkg-query -W -f='${Package} ${Version}' chromium 2>/dev/null || command -v chromium) ready"
