#!/usr/bin/env bash
# scripts/peers/install.sh: install the Debian packages the test suite needs.
#
#   notary                          the Go notary-server, notary-signer and notary CLI (0.7)
#   docker-registry                 the registry the docker-trust interop test pushes to
#   postgresql                      the 5432 cluster the tests use, and notary's postgres mode
#   golang-github-docker-notary-dev notary's Go source; signet-core's tests read its fixtures
#   openssl curl jq ca-certificates perl   used by these scripts and the interop scripts
#   softhsm2                        a software PKCS#11 token for the signer's and the client's
#                                   token-backed keys (the tests make their own tokens)
#
# Installs only what is missing (`apt-get update` first, only then). Needs root when
# something is missing; quiet on success. Not installed here: the docker CLI (28.x, see
# README.md) and the Rust toolchain.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

packages=(notary docker-registry postgresql golang-github-docker-notary-dev
  openssl curl jq ca-certificates perl softhsm2)

missing=()
for p in "${packages[@]}"; do
  status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
  [ "$status" = "install ok installed" ] || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

[ "$(id -u)" = 0 ] || fail "needs root to install: ${missing[*]}"
note "installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
