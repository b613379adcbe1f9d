#!/usr/bin/env bash
# The browser tests (tests/browser/) drive Debian's Chromium at /usr/bin/chromium; install it when missing.
# Never a browser download by Playwright: only the distribution's package, through apt.
set -euo pipefail

CHROMIUM=/usr/bin/chromium

if [[ -x "$CHROMIUM" ]]; then
    exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
    echo "ensure_chromium: $CHROMIUM is missing and this machine has no apt-get." >&2
    echo "Install Chromium so that $CHROMIUM exists, then run make test again." >&2
    exit 1
fi

if [[ "$(id -u)" -ne 0 ]]; then
    if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
        SUDO=(sudo -n)
    else
        echo "ensure_chromium: $CHROMIUM is missing and installing it needs root." >&2
        echo "Run: sudo apt-get update && sudo apt-get install -y chromium   (then make test again)" >&2
        exit 1
    fi
else
    SUDO=()
fi

echo "ensure_chromium: installing Debian's chromium package for the browser tests"
"${SUDO[@]}" apt-get update
DEBIAN_FRONTEND=noninteractive "${SUDO[@]}" apt-get install -y chromium

if [[ ! -x "$CHROMIUM" ]]; then
    echo "ensure_chromium: apt-get installed chromium but $CHROMIUM is still missing." >&2
    exit 1
fi
