#!/usr/bin/env bash
# Prepares a GitHub-hosted Ubuntu runner for `bash .ci/test`, which installs redis-server, java
# and the Firestore emulator itself. Only this is left: a `chromium` on PATH. Ubuntu's chromium
# package is a snap shim, so the image's Google Chrome is linked under that name instead.
set -euo pipefail

if ! command -v chromium >/dev/null 2>&1; then
  chrome="$(command -v google-chrome || command -v google-chrome-stable || true)"
  if [ -z "$chrome" ]; then
    echo "error: neither chromium nor google-chrome is installed on this runner" >&2
    exit 1
  fi
  sudo ln -sf "$chrome" /usr/local/bin/chromium
fi
