#!/usr/bin/env bash
# bench/signer/run.sh -- signet signer vs the Go notary-signer, and signet server with a remote
# signer vs local keys, in one run, on loopback over mutual TLS.
#
# Not a test: a benchmark to run by hand, on an otherwise idle machine. One run measures:
#   A. Sign RPCs/s and latency (p50, p99) at 1 and 32 calls in flight on one HTTP/2
#      connection (how notary-server calls its signer), with bench/signer-load
#      (signet-bench-signer): signet signer vs the Go notary-signer, both with their memory
#      key store, same key type (ECDSA P-256 unless ALGORITHM=ed25519), ROUNDS rounds whose
#      order alternates (Go first, then signet first, ...). The signet signer's path does not
#      touch its database once a key is loaded, so its memory store costs what SQLite does.
#   B. Publishes/s of signet server (SQLite) to distinct GUNs with bench/loadgen: local keys,
#      remote keys on signet signer (memory store, and on a SQLite file like the server's
#      local keys), remote keys on the Go notary-signer. Each publish has the
#      server sign one timestamp (the publisher signs its snapshot), so a remote signer adds
#      one Sign RPC per publish.
# Raw output goes to bench/results/<UTC stamp>-signer/; a markdown summary is printed at the
# end and saved there as summary.md.
#
# Knobs (env): SIGN_SECONDS (10, per timed run), CONCURRENCY ("1,32"), ROUNDS (3), ALGORITHM
#   (ecdsa), SIGNET_SIGNER_THREADS (the signet signers' runtime worker threads; default: one
#   per core), N_GUNS (1000), PUB_ROUNDS (2, order alternating), PUB_CONCURRENCY (16), PUB_MAX_SECONDS (120), SKIP_BUILD (0),
#   BENCH_PEERS_ROOT (/tmp/signet-bench-signer-peers, certificates), GO_SIGNER_PORT (17911),
#   SIGNET_SIGNER_PORT (17912).
# Everything started here is stopped on exit.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
REPO_ROOT=$(cd "$HERE/../.." && pwd)
PEERS=$REPO_ROOT/scripts/peers

SIGN_SECONDS=${SIGN_SECONDS:-10}
CONCURRENCY=${CONCURRENCY:-1,32}
ROUNDS=${ROUNDS:-3}
ALGORITHM=${ALGORITHM:-ecdsa}
N_GUNS=${N_GUNS:-1000}
PUB_ROUNDS=${PUB_ROUNDS:-2}
PUB_CONCURRENCY=${PUB_CONCURRENCY:-16}
PUB_MAX_SECONDS=${PUB_MAX_SECONDS:-120}
GO_SIGNER_PORT=${GO_SIGNER_PORT:-17911}
SIGNET_SIGNER_PORT=${SIGNET_SIGNER_PORT:-17912}
export PEERS_ROOT=${BENCH_PEERS_ROOT:-/tmp/signet-bench-signer-peers}
# configure.sh writes configurations for these too; keep them off the shared peers' ports
export NOTARY_PORT=14453 SIGNER_PORT=17913 PG_PORT=15443 REGISTRY_PORT=15010
CERTS=$PEERS_ROOT/certs
CA=$CERTS/ca.crt

STAMP=$(date -u +%Y%m%dT%H%M%SZ)
OUT="$REPO_ROOT/bench/results/$STAMP-signer"
mkdir -p "$OUT"
PASS=bench-passphrase

log() { printf '[%s] %s\n' "$(date +%T)" "$*" >&2; }
die() { log "FATAL: $*"; exit 1; }

for t in notary-signer jq curl awk; do
  command -v "$t" >/dev/null || die "$t not found (scripts/peers/install.sh installs it)"
done

# ------------------------------------------------------------------ cleanup
PIDS=()
cleanup() {
  local rc=$? p i
  trap - EXIT INT TERM
  for p in "${PIDS[@]}"; do
    kill "$p" 2>/dev/null || continue
    for i in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$p" 2>/dev/null || true
  done
  wait 2>/dev/null || true
  [ $rc = 0 ] || log "exit $rc; partial results in $OUT"
  exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ------------------------------------------------------------------ build
if [ "${SKIP_BUILD:-0}" != 1 ]; then
  log "building signet and the load generators (release; SKIP_BUILD=1 uses the existing binaries)"
  (cd "$REPO_ROOT" && cargo build --release -q -p signet-cli -p signet-bench-loadgen -p signet-bench-signer) \
    >"$OUT/build.log" 2>&1 || { tail -20 "$OUT/build.log" >&2; die "cargo build failed"; }
fi
mkdir -p "$OUT/bin"
for b in signet signet-bench-loadgen signet-bench-signer; do
  [ -x "$REPO_ROOT/target/release/$b" ] || die "target/release/$b missing"
  ln "$REPO_ROOT/target/release/$b" "$OUT/bin/$b" 2>/dev/null || cp "$REPO_ROOT/target/release/$b" "$OUT/bin/$b"
done
SIGNET="$OUT/bin/signet"
LOADGEN="$OUT/bin/signet-bench-loadgen"
SIGNLOAD="$OUT/bin/signet-bench-signer"

# certificates: a CA, the signer's certificate, a client certificate (notary-server's, which
# also serves the signet servers' HTTPS)
"$PEERS/configure.sh"

{
  echo "date: $(date -u +%FT%TZ)"
  echo "host: $(uname -srm)"
  echo "cpus: $(nproc) ($(awk -F': ' '/model name/{print $2; exit}' /proc/cpuinfo))"
  echo "signet: $(cd "$REPO_ROOT" && git rev-parse --short HEAD 2>/dev/null || echo '?')"
  echo "notary-signer: $(dpkg-query -W -f='${Version}' notary 2>/dev/null || echo '?')"
  echo "SIGN_SECONDS=$SIGN_SECONDS CONCURRENCY=$CONCURRENCY ROUNDS=$ROUNDS ALGORITHM=$ALGORITHM"
  echo "N_GUNS=$N_GUNS PUB_CONCURRENCY=$PUB_CONCURRENCY"
  echo "loadavg at start: $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "signet signer worker threads: ${SIGNET_SIGNER_THREADS:-default (one per core)}"
} >"$OUT/env.txt"
read -r LOAD1 _ </proc/loadavg
awk -v l="$LOAD1" 'BEGIN{exit !(l > 0.5)}' \
  && log "WARNING: load average $LOAD1 at start; other work on this machine will skew the numbers"

# ------------------------------------------------------------------ helpers
# signer_json PORT STORAGE_JSON: notary-signer's configuration
signer_json() {
  cat <<JSON
{
  "server": {
    "grpc_addr": "127.0.0.1:$1",
    "tls_cert_file": "$CERTS/notary-signer.crt",
    "tls_key_file": "$CERTS/notary-signer.key",
    "client_ca_file": "$CA"
  },
  "logging": { "level": "error" },
  "storage": $2
}
JSON
}

wait_port() { # PORT PID NAME
  local i
  for i in $(seq 300); do
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
    kill -0 "$2" 2>/dev/null || die "$3 died (see $OUT/$3.log)"
    sleep 0.1
  done
  die "$3 does not listen on $1"
}

# start_server NAME [CONFIG] -> SERVER_URL, SERVER_PID
start_server() {
  local name=$1 config=${2:-} i
  local args=(server --listen 127.0.0.1:0 --database "sqlite://$OUT/$name.sqlite"
    --tls-cert "$CERTS/notary-server.crt" --tls-key "$CERTS/notary-server.key")
  [ -n "$config" ] && args+=(--config "$config")
  SIGNET_KEY_PASSPHRASE=$PASS "$SIGNET" "${args[@]}" >"$OUT/$name.stdout" 2>"$OUT/$name.log" </dev/null &
  SERVER_PID=$!
  PIDS+=("$SERVER_PID")
  SERVER_URL=
  for i in $(seq 300); do
    SERVER_URL=$(grep -o 'https://[0-9.:]*' "$OUT/$name.stdout" 2>/dev/null | head -1 || true)
    [ -n "$SERVER_URL" ] && break
    kill -0 "$SERVER_PID" 2>/dev/null || { tail -5 "$OUT/$name.log" >&2; die "$name died"; }
    sleep 0.1
  done
  [ -n "$SERVER_URL" ] || die "$name did not report its address"
  curl -sf --cacert "$CA" "$SERVER_URL/_notary_server/health" >/dev/null || die "$name not healthy"
}

stop() { # PID
  kill "$1" 2>/dev/null || true
  wait "$1" 2>/dev/null || true
}

remote_config() { # PORT FILE
  cat >"$2" <<JSON
{ "trust_service": { "type": "remote", "hostname": "127.0.0.1", "port": "$1",
  "key_algorithm": "$ALGORITHM", "tls_ca_file": "$CA",
  "tls_client_cert": "$CERTS/notary-server.crt", "tls_client_key": "$CERTS/notary-server.key" } }
JSON
}

# ------------------------------------------------------------------ signers
signer_json "$GO_SIGNER_PORT" '{ "backend": "memory" }' >"$OUT/go-signer.json"
notary-signer -config "$OUT/go-signer.json" >"$OUT/go-signer.log" 2>&1 </dev/null &
GO_PID=$!
PIDS+=("$GO_PID")
wait_port "$GO_SIGNER_PORT" "$GO_PID" go-signer

signer_json "$SIGNET_SIGNER_PORT" '{ "backend": "memory" }' >"$OUT/signet-signer.json"
# The same signer on a SQLite file, like the server's local keys (the memory store above
# never writes to disk; a publish with local keys writes its key rows to the server's file).
SIGNET_SQLITE_SIGNER_PORT=${SIGNET_SQLITE_SIGNER_PORT:-17914}
signer_json "$SIGNET_SQLITE_SIGNER_PORT" \
  "{ \"backend\": \"sqlite3\", \"db_url\": \"$OUT/signet-signer.sqlite\", \"default_alias\": \"bench\" }" \
  >"$OUT/signet-signer-sqlite.json"
env ${SIGNET_SIGNER_THREADS:+TOKIO_WORKER_THREADS=$SIGNET_SIGNER_THREADS} \
  "$SIGNET" signer -c "$OUT/signet-signer.json" >"$OUT/signet-signer.stdout" 2>"$OUT/signet-signer.log" </dev/null &
SIGNET_PID=$!
PIDS+=("$SIGNET_PID")
wait_port "$SIGNET_SIGNER_PORT" "$SIGNET_PID" signet-signer

env NOTARY_SIGNER_BENCH=$PASS ${SIGNET_SIGNER_THREADS:+TOKIO_WORKER_THREADS=$SIGNET_SIGNER_THREADS} \
  "$SIGNET" signer -c "$OUT/signet-signer-sqlite.json" \
  >"$OUT/signet-signer-sqlite.stdout" 2>"$OUT/signet-signer-sqlite.log" </dev/null &
SIGNET_SQLITE_PID=$!
PIDS+=("$SIGNET_SQLITE_PID")
wait_port "$SIGNET_SQLITE_SIGNER_PORT" "$SIGNET_SQLITE_PID" signet-signer-sqlite

# ------------------------------------------------------------------ A. Sign RPCs
: >"$OUT/sign.jsonl"
sign_run() { # LABEL PORT PID
  log "  $1: Sign at concurrency $CONCURRENCY, ${SIGN_SECONDS}s each"
  "$SIGNLOAD" --port "$2" --ca "$CA" --cert "$CERTS/notary-server.crt" --key "$CERTS/notary-server.key" \
    --algorithm "$ALGORITHM" --concurrency "$CONCURRENCY" --seconds "$SIGN_SECONDS" --label "$1" \
    --server-pid "$3" \
    >>"$OUT/sign.jsonl" 2>>"$OUT/sign.log" || die "signet-bench-signer failed against $1 (see sign.log)"
}
for round in $(seq "$ROUNDS"); do
  log "=== Sign round $round"
  if [ $((round % 2)) = 1 ]; then
    sign_run go-notary-signer "$GO_SIGNER_PORT" "$GO_PID"; sign_run signet-signer "$SIGNET_SIGNER_PORT" "$SIGNET_PID"
  else
    sign_run signet-signer "$SIGNET_SIGNER_PORT" "$SIGNET_PID"; sign_run go-notary-signer "$GO_SIGNER_PORT" "$GO_PID"
  fi
done
tail -n +1 "$OUT/sign.jsonl" >&2

# ------------------------------------------------------------------ B. publishes
: >"$OUT/publish.tsv"
publish_run() { # NAME URL ROUND
  local f="$OUT/publish-$1-$3.json"
  "$LOADGEN" --url "$2" --ca "$CA" --guns "$N_GUNS" --concurrency "$PUB_CONCURRENCY" \
    --gun-prefix "bench.example/sig-$STAMP-$1-$3" --max-seconds "$PUB_MAX_SECONDS" \
    >"$f" 2>"$OUT/publish-$1-$3.log" || { tail -5 "$OUT/publish-$1-$3.log" >&2; die "loadgen failed for $1"; }
  jq -r --arg s "$1" '[$s,.ok,.failed,.publishes_per_sec,.p50_ms,.p99_ms] | @tsv' "$f" >>"$OUT/publish.tsv"
  log "  $1: $(jq -r '"\(.ok) ok, \(.failed) failed, \(.publishes_per_sec) publishes/s, p50 \(.p50_ms) ms, p99 \(.p99_ms) ms"' "$f")"
}
remote_config "$SIGNET_SIGNER_PORT" "$OUT/server-remote-signet.json"
remote_config "$GO_SIGNER_PORT" "$OUT/server-remote-go.json"
remote_config "$SIGNET_SQLITE_SIGNER_PORT" "$OUT/server-remote-signet-sqlite.json"
VARIANTS="local remote-signet-signer remote-signet-signer-sqlite remote-go-notary-signer"
for pround in $(seq "$PUB_ROUNDS"); do
  # Alternate the order: the first server of a run is not always the same variant.
  order=$VARIANTS
  [ $((pround % 2)) = 0 ] && order=$(echo "$VARIANTS" | tr ' ' '\n' | tac | tr '\n' ' ')
  for variant in $order; do
    log "=== publishes round $pround: signet server, $variant keys"
    case $variant in
      local) start_server "server-$variant-$pround" ;;
      remote-signet-signer) start_server "server-$variant-$pround" "$OUT/server-remote-signet.json" ;;
      remote-signet-signer-sqlite) start_server "server-$variant-$pround" "$OUT/server-remote-signet-sqlite.json" ;;
      remote-go-notary-signer) start_server "server-$variant-$pround" "$OUT/server-remote-go.json" ;;
    esac
    publish_run "$variant" "$SERVER_URL" "$pround"
    stop "$SERVER_PID"
  done
done

# ------------------------------------------------------------------ summary
median() { sort -g | awk '{a[NR]=$1} END{ if (NR==0) print "NA"; else if (NR%2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2 }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN{ if (b+0==0) print "NA"; else printf "%.2f", a/b }'; }
{
  echo "## signer benchmark $STAMP"
  echo
  echo "Sign RPCs, $ALGORITHM, one HTTP/2 connection, median of $ROUNDS rounds of ${SIGN_SECONDS}s:"
  echo
  echo "| calls in flight | notary-signer signs/s | signet signer signs/s | ratio | notary-signer p99 ms | signet signer p99 ms | p99 ratio | notary-signer CPU µs/sign | signet signer CPU µs/sign | signatures per CPU-second, signet vs notary |"
  echo "|---|---|---|---|---|---|---|---|---|---|"
  for c in ${CONCURRENCY//,/ }; do
    gs=$(jq -r --argjson c "$c" 'select(.label=="go-notary-signer" and .concurrency==$c) | .signs_per_sec' "$OUT/sign.jsonl" | median)
    ss=$(jq -r --argjson c "$c" 'select(.label=="signet-signer" and .concurrency==$c) | .signs_per_sec' "$OUT/sign.jsonl" | median)
    gp=$(jq -r --argjson c "$c" 'select(.label=="go-notary-signer" and .concurrency==$c) | .p99_ms' "$OUT/sign.jsonl" | median)
    sp=$(jq -r --argjson c "$c" 'select(.label=="signet-signer" and .concurrency==$c) | .p99_ms' "$OUT/sign.jsonl" | median)
    gc=$(jq -r --argjson c "$c" 'select(.label=="go-notary-signer" and .concurrency==$c) | .server_cpu_us_per_sign' "$OUT/sign.jsonl" | median)
    sc=$(jq -r --argjson c "$c" 'select(.label=="signet-signer" and .concurrency==$c) | .server_cpu_us_per_sign' "$OUT/sign.jsonl" | median)
    echo "| $c | $gs | $ss | $(ratio "$ss" "$gs") | $gp | $sp | $(ratio "$sp" "$gp") | $gc | $sc | $(ratio "$gc" "$sc") |"
  done
  echo
  echo "Publishes of signet server (SQLite), $N_GUNS distinct GUNs, $PUB_CONCURRENCY in flight, median of $PUB_ROUNDS rounds (order alternating):"
  echo
  echo "| keys | failed (all rounds) | publishes/s | vs local | p50 ms | p99 ms |"
  echo "|---|---|---|---|---|---|"
  col() { awk -F'\t' -v v="$1" -v c="$2" '$1==v{print $c}' "$OUT/publish.tsv" | median; }
  local_rate=$(col local 4)
  for v in $VARIANTS; do
    failed=$(awk -F'\t' -v v="$v" '$1==v{s+=$3} END{print s+0}' "$OUT/publish.tsv")
    rate=$(col "$v" 4)
    echo "| $v | $failed | $rate | $(ratio "$rate" "$local_rate") | $(col "$v" 5) | $(col "$v" 6) |"
  done
  echo
  echo "loadavg at end: $(cut -d' ' -f1-3 /proc/loadavg)"
} | tee "$OUT/summary.md"
