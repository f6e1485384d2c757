#!/usr/bin/env bash
# scripts/peers/push-image.sh REPOSITORY TAG
#
# Pushes a one-layer image to the registry on 127.0.0.1:$REGISTRY_PORT with curl alone (no
# docker daemon) and prints what a signer needs, as the registry serves it:
#     <REPOSITORY>:<TAG> sha256:<manifest digest> <manifest size> <media type>
# The image is built from fixed bytes (file mode, owner, times and gzip header included), so
# the digest is the same on every machine; tests/interop/expected/docker-trust.txt records it.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
[ $# -eq 2 ] || fail "usage: push-image.sh REPOSITORY TAG"
repo=$1
tag=$2
registry=http://127.0.0.1:$REGISTRY_PORT/v2/$repo
manifest_type=application/vnd.docker.distribution.manifest.v2+json

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# the layer: one file, everything about it pinned
mkdir "$work/fs"
echo 'Signet interop test image' >"$work/fs/README"
tar -C "$work/fs" --format=gnu --mtime=@0 --owner=0 --group=0 --numeric-owner --mode=0644 \
  -cf "$work/layer.tar" README
gzip -9 -n <"$work/layer.tar" >"$work/layer.tgz"

digest() { echo "sha256:$(sha256sum "$1" | cut -d' ' -f1)"; }
bytes() { stat -c %s "$1"; }

printf '{"architecture":"amd64","os":"linux","config":{"Cmd":["/README"]},"rootfs":{"type":"layers","diff_ids":["%s"]}}' \
  "$(digest "$work/layer.tar")" >"$work/config.json"
printf '{"schemaVersion":2,"mediaType":"%s","config":{"mediaType":"application/vnd.docker.container.image.v1+json","size":%s,"digest":"%s"},"layers":[{"mediaType":"application/vnd.docker.image.rootfs.diff.tar.gzip","size":%s,"digest":"%s"}]}' \
  "$manifest_type" "$(bytes "$work/config.json")" "$(digest "$work/config.json")" \
  "$(bytes "$work/layer.tgz")" "$(digest "$work/layer.tgz")" >"$work/manifest.json"

# upload FILE: a blob, unless the registry has it already (a monolithic upload: POST opens
# a session, one PUT with ?digest= closes it)
upload() {
  local file=$1 dgst location status
  dgst=$(digest "$file")
  status=$(curl -s -o /dev/null -w '%{http_code}' -I "$registry/blobs/$dgst")
  [ "$status" = 200 ] && return 0
  location=$(curl -sSf -X POST -o /dev/null -D - "$registry/blobs/uploads/" |
    tr -d '\r' | sed -n 's/^[Ll]ocation: *//p')
  [ -n "$location" ] || fail "the registry opened no upload session for $repo"
  case $location in /*) location=http://127.0.0.1:$REGISTRY_PORT$location ;; esac
  case $location in *\?*) location="$location&digest=$dgst" ;; *) location="$location?digest=$dgst" ;; esac
  status=$(curl -s -o "$work/response" -w '%{http_code}' -X PUT \
    -H 'Content-Type: application/octet-stream' --data-binary "@$file" "$location")
  [ "$status" = 201 ] || fail "blob upload of $dgst: HTTP $status $(cat "$work/response")"
}
upload "$work/config.json"
upload "$work/layer.tgz"

status=$(curl -s -o "$work/response" -w '%{http_code}' -X PUT -H "Content-Type: $manifest_type" \
  --data-binary "@$work/manifest.json" "$registry/manifests/$tag")
[ "$status" = 201 ] || fail "manifest upload: HTTP $status $(cat "$work/response")"

# read back what the registry serves for the tag and check it is what was sent
headers=$(curl -sSf -I -H "Accept: $manifest_type" "$registry/manifests/$tag" | tr -d '\r')
served_digest=$(sed -n 's/^[Dd]ocker-[Cc]ontent-[Dd]igest: *//p' <<<"$headers")
served_size=$(sed -n 's/^[Cc]ontent-[Ll]ength: *//p' <<<"$headers")
[ "$served_digest" = "$(digest "$work/manifest.json")" ] ||
  fail "registry serves $served_digest for $repo:$tag, expected $(digest "$work/manifest.json")"
[ "$served_size" = "$(bytes "$work/manifest.json")" ] ||
  fail "registry serves $served_size bytes for $repo:$tag, expected $(bytes "$work/manifest.json")"
echo "$repo:$tag $served_digest $served_size $manifest_type"
