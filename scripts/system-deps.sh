#!/usr/bin/env bash
# Debian packages the test suite uses: espeak-ng (speech for transcription tests), binutils (objdump, for
# the check that no bundled server binary needs AVX-512), gcc (its AVX-512 sample) and Chromium (the
# console's browser test, driven by Playwright with executable_path). Installed only when
# missing; needs root (CI runs as root). Everything else comes from PyPI.
set -euo pipefail
missing=()
command -v espeak-ng >/dev/null 2>&1 || missing+=(espeak-ng)
command -v objdump >/dev/null 2>&1 || missing+=(binutils)
command -v cc >/dev/null 2>&1 || missing+=(gcc)  # the AVX-512 sample of that check; llama.cpp's build
[ -x /usr/bin/chromium ] || missing+=(chromium)
[ -x /usr/bin/chromedriver ] || missing+=(chromium-driver)
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
  echo "system-deps: missing ${missing[*]}; install them with: sudo apt-get install -y ${missing[*]}" >&2
  exit 0
fi
export DEBIAN_FRONTEND=noninteractive
apt-get install -y --no-install-recommends "${missing[@]}" >/dev/null 2>&1 || {
  apt-get update >/dev/null && apt-get install -y --no-install-recommends "${missing[@]}" >/dev/null
}
