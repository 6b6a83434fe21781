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

# The Python binding's tests: pytest, and setuptools + wheel for building the package
# without build isolation (a stock Debian/pyenv Python has setuptools 65 but no `wheel`,
# and then `pip install --no-build-isolation` dies with "invalid command 'bdist_wheel'").
python3 -c "import pytest, setuptools, wheel" 2>/dev/null || python3 -m pip install -q pytest setuptools wheel

# `make bench` writes a synthetic checkpoint with numpy and verifies it with safetensors.
if [ "${1:-}" = "--bench" ]; then
    python3 -c "import numpy, safetensors" 2>/dev/null || python3 -m pip install -q numpy safetensors
fi
