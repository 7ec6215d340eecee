#!/usr/bin/env bash
# Installs the system libraries Kiln builds against (LLVM 14's C API, OpenBLAS) when missing.
# Safe to run repeatedly; does nothing when everything is present.
set -euo pipefail
need=()
for pkg in llvm-dev libopenblas-dev pkg-config; do
  dpkg -s "$pkg" >/dev/null 2>&1 || need+=("$pkg")
done
# llvm-dev is Debian's alias for the current LLVM; Kiln needs LLVM 14's headers specifically.
[ -f /usr/lib/llvm-14/include/llvm-c/Core.h ] || need+=(llvm-14-dev)
if [ ${#need[@]} -gt 0 ]; then
  echo "installing: ${need[*]}"
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${need[@]}"
fi
command -v swift >/dev/null || { echo "error: swift is not on PATH (Kiln needs Swift 6)"; exit 1; }
