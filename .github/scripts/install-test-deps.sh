#!/usr/bin/env bash
# Prepares a GitHub-hosted Ubuntu runner for `bash .ci/test`, which expects Debian's layout:
# - the official Firestore emulator jar under /usr/lib/google-cloud-sdk (Google's apt package
#   google-cloud-cli-firestore-emulator; the repository is added if the image lacks it);
# - a `chromium` on PATH: Ubuntu's chromium package is only a snap shim, so the image's Google
#   Chrome is linked under that name instead.
# redis-server and java are left to .ci/test (apt) and the image.
set -euo pipefail

sudo apt-get update -qq
if ! apt-cache show google-cloud-cli-firestore-emulator >/dev/null 2>&1; then
  curl -fsSL https://packages.cloud.google.com/apt/doc/apt-key.gpg |
    sudo gpg --dearmor --yes -o /usr/share/keyrings/cloud.google.gpg
  echo "deb [signed-by=/usr/share/keyrings/cloud.google.gpg] https://packages.cloud.google.com/apt cloud-sdk main" |
    sudo tee /etc/apt/sources.list.d/google-cloud-sdk.list >/dev/null
  sudo apt-get update -qq
fi
sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends google-cloud-cli-firestore-emulator

if ! command -v chromium >/dev/null 2>&1; then
  chrome="$(command -v google-chrome || command -v google-chrome-stable || true)"
  if [ -z "$chrome" ]; then
    echo "error: neither chromium nor google-chrome is installed on this runner" >&2
    exit 1
  fi
  sudo ln -sf "$chrome" /usr/local/bin/chromium
fi
