#!/usr/bin/env bash
# scripts/peers/up.sh [memory|postgres|local]: everything the test suite needs from the
# peers, in one go: install the Debian packages (root, only when missing), lay out
# $PEERS_ROOT, start the tests' PostgreSQL (127.0.0.1:5432), the Go notary stack in the
# given mode (default memory) and the registry. Idempotent: peers already running as asked
# are left alone. Undo with scripts/peers/down.sh.
set -euo pipefail
here=$(dirname "$0")
"$here/install.sh"
"$here/configure.sh"
"$here/postgres.sh" start
"$here/notary.sh" start "${1:-memory}"
"$here/registry.sh" start
