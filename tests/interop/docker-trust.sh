#!/usr/bin/env bash
# docker-trust.sh SERVER_URL CA_CERT_FILE WORKDIR [REPO_PREFIX]
#
# Drives the real docker CLI's content-trust commands (no daemon needed) against a
# Notary v1 trust server and prints a NORMALIZED transcript on stdout:
#
#   == step-name
#   exit=<code>
#   <stdout+stderr of the step, interleaved as written>
#
# Run-specific values are replaced so that two runs (against the Go notary-server or
# against signet, with different WORKDIR / REPO_PREFIX) give byte-identical output:
#   64-hex key IDs      -> KEYID1, KEYID2, ... (numbered by first appearance)
#   12-hex short IDs    -> KEYIDn[:12] (the same n as the full ID it abbreviates)
#   REPO_PREFIX         -> REPO
#   WORKDIR             -> WORKDIR
#   SERVER_URL, host:port of it -> SERVER
#   logrus time="..."   -> time="TIME"
# The manifest digest of the pushed image is deterministic and kept literally.
#
# Prerequisites (the script checks them and exits 2 if one is missing):
#   * docker CLI (28.x) on PATH; no daemon is needed or contacted
#   * notary (Go CLI 0.7) on PATH, perl, curl
#   * docker-registry listening on 127.0.0.1:${REGISTRY_PORT:-5000}
#     (scripts/peers/registry.sh start). Only push-image.sh needs it: docker itself
#     sends its auth ping (GET /v2/) to the TRUST SERVER, never to the registry.
#   * scripts/peers/push-image.sh (from this checkout)
#   * SERVER_URL must be https:// (docker refuses anything else)
#   * WORKDIR must be empty or absent
#
# TLS: docker reads the trust server's CA from $DOCKER_CONFIG/tls/<host:port>/ca.crt
# (verified: a "secure" GUN fails with "x509: certificate signed by unknown authority"
# without it). For 127.0.0.1:5000/... GUNs docker treats the registry as insecure
# (127.0.0.0/8 is insecure by default) and SKIPS verification of the trust server's
# certificate altogether; the CA is installed anyway. The notary CLI always verifies
# with --tlscacert CA_CERT_FILE.
#
# Signing without a daemon (step 4): the tiny image is pushed with push-image.sh and the
# tag is signed with the Go `notary` CLI straight into docker's trust dir
# (`addhash ... -r targets/releases` and `-r targets/alice`). notary finds the signer key
# by key ID in private/<id>.key; the PEM's `role: alice` header does not matter (only the
# passphrase alias: a non-base role -> NOTARY_DELEGATION_PASSPHRASE, which equals docker's
# repository passphrase here).
#
# Bob's private key is moved out of docker's trust dir right after it is generated (bob
# "lives on another machine"), so releases is signed by alice's key only. That makes alice
# the LAST signer of targets/releases, which is the only case in which docker 27+/28
# actually removes a signer: `maybePromptForSignerRemoval` returns false for a non-last
# signer (and for `-f`), so `signer remove -f bob` is a silent no-op, while
# `signer remove alice` prompts (no answer on /dev/null -> not removed; "y" -> removed).
#
# Step 8 removes the LAST signer of a second repository (.../solo, alice alone): the notary
# client then writes targets/releases with no keys, which Go encodes as "keyids":null.
#
# Variants (environment):
#   TRUST_CLI=/path/to/signet   runs every `docker trust ...` step as `$TRUST_CLI trust ...`
#                               (the same scenario with `signet trust` in place of docker's)
#   STRIP_WARNINGS=1            drops warnings from the transcript before normalizing: logrus
#                               `time=... level=warning msg=...` lines, `signet: warning: ...`
#                               lines and tracing `... WARN ...` lines (the two clients word
#                               their warnings differently; everything else must match)
#
# Exit status: 0 when the transcript was produced (whatever the steps did), 2 when the
# harness itself is broken (bad arguments or missing prerequisites).
set -u

usage() { echo "usage: $0 SERVER_URL CA_CERT_FILE WORKDIR [REPO_PREFIX]" >&2; exit 2; }
harness_fail() { echo "docker-trust.sh: $*" >&2; exit 2; }

[ $# -ge 3 ] && [ $# -le 4 ] || usage
SERVER_URL=${1%/}
CA_CERT=$2
WORKDIR=$3
PREFIX=${4:-dt$(head -c 8 /dev/urandom | od -An -tx1 | tr -d ' \n')}

case $SERVER_URL in https://*) ;; *) harness_fail "SERVER_URL must be https:// (docker requires it): $SERVER_URL";; esac
HOSTPORT=${SERVER_URL#https://}
HOSTPORT=${HOSTPORT%%/*}
[ -r "$CA_CERT" ] || harness_fail "CA cert not readable: $CA_CERT"
case $PREFIX in ????*) ;; *) harness_fail "REPO_PREFIX must be at least 4 characters (it is replaced textually)";; esac
case $PREFIX in *[!a-z0-9._-]*) harness_fail "REPO_PREFIX must match [a-z0-9._-]+: $PREFIX";; esac

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
PUSH_IMAGE=$SCRIPT_DIR/../../scripts/peers/push-image.sh
[ -x "$PUSH_IMAGE" ] || harness_fail "$PUSH_IMAGE not found or not executable"
TRUST_CMD=${TRUST_CLI:-docker}
for t in "$TRUST_CMD" notary perl curl timeout od; do
  command -v "$t" >/dev/null 2>&1 || harness_fail "$t not on PATH"
done
REGISTRY_PORT=${REGISTRY_PORT:-5000}
REGISTRY=127.0.0.1:$REGISTRY_PORT
[ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "http://$REGISTRY/v2/")" = 200 ] \
  || harness_fail "docker-registry not answering on http://$REGISTRY/v2/ (run scripts/peers/registry.sh start; push-image.sh needs it)"

if [ -e "$WORKDIR" ] && [ -n "$(ls -A "$WORKDIR" 2>/dev/null)" ]; then
  harness_fail "WORKDIR must be empty or absent: $WORKDIR"
fi
mkdir -p "$WORKDIR" || harness_fail "cannot create $WORKDIR"
WORKDIR=$(cd "$WORKDIR" && pwd -P)
CA_CERT=$(cd "$(dirname "$CA_CERT")" && pwd -P)/$(basename "$CA_CERT")

# ------------------------------------------------------------------ environment
# Nothing inherited may change docker's or notary's behaviour.
for v in $(env | sed -n 's/^\(DOCKER_[A-Z_]*\|NOTARY_[A-Z_]*\)=.*/\1/p'); do unset "$v"; done
export HOME=$WORKDIR/home
export DOCKER_CONFIG=$WORKDIR/docker
export DOCKER_CONTENT_TRUST_SERVER=$SERVER_URL
export DOCKER_CONTENT_TRUST_ROOT_PASSPHRASE=root-passphrase-123
export DOCKER_CONTENT_TRUST_REPOSITORY_PASSPHRASE=repo-passphrase-123
export NOTARY_ROOT_PASSPHRASE=$DOCKER_CONTENT_TRUST_ROOT_PASSPHRASE
export NOTARY_TARGETS_PASSPHRASE=$DOCKER_CONTENT_TRUST_REPOSITORY_PASSPHRASE
export NOTARY_SNAPSHOT_PASSPHRASE=$DOCKER_CONTENT_TRUST_REPOSITORY_PASSPHRASE
export NOTARY_DELEGATION_PASSPHRASE=$DOCKER_CONTENT_TRUST_REPOSITORY_PASSPHRASE
export NO_PROXY=127.0.0.1,localhost no_proxy=127.0.0.1,localhost
export LC_ALL=C TZ=UTC
# files this scenario writes get the same modes on every machine
umask 022

KEYS=$WORKDIR/keys
TRUST=$DOCKER_CONFIG/trust
mkdir -p "$HOME" "$KEYS" "$TRUST" "$DOCKER_CONFIG/tls/$HOSTPORT" "$WORKDIR/offline-keys"
cp "$CA_CERT" "$DOCKER_CONFIG/tls/$HOSTPORT/ca.crt"
cat >"$WORKDIR/notary-config.json" <<EOF
{"trust_dir": "$TRUST", "remote_server": {"url": "$SERVER_URL", "root_ca": "$CA_CERT"}}
EOF

IMAGE=$REGISTRY/$PREFIX/app
MISSING=$REGISTRY/$PREFIX/does-not-exist
RAW=$WORKDIR/transcript.raw
OUT=$WORKDIR/step.out
YES=$WORKDIR/yes.txt
printf 'y\n' >"$YES"
: >"$RAW"
STEP_TIMEOUT=${STEP_TIMEOUT:-120}

# step NAME STDIN_FILE CMD... -- run CMD, append "== NAME", "exit=N", output to RAW
step() {
  local name=$1 input=$2 rc
  shift 2
  if [ "$(type -t "$1")" = function ]; then
    "$@" <"$input" >"$OUT" 2>&1
  else
    timeout "$STEP_TIMEOUT" "$@" <"$input" >"$OUT" 2>&1
  fi
  rc=$?
  { printf '== %s\nexit=%s\n' "$name" "$rc"
    cat "$OUT"
    if [ -s "$OUT" ] && [ "$(tail -c 1 "$OUT" | od -An -tx1 | tr -d ' ')" != 0a ]; then
      printf '\\ no newline at end of output\n'
    fi
  } >>"$RAW"
  return $rc
}
notary_cli() {
  timeout "$STEP_TIMEOUT" notary -c "$WORKDIR/notary-config.json" -d "$TRUST" -s "$SERVER_URL" --tlscacert "$CA_CERT" "$@"
}
# Bob's key goes "to another machine": out of docker's key store (see header).
move_bob_key() {
  local f moved=0
  for f in "$TRUST"/private/*.key; do
    [ -e "$f" ] || continue
    if grep -qx 'role: bob' "$f"; then mv "$f" "$WORKDIR/offline-keys/" && moved=$((moved + 1)); fi
  done
  echo "moved $moved private key(s) with role header bob out of the trust dir"
}

# ------------------------------------------------------------------ 1. keys
step key-generate-alice /dev/null "$TRUST_CMD" trust key generate alice --dir "$KEYS"
step key-generate-bob /dev/null "$TRUST_CMD" trust key generate bob --dir "$KEYS"
step move-bob-private-key-offline /dev/null move_bob_key

# ------------------------------------------------------------------ 2. signers
step signer-add-alice /dev/null "$TRUST_CMD" trust signer add --key "$KEYS/alice.pub" alice "$IMAGE"
step signer-add-bob /dev/null "$TRUST_CMD" trust signer add --key "$KEYS/bob.pub" bob "$IMAGE"

# ------------------------------------------------------------------ 3. inspect
step inspect /dev/null "$TRUST_CMD" trust inspect "$IMAGE"
step inspect-pretty /dev/null "$TRUST_CMD" trust inspect --pretty "$IMAGE"

# ------------------------------------------------------------------ 4. a signed tag
DIGEST_HEX=
SIZE=
if step push-image /dev/null "$PUSH_IMAGE" "$PREFIX/app" v1; then
  read -r _ d SIZE _ <"$OUT"
  DIGEST_HEX=${d#sha256:}
fi
step notary-addhash-releases /dev/null \
  notary_cli addhash "$IMAGE" v1 "${SIZE:-0}" --sha256 "${DIGEST_HEX:-missing}" -r targets/releases -p
step notary-addhash-alice /dev/null \
  notary_cli addhash "$IMAGE" v1 "${SIZE:-0}" --sha256 "${DIGEST_HEX:-missing}" -r targets/alice -p
step inspect-tag /dev/null "$TRUST_CMD" trust inspect "$IMAGE:v1"
step inspect-tag-pretty /dev/null "$TRUST_CMD" trust inspect --pretty "$IMAGE:v1"

# ------------------------------------------------------------------ 5. revoke
step revoke /dev/null "$TRUST_CMD" trust revoke -y "$IMAGE:v1"
step inspect-tag-after-revoke /dev/null "$TRUST_CMD" trust inspect "$IMAGE:v1"
step inspect-pretty-after-revoke /dev/null "$TRUST_CMD" trust inspect --pretty "$IMAGE"

# ------------------------------------------------------------------ 6. remove signers
step signer-remove-bob-force /dev/null "$TRUST_CMD" trust signer remove -f bob "$IMAGE"
step signer-remove-alice-no-answer /dev/null "$TRUST_CMD" trust signer remove alice "$IMAGE"
step signer-remove-alice-yes "$YES" "$TRUST_CMD" trust signer remove alice "$IMAGE"
step inspect-after-remove /dev/null "$TRUST_CMD" trust inspect "$IMAGE"
step inspect-pretty-after-remove /dev/null "$TRUST_CMD" trust inspect --pretty "$IMAGE"

# ------------------------------------------------------------------ 7. missing repo
step inspect-missing-repo /dev/null "$TRUST_CMD" trust inspect "$MISSING"
step inspect-pretty-missing-repo /dev/null "$TRUST_CMD" trust inspect --pretty "$MISSING"

# ------------------------------------------------------------------ 8. the last signer
# A second repository whose only signer is alice: removing her removes the last key of
# targets/releases, and the docker CLI (notary client) then uploads targets.json with
# "keyids":null for targets/releases (Go writes a nil slice as null). The tag is signed
# into targets/releases first, so docker sees alice as the last signer and asks.
SOLO=$REGISTRY/$PREFIX/solo
step solo-signer-add-alice /dev/null "$TRUST_CMD" trust signer add --key "$KEYS/alice.pub" alice "$SOLO"
step solo-notary-addhash-releases /dev/null \
  notary_cli addhash "$SOLO" v1 "${SIZE:-0}" --sha256 "${DIGEST_HEX:-missing}" -r targets/releases -p
step solo-inspect-pretty /dev/null "$TRUST_CMD" trust inspect --pretty "$SOLO"
step solo-signer-remove-alice-yes "$YES" "$TRUST_CMD" trust signer remove alice "$SOLO"
step solo-inspect-after-remove /dev/null "$TRUST_CMD" trust inspect "$SOLO"
step solo-inspect-pretty-after-remove /dev/null "$TRUST_CMD" trust inspect --pretty "$SOLO"
step solo-signer-add-alice-again /dev/null "$TRUST_CMD" trust signer add --key "$KEYS/alice.pub" alice "$SOLO"
step solo-inspect-pretty-after-add-again /dev/null "$TRUST_CMD" trust inspect --pretty "$SOLO"

# ------------------------------------------------------------------ normalize + print
W=$WORKDIR S=$SERVER_URL H=$HOSTPORT P=$PREFIX D=$DIGEST_HEX X=${STRIP_WARNINGS:-0} perl -e '
  local $/; my $t = <STDIN>;
  my ($w, $s, $h, $p, $d, $x) = @ENV{qw(W S H P D X)};
  if ($x eq "1") {
    $t =~ s/time="[^"]*" level=warning msg="(?:[^"\\]|\\.)*"\n//g;
    $t =~ s/signet: warning: [^\n]*\n//g;
    $t =~ s/\d{4}-\d\d-\d\dT[0-9:.]+Z +WARN [^\n]*\n//g;
  }
  $t =~ s/\Q$w\E/WORKDIR/g;
  $t =~ s/\Q$s\E/SERVER/g;
  $t =~ s/\Q$h\E(?!\d)/SERVER/g;
  $t =~ s/\Q$p\E/REPO/g;
  $t =~ s/time="[^"]*"/time="TIME"/g;
  my %full; $full{$1} = 1 while $t =~ /\b([0-9a-f]{64})\b/g;
  delete $full{$d} if $d ne "";
  my (%num, $n);
  my $id = sub { $num{$_[0]} //= ++$n };
  $t =~ s{\b([0-9a-f]{64}|[0-9a-f]{12})\b}{
    my $x = $1;
    if (length $x == 64) { exists $full{$x} ? "KEYID" . $id->($x) : $x }
    else {
      my @m = grep { substr($_, 0, 12) eq $x } keys %full;
      if ($d ne "" && substr($d, 0, 12) eq $x) { $x }
      elsif (@m == 1) { "KEYID" . $id->($m[0]) . "[:12]" }
      else { "KEYID" . $id->($x) . "[:12]" }
    }
  }ge;
  print $t;
' <"$RAW" || harness_fail "normalizer failed"
exit 0
