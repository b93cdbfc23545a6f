#!/usr/bin/env bash
# The fp16 tests run onnxruntime-node's WebGPU device (Dawn) on Mesa's lavapipe, a software Vulkan
# driver with shader-f16. Debian 12's own Mesa (22) is too old for Dawn; bookworm-backports has 25.
# Installs it when missing, if we can; the tests that need it say so and skip without it.
set -euo pipefail
icd=/usr/share/vulkan/icd.d/lvp_icd.json # Mesa 25 names it without the architecture
have_new_mesa() {
  local v
  v="$(dpkg-query -W -f='${Version}' mesa-vulkan-drivers 2>/dev/null || true)"
  [ -f "$icd" ] && [ -n "$v" ] && dpkg --compare-versions "$v" ge 25
}
if have_new_mesa; then exit 0; fi
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 && grep -q bookworm /etc/os-release 2>/dev/null; then
  echo "installing Mesa's lavapipe from bookworm-backports for the fp16 WebGPU tests..." >&2
  if ! grep -rqs bookworm-backports /etc/apt/sources.list /etc/apt/sources.list.d/; then
    cat > /etc/apt/sources.list.d/bookworm-backports.sources <<'SOURCES'
Types: deb
URIs: http://deb.debian.org/debian
Suites: bookworm-backports
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SOURCES
  fi
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq -t bookworm-backports mesa-vulkan-drivers libvulkan1 >/dev/null
  have_new_mesa && exit 0
fi
echo "Mesa 25's lavapipe is not installed: the fp16 WebGPU tests in Node will be skipped (Debian 12: apt-get install -t bookworm-backports mesa-vulkan-drivers)." >&2
exit 0
