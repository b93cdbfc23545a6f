#!/usr/bin/env bash
# The browser tests drive Debian's Chromium (never a downloaded browser) and Dawn needs the
# Vulkan loader to find SwiftShader. Install both with apt when missing, if we can.
set -euo pipefail
browser="${CHROMIUM_PATH:-/usr/bin/chromium}"
if [ -x "$browser" ] && ldconfig -p 2>/dev/null | grep -q libvulkan.so.1; then exit 0; fi
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "installing Debian's chromium and libvulkan1 for the browser tests..." >&2
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium libvulkan1 >/dev/null
  exit 0
fi
echo "The browser tests need Debian's Chromium at $browser and libvulkan1: apt-get install -y chromium libvulkan1 (or set CHROMIUM_PATH)." >&2
exit 1
