#!/usr/bin/env bash
# scripts/peers/registry.sh start | stop | status
#
# Debian's docker-registry (distribution) on http://127.0.0.1:$REGISTRY_PORT: plain HTTP, no
# auth, blobs under $PEERS_ROOT/registry. The docker-trust interop test pushes a tiny image
# to it (push-image.sh). start is idempotent and waits for GET /v2/ to answer 200; stop
# signals only the pid in $PEERS_ROOT/run/registry.pid. Log: $PEERS_ROOT/run/registry.log.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

PID=$RUN/registry.pid
URL=http://127.0.0.1:$REGISTRY_PORT

answers() { [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$URL/v2/")" = 200 ]; }

case ${1:-} in
  start)
    command -v docker-registry >/dev/null || fail "docker-registry not found (run scripts/peers/install.sh)"
    "$PEERS_SCRIPTS/configure.sh"
    running "$PID" && answers && exit 0
    halt "$PID"
    listening "$REGISTRY_PORT" && fail "127.0.0.1:$REGISTRY_PORT is taken by a process not started here"
    spawn registry docker-registry serve "$CONF/docker-registry.yml"
    await registry "$PID" answers
    ;;
  stop) halt "$PID" ;;
  status)
    if running "$PID" && answers; then echo "registry: up on $URL"; else
      echo "registry: down"
      exit 1
    fi
    ;;
  *) fail "usage: registry.sh start | stop | status" ;;
esac
