#!/usr/bin/env bash
# Installs what goro needs to build, test and benchmark on Debian 12 (run as root).
# Idempotent: does nothing when everything is already there.
set -euo pipefail
pkgs=(build-essential cmake ninja-build clang-14 libclang-rt-14-dev libunwind8
      libboost-context1.81-dev libboost-stacktrace1.81-dev
      libgtest-dev libbenchmark-dev)
if [[ "${1:-}" == "--bench" ]]; then
  pkgs+=(golang-go libboost-fiber1.81-dev libtbb-dev python3-matplotlib)
fi
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "goro: installing ${missing[*]}"
  SUDO=""; [[ $(id -u) -eq 0 ]] || SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi
