#!/usr/bin/env bash
# notary-cli.sh SERVER_URL CA_CERT_FILE WORKDIR [GUN_PREFIX]
#
# Interop scenario: drives the real Go `notary` 0.7 CLI against a Notary v1 server (the Go
# notary-server or signet) and prints a NORMALIZED transcript on stdout, one block per command:
#
#   == <step name>
#   exit=<exit code>
#   <stdout+stderr of the command, normalized>
#
# Two runs against servers that behave the same must print byte-identical transcripts, so
# run-specific values are replaced by placeholders:
#   * WORKDIR (also its resolved form)            -> WORKDIR
#   * CA_CERT_FILE                                -> CA_CERT
#   * SERVER_URL and its host:port                -> SERVER
#   * GUN_PREFIX                                  -> PREFIX
#   * 64-hex key IDs                              -> KEYID1, KEYID2, ... (order of first appearance)
#   * 64-hex metadata checksums (<role>.<hex>.json, "checksum <hex>") -> HASH
#   * RFC3339 / Go time stamps                    -> DATE
#   * "sha256|sha512 checksum for T did not match: expected DIGEST": the Go client compares
#     the target hashes in Go map order, so which one it reports varies from run to run
# The sha256 digests of the target files are deterministic (fixed contents) and kept as is.
#
# WORKDIR must be empty or absent. Trust dirs ("machines") live in WORKDIR/trust*, the files in
# WORKDIR/files, and the raw (unnormalized) transcript is kept in WORKDIR/raw-transcript.txt.
# GUN_PREFIX defaults to example.com/r<random hex>; GUNs are GUN_PREFIX/interop/<name> and
# must not exist on the server yet.
#
# Environment:
#   NOTARY_CLI_CLIENT  the client binary to drive (default `notary`; `signet` for the
#                      client-compatibility comparison: `alias notary=signet`); several,
#                      separated by spaces, take turns step by step on the same trust
#                      directories (step i runs client i mod n)
#   NOTARY_CLI_STDOUT_ONLY=1  record stdout only (stderr goes to WORKDIR/stderr.txt): the
#                      clients' warnings on stderr differ (logrus vs signet), their output
#                      on stdout must not
#
# Exit status: 0 whatever the notary commands did (their exit codes are in the transcript);
# 2 if the harness itself could not run (bad arguments, missing tools, WORKDIR not empty).
set -u
set -o pipefail

die() { echo "notary-cli.sh: $*" >&2; exit 2; }

[ $# -ge 3 ] && [ $# -le 4 ] || die "usage: notary-cli.sh SERVER_URL CA_CERT_FILE WORKDIR [GUN_PREFIX]"
SERVER_URL=${1%/}
CA_IN=$2
WORK_IN=$3
PREFIX=${4:-example.com/r$(od -An -N6 -tx1 /dev/urandom | tr -d ' \n')}

read -r -a CLIENTS <<<"${NOTARY_CLI_CLIENT:-notary}"
[ ${#CLIENTS[@]} -gt 0 ] || die "NOTARY_CLI_CLIENT is empty"
STEP_NO=0
for tool in "${CLIENTS[@]}" openssl perl sha256sum timeout od; do
  command -v "$tool" >/dev/null 2>&1 || die "required tool '$tool' not found in PATH"
done
[ -r "$CA_IN" ] || die "CA certificate '$CA_IN' is not readable"
case $SERVER_URL in https://*) ;; *) die "SERVER_URL must be https://host:port (got '$SERVER_URL')";; esac
case $PREFIX in ''|*' '*|/*|*/) die "GUN_PREFIX must be non-empty, without spaces or leading/trailing '/'";; esac

if [ -e "$WORK_IN" ]; then
  [ -d "$WORK_IN" ] || die "WORKDIR '$WORK_IN' is not a directory"
  [ -z "$(ls -A "$WORK_IN")" ] || die "WORKDIR '$WORK_IN' is not empty"
fi
mkdir -p "$WORK_IN" || die "cannot create WORKDIR '$WORK_IN'"
WORK=$(cd "$WORK_IN" && pwd -P) || die "cannot resolve WORKDIR"
CA=$(cd "$(dirname "$CA_IN")" && pwd -P)/$(basename "$CA_IN")
HOSTPORT=${SERVER_URL#https://}
HOSTPORT=${HOSTPORT%%/*}

F=$WORK/files
RAW=$WORK/raw-transcript.txt
mkdir -p "$F" "$WORK/home" || die "cannot create directories in $WORK"
: >"$RAW" || die "cannot write $RAW"

# ------------------------------------------------------------------ environment
# Isolate the client from the caller: no ~/.notary/config.json, no auth, no TTY prompts.
export HOME=$WORK/home
export TZ=UTC
unset NOTARY_AUTH
export NOTARY_ROOT_PASSPHRASE=interop-root-passphrase
export NOTARY_TARGETS_PASSPHRASE=interop-targets-passphrase
export NOTARY_SNAPSHOT_PASSPHRASE=interop-snapshot-passphrase
export NOTARY_DELEGATION_PASSPHRASE=interop-delegation-passphrase
CMD_TIMEOUT=${NOTARY_CLI_TIMEOUT:-120}

# ------------------------------------------------------------------ fixed inputs
printf 'signet interop target v1\n' >"$F/v1.txt"
printf 'this is not the v1 target\n' >"$F/bad.txt"
printf 'signet interop target v3, signed by the targets/releases delegate\n' >"$F/v3.txt"
printf 'signet interop target v4, after snapshot+timestamp went server-managed\n' >"$F/v4.txt"
printf 'signet interop target v5, after the targets key rotation\n' >"$F/v5.txt"
printf 'signet interop target v6, after the root key rotation\n' >"$F/v6.txt"
printf 'signet interop target v7, never published\n' >"$F/v7.txt"
printf 'orphan target one\n' >"$F/o1.txt"
printf 'orphan target two\n' >"$F/o2.txt"
printf 'yes\n' >"$F/yes.txt"
V2_SIZE=1234
V2_SHA256=5e0b5ba2a94b7fbb9e8ab5e7e6d8b5f1c1a5d0c6c0b7f9d3c6e7a8b9c0d1e2f3

KEEP=$V2_SHA256
for f in "$F"/*.txt; do KEEP="$KEEP $(sha256sum "$f" | cut -d' ' -f1)"; done

# The targets/releases delegate: a P-256 key (unencrypted PKCS#8, which `notary key import`
# accepts without a `path:` header) and a self-signed certificate for it (ecdsa-x509 key).
openssl ecparam -genkey -name prime256v1 -noout -out "$F/delegate.ec.key" 2>/dev/null \
  && openssl pkcs8 -topk8 -nocrypt -in "$F/delegate.ec.key" -out "$F/delegate.key" 2>/dev/null \
  && openssl req -x509 -new -key "$F/delegate.key" -sha256 -days 365 -subj '/CN=targets\/releases' \
       -out "$F/delegate.crt" 2>/dev/null \
  || die "openssl could not create the delegate key/certificate"
rm -f "$F/delegate.ec.key"

# ------------------------------------------------------------------ runner
# run STEP TRUSTDIR STDIN notary-args...   (TRUSTDIR relative to WORKDIR)
run() {
  local step=$1 dir=$2 in=$3 rc
  shift 3
  local CLIENT=${CLIENTS[$((STEP_NO % ${#CLIENTS[@]}))]}
  STEP_NO=$((STEP_NO + 1))
  if [ "${NOTARY_CLI_STDOUT_ONLY:-0}" = 1 ]; then
    printf '== %s\n' "$step" >>"$WORK/stderr.txt"
    timeout -k 5 "$CMD_TIMEOUT" "$CLIENT" -s "$SERVER_URL" --tlscacert "$CA" -d "$WORK/$dir" "$@" \
      <"$in" >"$WORK/out" 2>>"$WORK/stderr.txt"
  else
    timeout -k 5 "$CMD_TIMEOUT" "$CLIENT" -s "$SERVER_URL" --tlscacert "$CA" -d "$WORK/$dir" "$@" \
      <"$in" >"$WORK/out" 2>&1
  fi
  rc=$?
  {
    printf '== %s\n' "$step"
    printf 'exit=%s\n' "$rc"
    cat "$WORK/out"
    # keep the next "== " header on its own line, but record the missing newline
    if [ -s "$WORK/out" ] && [ -n "$(tail -c1 "$WORK/out")" ]; then
      printf '\n\\ no newline at end of output\n'
    fi
  } >>"$RAW"
}
NUL=/dev/null

M=$PREFIX/interop/main        # the long-lived repository, steps 1-8
O=$PREFIX/interop/orphan      # deleted on the server behind its owner's back
NEVER=$PREFIX/interop/never   # never initialized
AUTO=$PREFIX/interop/autoinit # `publish` without `init`

# 1. init + publish, targets by file and by hash, lookup, verify, remove ----------------------
run basic.init-publish          trust  $NUL init "$M" -p
run basic.list-empty            trust  $NUL list "$M"
run basic.add-v1                trust  $NUL add "$M" v1 "$F/v1.txt" -p
run basic.list                  trust  $NUL list "$M"
run basic.lookup-v1             trust  $NUL lookup "$M" v1
run basic.verify-v1             trust  "$F/v1.txt" verify "$M" v1
run basic.verify-v1-mismatch    trust  "$F/bad.txt" verify "$M" v1
run basic.addhash-v2            trust  $NUL addhash "$M" v2 "$V2_SIZE" --sha256 "$V2_SHA256" -p
run basic.list-with-v2          trust  $NUL list "$M"
run basic.remove-v2             trust  $NUL remove "$M" v2 -p
run basic.list-after-remove     trust  $NUL list "$M"
run basic.lookup-removed-v2     trust  $NUL lookup "$M" v2

# 2. a second machine: TOFU download -------------------------------------------------------
run machine2.list               trust2 $NUL list "$M"
run machine2.lookup-v1          trust2 $NUL lookup "$M" v1

# 3. server-managed snapshot and timestamp keys. (Done before the delegation step: the second
#    machine holds no snapshot key, so the delegate can only publish once the server signs
#    snapshots.) -------------------------------------------------------------------------------
run server-keys.rotate-snapshot  trust  $NUL key rotate "$M" snapshot -r
run server-keys.rotate-timestamp trust  $NUL key rotate "$M" timestamp -r
run server-keys.add-v4           trust  $NUL add "$M" v4 "$F/v4.txt" -p
run server-keys.list-machine2    trust2 $NUL list "$M"

# 4. delegation targets/releases, published by the delegate on the second machine; then its
#    last key and the role itself are removed ---------------------------------------------------
run delegation.add               trust  $NUL delegation add "$M" targets/releases "$F/delegate.crt" --all-paths -p
run delegation.list-delegations  trust  $NUL delegation list "$M"
# the delegate's key ID as `delegation list` prints it (ROLE PATHS... KEYID THRESHOLD)
REL_KEY=$(awk '$1 == "targets/releases" { print $(NF-1) }' "$WORK/out")
run delegation.import-key        trust2 $NUL key import "$F/delegate.key" -r targets/releases
run delegation.add-v3            trust2 $NUL add "$M" v3 "$F/v3.txt" -r targets/releases -p
run delegation.list              trust  $NUL list "$M"
run delegation.list-role         trust  $NUL list "$M" -r targets/releases
run delegation.witness-releases  trust2 $NUL witness "$M" targets/releases -p
run delegation.list-machine2     trust2 $NUL list "$M"
# Removing the delegation's last key leaves it with no keys: the Go client writes
# "keyids":null (a nil Go slice) into targets.json, and the server must accept it. The
# delegate's metadata stays in the snapshot but no longer verifies, so v3 disappears.
run delegation.remove-last-key   trust  $NUL delegation remove "$M" targets/releases "${REL_KEY:-missing}"
run delegation.publish-no-keys   trust  $NUL publish "$M"
run delegation.list-delegations-no-keys trust $NUL delegation list "$M"
run delegation.list-no-keys      trust  $NUL list "$M"
run delegation.list-no-keys-machine2 trust2 $NUL list "$M"
# Removing the role itself (the last one): "roles":null.
run delegation.remove            trust  $NUL delegation remove "$M" targets/releases -y -p
run delegation.list-after-remove trust  $NUL list "$M"
run delegation.list-delegations-after-remove trust $NUL delegation list "$M"

# 5. targets key rotation (client-side key) -------------------------------------------------
run targets-key.rotate           trust  $NUL key rotate "$M" targets
run targets-key.add-v5           trust  $NUL add "$M" v5 "$F/v5.txt" -p
run targets-key.list-machine2    trust2 $NUL list "$M"

# 6. root key rotation (asks for confirmation on stdin) --------------------------------------
run root-key.rotate              trust  "$F/yes.txt" key rotate "$M" root
run root-key.publish             trust  $NUL publish "$M"
run root-key.add-v6              trust  $NUL add "$M" v6 "$F/v6.txt" -p
run root-key.list-machine2       trust2 $NUL list "$M"
run root-key.list-fresh          trust3 $NUL list "$M"

# 7. witness ----------------------------------------------------------------------------------
run witness.targets              trust  $NUL witness "$M" targets -p
run witness.list-machine2        trust2 $NUL list "$M"

# 8. delete the repository on the server (from the second machine) -------------------------
run delete.remote                trust2 $NUL delete "$M" --remote
run delete.list-fresh            trust4 $NUL list "$M"
run delete.list-machine2         trust2 $NUL list "$M"

# 9. failure cases ----------------------------------------------------------------------------
run fail.list-never              trust4 $NUL list "$NEVER"
run fail.lookup-never            trust4 $NUL lookup "$NEVER" v1
run fail.delegation-list-never   trust4 $NUL delegation list "$NEVER"
# the first machine still has the cache of a repo whose root is at version 5
run fail.list-deleted-cached     trust  $NUL list "$M"
run fail.publish-deleted         trust  $NUL add "$M" v7 "$F/v7.txt" -p
# orphan: root still at version 1, so republishing from a (stale) cache re-creates the repo
run orphan.init-publish          trust  $NUL init "$O" -p
run orphan.add-o1                trust  $NUL add "$O" o1 "$F/o1.txt" -p
run orphan.list-machine2         trust2 $NUL list "$O"
run orphan.delete-remote         trust2 $NUL delete "$O" --remote
run orphan.list-cached           trust  $NUL list "$O"
run orphan.add-o2                trust  $NUL add "$O" o2 "$F/o2.txt" -p
run orphan.list-fresh            trust5 $NUL list "$O"
# `publish` of a GUN that was never initialized initializes it with new keys
run autoinit.publish             trust5 $NUL publish "$AUTO"
run autoinit.list-fresh          trust4 $NUL list "$AUTO"

rm -f "$WORK/out"

# ------------------------------------------------------------------ normalize
case $WORK_IN in /*) ;; *) WORK_IN=$WORK;; esac
KEEP_DIGESTS=$KEEP NORM_WORK=$WORK NORM_WORK_IN=$WORK_IN NORM_CA=$CA NORM_URL=$SERVER_URL \
NORM_HOSTPORT=$HOSTPORT NORM_PREFIX=$PREFIX perl -e '
use strict; use warnings;
my %keep = map { $_ => 1 } split " ", $ENV{KEEP_DIGESTS};
my @lit = (
  [$ENV{NORM_CA}, "CA_CERT"], [$ENV{NORM_WORK}, "WORKDIR"], [$ENV{NORM_WORK_IN}, "WORKDIR"],
  [$ENV{NORM_URL}, "SERVER"], [$ENV{NORM_HOSTPORT}, "SERVER"],
  [$ENV{NORM_PREFIX}, "PREFIX"],
);
my (%ids, $n);
my $date = qr/\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d(?:\.\d+)?(?: ?(?:Z|[+-]\d\d:?\d\d))?(?: [A-Z]{3,5})?(?: m=[+-][0-9.]+)?/;
while (my $l = <STDIN>) {
  for my $p (@lit) { my ($s, $r) = @$p; $l =~ s/\Q$s\E/$r/g if length $s; }
  $l =~ s/$date/DATE/g;
  # Go map order: the client checks sha256 or sha512 first, at random
  $l =~ s/\bsha(?:256|512) checksum for (.+?) did not match: expected [0-9a-f]+/sha256|sha512 checksum for $1 did not match: expected DIGEST/g;
  $l =~ s/(?<=\.)([0-9a-f]{64})(?=\.json)/$keep{$1} ? $1 : "HASH"/ge;
  $l =~ s/(checksum:? )([0-9a-f]{64})\b/$1 . ($keep{$2} ? $2 : "HASH")/ge;
  $l =~ s/\b([0-9a-f]{128})\b/$keep{$1} ? $1 : "HASH"/ge;
  $l =~ s{\b([0-9a-f]{64})\b}{$keep{$1} ? $1 : ($ids{$1} //= "KEYID" . ++$n)}ge;
  print $l;
}' <"$RAW" || die "normalization failed"
exit 0
