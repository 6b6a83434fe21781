#!/usr/bin/env bash
# Installs what building and testing eagled needs on Debian 12, skipping what is present.
# Run as root (CI and the dev machines are). PyTorch and friends are NOT needed to build
# or test: see Tools/requirements.txt for regenerating fixtures.
set -euo pipefail

apt_packages=(libopenblas-dev libprotobuf-c-dev protobuf-c-compiler protobuf-compiler pkg-config
              make gcc binutils systemd python3)
missing=()
for p in "${apt_packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "installing: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# The Python binding's tests: pytest and setuptools for whichever python3 is first on PATH.
python3 -c "import pytest, setuptools" 2>/dev/null || python3 -m pip install -q pytest setuptools
