#!/usr/bin/env bash
# deploy/image/build.sh SIGNET_BINARY LAYOUT TAG: a minimal OCI image of `signet` in the OCI
# image layout directory LAYOUT (created if missing), tagged TAG, built with umoci: no Docker
# daemon, no base image, nothing fetched.
#
# The image holds the given binary (stripped of debug information), the shared libraries it
# links to (as `ldd` finds them on this machine: glibc and libgcc_s), /etc/passwd and
# /etc/group with the user `signet` (65532), /var/lib/signet (its state and, by default, its
# SQLite database; a volume) and /tmp. It runs `signet server` as that user on :4443, TLS
# from a local CA it generates unless SIGNET_SERVER_SERVER_TLS_CERT_FILE/_KEY_FILE are set;
# the key passphrase comes from SIGNET_KEY_PASSPHRASE or
# SIGNET_SERVER_TRUST_SERVICE_KEY_PASSPHRASE_FILE. Push it with skopeo, e.g.
#   skopeo copy oci:LAYOUT:TAG docker://registry.example/signet:TAG
# Needs umoci and binutils' objcopy (Debian packages umoci, binutils).
set -euo pipefail

[ $# = 3 ] || { echo "usage: $0 SIGNET_BINARY LAYOUT TAG" >&2; exit 2; }
bin=$1 layout=$2 tag=$3
for t in umoci ldd objcopy; do
  command -v "$t" >/dev/null || { echo "$0: $t not found (Debian packages: umoci, libc-bin, binutils)" >&2; exit 1; }
done
[ -x "$bin" ] || { echo "$0: $bin is not an executable" >&2; exit 1; }

uid=65532
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
root=$stage/rootfs
mkdir -p "$root/usr/bin" "$root/etc" "$root/tmp" "$root/var/lib/signet"
chmod 1777 "$root/tmp"
chmod 0700 "$root/var/lib/signet"
chown "$uid:$uid" "$root/var/lib/signet"
objcopy --strip-debug "$bin" "$root/usr/bin/signet"
chmod 0755 "$root/usr/bin/signet"

# The dynamic loader and every library the binary needs, at the paths it looks for them.
ldd "$bin" | awk '/=>/ { print $3 } !/=>/ && $1 ~ /^\// { print $1 }' | while read -r lib; do
  [ -e "$lib" ] || continue
  mkdir -p "$root$(dirname "$lib")"
  cp -L "$lib" "$root$lib"
done

printf 'root:x:0:0:root:/root:/usr/sbin/nologin\nsignet:x:%s:%s:signet:/var/lib/signet:/usr/sbin/nologin\n' "$uid" "$uid" >"$root/etc/passwd"
printf 'root:x:0:\nsignet:x:%s:\n' "$uid" >"$root/etc/group"

[ -d "$layout" ] || umoci init --layout "$layout"
umoci new --image "$layout:$tag"
umoci insert --image "$layout:$tag" "$root" /
version=$("$bin" --version 2>/dev/null | awk '{print $NF; exit}')
umoci config --image "$layout:$tag" \
  --author "signet" \
  --config.user "$uid:$uid" \
  --config.entrypoint /usr/bin/signet \
  --config.cmd server \
  --config.workingdir /var/lib/signet \
  --config.env SIGNET_SERVER_SERVER_HTTP_ADDR=:4443 \
  --config.env SIGNET_SERVER_SERVER_STATE_DIR=/var/lib/signet \
  --config.env SIGNET_SERVER_STORAGE_DB_URL=sqlite:///var/lib/signet/signet.db \
  --config.exposedports 4443/tcp \
  --config.volume /var/lib/signet \
  --config.label org.opencontainers.image.title=signet \
  --config.label "org.opencontainers.image.version=${version:-unknown}" \
  --config.label org.opencontainers.image.description="Signet trust server (Notary v1 API)"
umoci gc --layout "$layout"
