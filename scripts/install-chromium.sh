#!/usr/bin/env bash
# Installs Debian's Chromium for the dashboard's browser tests (test/browser-*.test.ts), which drive it
# with playwright-core; Playwright's own browser download is never used (no network but the registries).
# Idempotent: does nothing when /usr/bin/chromium exists. `apt-get update` runs only when the
# package is not known yet, so a machine with fresh lists installs without touching them.
set -euo pipefail

if [ -x /usr/bin/chromium ]; then
  echo "chromium: already installed ($(/usr/bin/chromium --version 2>/dev/null || echo 'version unknown'))"
  exit 0
fi

export DEBIAN_FRONTEND=noninteractive
if ! apt-cache show chromium >/dev/null 2>&1; then
  apt-get update -qq
fi
apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core >/dev/null
echo "chromium: installed ($(/usr/bin/chromium --version 2>/dev/null || echo 'version unknown'))"
