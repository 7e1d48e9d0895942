#!/usr/bin/env bash
# Installs the Debian packages the build and the tests need, only when one is missing,
# so that a machine that has them all does no network round trip.
set -euo pipefail

packages=(libcurl4-openssl-dev zlib1g-dev libdeflate-dev libisal-dev libsqlite3-dev python3-venv kcat redis-server)
# `--tests`: also what only the tests use (a headless browser for the web UI's test).
if [[ "${1:-}" == "--tests" ]]; then
    packages+=(chromium)
fi

missing=()
for package in "${packages[@]}"; do
    status=$(dpkg-query -W -f='${Status}' "$package" 2>/dev/null || true)
    if [[ "$status" != "install ok installed" ]]; then
        missing+=("$package")
    fi
done

if [[ ${#missing[@]} -eq 0 ]]; then
    echo "deps: Debian packages present: ${packages[*]}"
    exit 0
fi

sudo=()
if [[ $(id -u) -ne 0 ]]; then
    sudo=(sudo)
fi

echo "deps: installing ${missing[*]}"
"${sudo[@]}" apt-get update
"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}"
