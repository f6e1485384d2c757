#!/usr/bin/env bash
# scripts/peers/down.sh: stop every peer up.sh started (notary-server, notary-signer, the
# private PostgreSQL of postgres mode, the registry, the tests' PostgreSQL if postgres.sh
# started its own). $PEERS_ROOT itself stays, certificates included; delete it by hand for
# a clean slate.
set -euo pipefail
here=$(dirname "$0")
"$here/notary.sh" stop
"$here/registry.sh" stop
"$here/postgres.sh" stop
