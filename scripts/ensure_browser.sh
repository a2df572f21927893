#!/usr/bin/env bash
# The browser tests drive Debian's Chromium with Playwright (Playwright's own browser download is not used).
# Installs Debian's 'chromium' package when it is missing and prints the browser's path; a missing browser fails.
set -euo pipefail
if [ -n "${CHROMIUM_PATH:-}" ]; then
  [ -x "$CHROMIUM_PATH" ] && { echo "$CHROMIUM_PATH"; exit 0; }
  echo "CHROMIUM_PATH=$CHROMIUM_PATH is not an executable browser: the browser tests cannot run." >&2
  exit 1
fi
find_chromium() { command -v chromium 2>/dev/null; }
if path="$(find_chromium)"; then echo "$path"; exit 0; fi
if [ "$(id -u)" -ne 0 ]; then
  echo "Chromium is missing and this user cannot install it: install Debian's 'chromium' package (apt-get install chromium)." >&2
  exit 1
fi
echo "installing Chromium (Debian package 'chromium')" >&2
export DEBIAN_FRONTEND=noninteractive
if ! { apt-get update -qq && apt-get install -y -qq --no-install-recommends chromium >/dev/null; }; then
  echo "Chromium is missing and 'apt-get install chromium' failed: the browser tests cannot run." >&2
  exit 1
fi
if ! path="$(find_chromium)"; then
  echo "Chromium is missing after installing Debian's 'chromium' package: the browser tests cannot run." >&2
  exit 1
fi
echo "$path"
