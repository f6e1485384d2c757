#!/usr/bin/env bash
# bench/server/run.sh -- Signet vs the Go notary-server, side by side, on loopback over TLS.
#
# Not a test: a benchmark to run by hand (as root, like the peers scripts), on an otherwise idle
# machine. One run measures:
#   A. GET current timestamp.json and targets.json with wrk at 2 and 64 connections:
#        pair "memory":   Go notary-server (memory store + notary-signer) vs signet on SQLite
#        pair "postgres": Go notary-server (PostgreSQL + notary-signer)   vs signet on PostgreSQL
#      Both servers of a pair hold the same repository content, created with the Go `notary` CLI
#      (init + NTARGETS targets + publish), so the files served are the same size.
#   B. Server RSS: VmRSS sampled every 0.25 s per phase (reads, publishes) and VmHWM at the end,
#      for signet, notary-server and (separately) notary-signer.
#   C. Publishes/s to distinct GUNs with bench/loadgen (signet-bench-loadgen): uploads are built
#      before the clock starts; the timed part is only the POSTs.
#   D. pair "backends": signet on SQLite vs signet on PostgreSQL, the same reads as A (no Go
#      server), the two servers running side by side and measured alternately (BACKEND_ROUNDS
#      rounds, order swapped every round; means reported). The PostgreSQL server is one of
#      PG_REPLICAS replicas of one database (the others idle), as in a replicated deployment;
#      its /metrics afterwards tell how many reads needed a changefeed query. Then C's
#      publishes through each (BACKEND_PUBLISHES=0 skips them).
# Raw output goes to bench/results/<UTC timestamp>/; a markdown summary is printed at the end and
# saved as summary.md there.
#
# Knobs (env): WRK_DURATION (15s), WRK_THREADS (2), CONNS ("2 64"), NTARGETS (20), N_GUNS (2000),
#   PUB_CONCURRENCY (16), PUB_MAX_SECONDS (120, cap per publish run), PAIRS ("memory postgres
#   backends"; PAIRS=backends alone takes ~3-6 minutes), BACKEND_ROUNDS (2), PG_REPLICAS (2),
#   BACKEND_PUBLISHES (1: also publishes/s through both, as in C),
#   PERF=1 (after the timed runs, `perf record` signet under the c64 timestamp load; off by default),
#   SIGNET_PG_URL (postgres://postgres@127.0.0.1:5432, the machine's PostgreSQL, trust auth),
#   BENCH_PEERS_ROOT (/tmp/signet-bench-peers), BENCH_NOTARY_PORT (14443), BENCH_SIGNER_PORT
#   (17899), BENCH_PG_PORT (15433).
#
# The Go peers (scripts/peers) run from a private PEERS_ROOT on their own ports and certificates, so
# a notary-server other people use on 4443 is left alone. Everything this script starts is
# stopped on exit (also on Ctrl-C): signet, notary-server, notary-signer, the private PostgreSQL,
# the RSS samplers; the signet database it created on 5432 is dropped.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
REPO_ROOT=$(cd "$HERE/../.." && pwd)
PEERS=${PEERS:-$REPO_ROOT/scripts/peers}

WRK_DURATION=${WRK_DURATION:-15s}
WRK_THREADS=${WRK_THREADS:-2}
CONNS=${CONNS:-"2 64"}
NTARGETS=${NTARGETS:-20}
N_GUNS=${N_GUNS:-2000}
PUB_CONCURRENCY=${PUB_CONCURRENCY:-16}
PUB_MAX_SECONDS=${PUB_MAX_SECONDS:-120}
PAIRS=${PAIRS:-"memory postgres backends"}
BACKEND_ROUNDS=${BACKEND_ROUNDS:-2}
BACKEND_PUBLISHES=${BACKEND_PUBLISHES:-1}
PG_REPLICAS=${PG_REPLICAS:-2}
PERF=${PERF:-0}
SIGNET_PG_URL=${SIGNET_PG_URL:-postgres://postgres@127.0.0.1:5432}

export PEERS_ROOT=${BENCH_PEERS_ROOT:-/tmp/signet-bench-peers}
export NOTARY_PORT=${BENCH_NOTARY_PORT:-14443}
export SIGNER_PORT=${BENCH_SIGNER_PORT:-17899}
export PG_PORT=${BENCH_PG_PORT:-15433}
export REGISTRY_PORT=${BENCH_REGISTRY_PORT:-15000}   # unused; keeps configure.sh's registry config off 5000
export NOTARY_LOG_LEVEL=${NOTARY_LOG_LEVEL:-info}    # the peers' default
GO_URL="https://127.0.0.1:$NOTARY_PORT"
CA="$PEERS_ROOT/certs/ca.crt"

STAMP=$(date -u +%Y%m%dT%H%M%SZ)
OUT="$REPO_ROOT/bench/results/$STAMP"
mkdir -p "$OUT"
GUN="bench.example/app"
PASS=bench-passphrase
export NOTARY_ROOT_PASSPHRASE=$PASS NOTARY_TARGETS_PASSPHRASE=$PASS \
  NOTARY_SNAPSHOT_PASSPHRASE=$PASS NOTARY_DELEGATION_PASSPHRASE=$PASS

log() { printf '[%s] %s\n' "$(date +%T)" "$*" >&2; }
die() { log "FATAL: $*"; exit 1; }

[ "$(id -u)" = 0 ] || die "run as root (the peers scripts start PostgreSQL with runuser)"
"$PEERS/install.sh"
# the benchmark's own tool (the test suite does not need it)
if ! command -v wrk >/dev/null; then
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null \
    || { apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null; }
fi
for t in wrk notary notary-server notary-signer curl jq psql awk; do
  command -v "$t" >/dev/null || die "$t not found (scripts/peers/install.sh installs all but wrk)"
done

# ------------------------------------------------------------------ cleanup
SIGNET_PIDS=()
SAMPLER_PIDS=()
SIGNET_DBS=()
GO_STARTED=0
cleanup() {
  local rc=$? p i
  trap - EXIT INT TERM
  for p in "${SAMPLER_PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${SIGNET_PIDS[@]}"; do
    kill "$p" 2>/dev/null || continue
    for i in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$p" 2>/dev/null || true
  done
  wait 2>/dev/null || true
  if [ "$GO_STARTED" = 1 ]; then
    "$PEERS/notary.sh" stop || true
    rm -rf "$PEERS_ROOT/pgdata"   # the private PostgreSQL's data (stopped above)
  fi
  for d in "${SIGNET_DBS[@]}"; do
    psql -X -q "$SIGNET_PG_URL/postgres" -c "DROP DATABASE IF EXISTS \"$d\"" 2>/dev/null || true
  done
  [ $rc = 0 ] || log "exit $rc; partial results in $OUT"
  exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ------------------------------------------------------------------ build
if [ "${SKIP_BUILD:-0}" != 1 ]; then
  log "building signet and the load generator (release; SKIP_BUILD=1 uses the existing binaries)"
  (cd "$REPO_ROOT" && cargo build --release -q -p signet-cli -p signet-bench-loadgen) \
    >"$OUT/build.log" 2>&1 || { tail -20 "$OUT/build.log" >&2; die "cargo build failed"; }
fi
# snapshot the binaries: a concurrent cargo build must not swap them mid-run
mkdir -p "$OUT/bin"
for b in signet signet-bench-loadgen; do
  [ -x "$REPO_ROOT/target/release/$b" ] || die "target/release/$b missing (cargo build --release -p signet-cli -p signet-bench-loadgen)"
  # a hard link keeps this inode even when cargo re-links target/release/$b; copy across filesystems
  ln "$REPO_ROOT/target/release/$b" "$OUT/bin/$b" 2>/dev/null || cp "$REPO_ROOT/target/release/$b" "$OUT/bin/$b"
done
SIGNET="$OUT/bin/signet"
LOADGEN="$OUT/bin/signet-bench-loadgen"

# ------------------------------------------------------------------ private Go peers root
"$PEERS/configure.sh"
# start from an empty private PostgreSQL each run
"$PEERS/notary.sh" stop || true
rm -rf "$PEERS_ROOT/pgdata"

{
  echo "date: $(date -u +%FT%TZ)"
  echo "host: $(uname -srm)"
  echo "cpus: $(nproc) ($(awk -F': ' '/model name/{print $2; exit}' /proc/cpuinfo))"
  echo "mem: $(awk '/MemTotal/{print $2" kB"}' /proc/meminfo)"
  echo "signet: $(cd "$REPO_ROOT" && git rev-parse --short HEAD 2>/dev/null || echo '?') (worktree may be dirty)"
  echo "notary-server: $(dpkg-query -W -f='${Version}' notary 2>/dev/null || echo '?')"
  echo "wrk: $(dpkg-query -W -f='${Version}' wrk 2>/dev/null || echo '?')"
  echo "postgres: $(psql -X -tA "$SIGNET_PG_URL/postgres" -c 'show server_version' 2>/dev/null || echo '?')"
  echo "WRK_DURATION=$WRK_DURATION WRK_THREADS=$WRK_THREADS CONNS=$CONNS NTARGETS=$NTARGETS"
  echo "N_GUNS=$N_GUNS PUB_CONCURRENCY=$PUB_CONCURRENCY PUB_MAX_SECONDS=$PUB_MAX_SECONDS"
  echo "PAIRS=$PAIRS BACKEND_ROUNDS=$BACKEND_ROUNDS PG_REPLICAS=$PG_REPLICAS"
  echo "signet binary: $(stat -c '%y' "$REPO_ROOT/target/release/signet")"
  echo "loadavg at start: $(cut -d' ' -f1-3 /proc/loadavg)"
} >"$OUT/env.txt"
read -r LOAD1 _ </proc/loadavg
awk -v l="$LOAD1" 'BEGIN{exit !(l > 0.5)}' \
  && log "WARNING: load average $LOAD1 at start; other work on this machine will skew the numbers"

# ------------------------------------------------------------------ helpers
# start_signet NAME DB_URL -> sets SIGNET_URL, SIGNET_PID
start_signet() {
  local name=$1 db=$2 i
  SIGNET_KEY_PASSPHRASE=$PASS "$SIGNET" server --listen 127.0.0.1:0 --database "$db" \
    --tls-cert "$PEERS_ROOT/certs/notary-server.crt" --tls-key "$PEERS_ROOT/certs/notary-server.key" \
    >"$OUT/$name.stdout" 2>"$OUT/$name.log" </dev/null &
  SIGNET_PID=$!
  SIGNET_PIDS+=("$SIGNET_PID")
  SIGNET_URL=
  for i in $(seq 300); do
    SIGNET_URL=$(grep -o 'https://[0-9.:]*' "$OUT/$name.stdout" 2>/dev/null | head -1 || true)
    [ -n "$SIGNET_URL" ] && break
    kill -0 "$SIGNET_PID" 2>/dev/null || { tail -5 "$OUT/$name.log" >&2; die "$name died"; }
    sleep 0.1
  done
  [ -n "$SIGNET_URL" ] || die "$name did not report its address"
  curl -sf --cacert "$CA" "$SIGNET_URL/_notary_server/health" >/dev/null || die "$name not healthy"
}

# seed URL TRUSTDIR: init GUN, add NTARGETS targets, publish (one upload of root/targets/snapshot)
seed() {
  local url=$1 td=$2 i
  local n=(notary -s "$url" --tlscacert "$CA" -d "$td")
  rm -rf "$td"
  "${n[@]}" init "$GUN" -p >>"$OUT/seed.log" 2>&1 || die "notary init against $url failed (see seed.log)"
  for i in $(seq -w 1 "$NTARGETS"); do
    "${n[@]}" add "$GUN" "release-$i" "$OUT/targets/file-$i" >>"$OUT/seed.log" 2>&1 \
      || die "notary add failed against $url"
  done
  "${n[@]}" publish "$GUN" >>"$OUT/seed.log" 2>&1 || die "notary publish against $url failed"
}

# sampler_start TAG NAME=PID... : VmRSS (kB) every 0.25 s -> OUT/rss-TAG.tsv (name, kB)
sampler_start() {
  local tag=$1; shift
  (
    while :; do
      for np in "$@"; do
        awk -v n="${np%%=*}" '/^VmRSS/{print n"\t"$2}' "/proc/${np#*=}/status" 2>/dev/null || true
      done
      sleep 0.25
    done
  ) >>"$OUT/rss-$tag.tsv" &
  SAMPLER_PIDS+=("$!")
}
sampler_stop() {
  local p=${SAMPLER_PIDS[-1]}
  kill "$p" 2>/dev/null || true
  wait "$p" 2>/dev/null || true
  unset 'SAMPLER_PIDS[-1]'
}
hwm() { awk '/^VmHWM/{print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }

# to_ms "1.23ms" -> 1.23
to_ms() {
  awk -v v="$1" 'BEGIN{
    if (v ~ /us$/) { sub(/us$/,"",v); printf "%.3f", v/1000 }
    else if (v ~ /ms$/) { sub(/ms$/,"",v); printf "%.3f", v }
    else if (v ~ /s$/) { sub(/s$/,"",v); printf "%.3f", v*1000 }
    else printf "%s", v }'
}

# wrk_run PAIR SERVER FILE CONNS URL -> appends a row to OUT/wrk.tsv
wrk_run() {
  local pair=$1 server=$2 file=$3 c=$4 url=$5 f rps p50 p99 errs non2xx
  f="$OUT/wrk-$pair-$server-${file%.json}-c$c.txt"
  wrk -t"$WRK_THREADS" -c"$c" -d"$WRK_DURATION" --latency "$url" >"$f" 2>&1 || true
  rps=$(awk '/^Requests\/sec:/{print $2}' "$f")
  p50=$(to_ms "$(awk '$1=="50%"{print $2}' "$f")")
  p99=$(to_ms "$(awk '$1=="99%"{print $2}' "$f")")
  non2xx=$(awk '/Non-2xx or 3xx responses:/{print $NF}' "$f")
  errs=$(awk '/Socket errors:/{s=0; for(i=3;i<=NF;i++) if ($i ~ /^[0-9]+,?$/) s+=$i+0; print s}' "$f")
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$pair" "$server" "$file" "$c" "${rps:-0}" "${p50:-NA}" \
    "${p99:-NA}" "$(( ${non2xx:-0} + ${errs:-0} ))" >>"$OUT/wrk.tsv"
  log "  $server $file c$c: ${rps:-?} req/s p50 ${p50}ms p99 ${p99}ms errors $(( ${non2xx:-0} + ${errs:-0} ))"
}

# publish_run PAIR SERVER URL -> appends to OUT/publish.tsv
publish_run() {
  local pair=$1 server=$2 url=$3 f="$OUT/publish-$1-$2.json"
  "$LOADGEN" --url "$url" --ca "$CA" --guns "$N_GUNS" --concurrency "$PUB_CONCURRENCY" \
    --gun-prefix "bench.example/pub-$STAMP-$server" --max-seconds "$PUB_MAX_SECONDS" \
    >"$f" 2>"$OUT/publish-$pair-$server.log" || { tail -5 "$OUT/publish-$pair-$server.log" >&2; log "loadgen failed for $server"; }
  if [ -s "$f" ]; then
    jq -r --arg p "$pair" --arg s "$server" \
      '[$p,$s,.ok,.failed,.publishes_per_sec,.p50_ms,.p99_ms,.elapsed_s] | @tsv' "$f" >>"$OUT/publish.tsv"
    log "  $server publishes: $(jq -r '"\(.ok) ok, \(.failed) failed, \(.publishes_per_sec|floor)/s, p50 \(.p50_ms) ms, p99 \(.p99_ms) ms"' "$f")"
  else
    printf '%s\t%s\t0\t0\t0\tNA\tNA\t0\n' "$pair" "$server" >>"$OUT/publish.tsv"
  fi
}

# ------------------------------------------------------------------ content
mkdir -p "$OUT/targets"
for i in $(seq -w 1 "$NTARGETS"); do
  head -c $((1000 + 10#$i * 137)) /dev/urandom >"$OUT/targets/file-$i"
done
: >"$OUT/wrk.tsv"; : >"$OUT/publish.tsv"; : >"$OUT/rss.tsv"; : >"$OUT/sizes.tsv"

# ------------------------------------------------------------------ D: signet SQLite vs PostgreSQL
# backends_run: both signet servers side by side, measured alternately (see D in the header).
backends_run() {
  local dbname="signet_bench_b_${STAMP,,}" sq_url sq_pid pg_url pg_pid i r file c order s
  psql -X -q "$SIGNET_PG_URL/postgres" -c "CREATE DATABASE \"$dbname\"" || die "cannot create $dbname"
  SIGNET_DBS+=("$dbname")
  start_signet signet-sqlite-b "sqlite://$OUT/backends.sqlite"
  sq_url=$SIGNET_URL sq_pid=$SIGNET_PID
  start_signet signet-postgres-b "$SIGNET_PG_URL/$dbname"
  pg_url=$SIGNET_URL pg_pid=$SIGNET_PID
  for i in $(seq 2 "$PG_REPLICAS"); do
    start_signet "signet-postgres-b-replica$i" "$SIGNET_PG_URL/$dbname"
  done
  log "signet SQLite at $sq_url (pid $sq_pid); signet PostgreSQL at $pg_url (pid $pg_pid, 1 of $PG_REPLICAS replicas)"
  seed "$sq_url" "$OUT/trust-backends-sqlite"
  seed "$pg_url" "$OUT/trust-backends-postgres"
  for s in "signet-sqlite=$sq_url" "signet-postgres=$pg_url"; do
    wrk -t"$WRK_THREADS" -c64 -d3s "${s#*=}/v2/$GUN/_trust/tuf/timestamp.json" >/dev/null 2>&1 || true  # warm-up
  done
  for file in timestamp.json targets.json; do
    for c in $CONNS; do
      for r in $(seq 1 "$BACKEND_ROUNDS"); do
        if [ $((r % 2)) = 1 ]; then order="signet-sqlite=$sq_url signet-postgres=$pg_url"
        else order="signet-postgres=$pg_url signet-sqlite=$sq_url"; fi
        for s in $order; do
          wrk_run backends "${s%%=*}" "$file" "$c" "${s#*=}/v2/$GUN/_trust/tuf/$file"
        done
      done
    done
  done
  curl -sf --cacert "$CA" "$pg_url/metrics" | grep '^signet_replica_' >"$OUT/backends-postgres-metrics.txt" || true
  if [ "$BACKEND_PUBLISHES" = 1 ]; then
    # Through the PostgreSQL replica, each publish waits until the other replicas applied it.
    publish_run backends signet-sqlite "$sq_url"
    publish_run backends signet-postgres "$pg_url"
  fi
  log "  signet PostgreSQL reads by freshness: $(grep -E 'reads_total|checks_total' "$OUT/backends-postgres-metrics.txt" | tr '\n' ' ')"
}

# ------------------------------------------------------------------ pairs
for pair in $PAIRS; do
  log "=== pair $pair"
  if [ "$pair" = backends ]; then backends_run; continue; fi
  case $pair in
    memory) go_mode=memory; signet_db="sqlite://$OUT/signet.sqlite"; sname=signet-sqlite ;;
    postgres)
      go_mode=postgres; sname=signet-postgres
      dbname="signet_bench_${STAMP,,}"
      psql -X -q "$SIGNET_PG_URL/postgres" -c "CREATE DATABASE \"$dbname\"" || die "cannot create $dbname"
      SIGNET_DBS+=("$dbname")
      signet_db="$SIGNET_PG_URL/$dbname" ;;
    *) die "unknown pair $pair (memory, postgres, backends)" ;;
  esac
  gname=go-$go_mode

  GO_STARTED=1
  "$PEERS/notary.sh" start "$go_mode" || die "notary.sh start $go_mode failed"
  GO_PID=$(cat "$PEERS_ROOT/run/notary-server.pid")
  SIGNER_PID=$(cat "$PEERS_ROOT/run/notary-signer.pid")
  start_signet "$sname" "$signet_db"
  log "$gname at $GO_URL (server pid $GO_PID, signer pid $SIGNER_PID); $sname at $SIGNET_URL (pid $SIGNET_PID)"

  log "seeding $GUN ($NTARGETS targets) with the notary CLI"
  seed "$GO_URL" "$OUT/trust-$gname"
  seed "$SIGNET_URL" "$OUT/trust-$sname"
  for s in "$gname=$GO_URL" "$sname=$SIGNET_URL"; do
    for file in timestamp.json targets.json; do
      curl -sf --cacert "$CA" "${s#*=}/v2/$GUN/_trust/tuf/$file" -o "$OUT/$pair-${s%%=*}-$file" \
        || die "GET $file from ${s%%=*} failed"
      printf '%s\t%s\t%s\n' "${s%%=*}" "$file" "$(stat -c %s "$OUT/$pair-${s%%=*}-$file")" >>"$OUT/sizes.tsv"
    done
  done

  # ---- A + B(reads)
  sampler_start "$pair-read" "$gname=$GO_PID" "notary-signer-$go_mode=$SIGNER_PID" "$sname=$SIGNET_PID"
  for s in "$gname=$GO_URL" "$sname=$SIGNET_URL"; do
    wrk -t"$WRK_THREADS" -c64 -d3s "${s#*=}/v2/$GUN/_trust/tuf/timestamp.json" >/dev/null 2>&1 || true  # warm-up
  done
  for file in timestamp.json targets.json; do
    for c in $CONNS; do
      wrk_run "$pair" "$gname" "$file" "$c" "$GO_URL/v2/$GUN/_trust/tuf/$file"
      wrk_run "$pair" "$sname" "$file" "$c" "$SIGNET_URL/v2/$GUN/_trust/tuf/$file"
    done
  done
  sampler_stop

  # ---- C + B(publishes)
  sampler_start "$pair-publish" "$gname=$GO_PID" "notary-signer-$go_mode=$SIGNER_PID" "$sname=$SIGNET_PID"
  publish_run "$pair" "$gname" "$GO_URL"
  publish_run "$pair" "$sname" "$SIGNET_URL"
  sampler_stop

  for f in notary-server notary-signer; do cp "$PEERS_ROOT/run/$f.log" "$OUT/$gname-$f.log" 2>/dev/null || true; done
  for np in "$gname=$GO_PID" "notary-signer-$go_mode=$SIGNER_PID" "$sname=$SIGNET_PID"; do
    kill -0 "${np#*=}" 2>/dev/null || log "WARNING: ${np%%=*} (pid ${np#*=}) is no longer running; see its log in $OUT"
    for ph in read publish; do
      printf '%s\t%s\t%s\t%s\n' "$pair" "${np%%=*}" "$ph" \
        "$(awk -F'\t' -v n="${np%%=*}" '$1==n && $2>m {m=$2} END{print m+0}' "$OUT/rss-$pair-$ph.tsv")" >>"$OUT/rss.tsv"
    done
    printf '%s\t%s\thwm\t%s\n' "$pair" "${np%%=*}" "$(hwm "${np#*=}")" >>"$OUT/rss.tsv"
  done

  if [ "$PERF" = 1 ] && command -v perf >/dev/null; then
    log "perf: recording $sname under c64 timestamp.json load"
    wrk -t"$WRK_THREADS" -c64 -d12s "$SIGNET_URL/v2/$GUN/_trust/tuf/timestamp.json" >/dev/null 2>&1 &
    wpid=$!
    sleep 1
    perf record -F 999 -g -p "$SIGNET_PID" -o "$OUT/perf-$sname.data" -- sleep 8 >/dev/null 2>&1 || true
    wait "$wpid" || true
    perf report -i "$OUT/perf-$sname.data" --no-children --stdio --percent-limit 1.5 -g none \
      >"$OUT/perf-$sname.txt" 2>/dev/null || true
  fi

  kill "$SIGNET_PID" 2>/dev/null || true
  wait "$SIGNET_PID" 2>/dev/null || true
  "$PEERS/notary.sh" stop || true
done

# ------------------------------------------------------------------ summary
summary() {
  if grep -qv '^backends' "$OUT/wrk.tsv"; then
  echo "### Reads (wrk -t$WRK_THREADS -d$WRK_DURATION --latency, TLS, loopback; $(nproc) cores shared with wrk)"
  echo
  echo "| backend | file (bytes Go/signet) | conns | Go req/s | signet req/s | ratio | Go p50 ms | signet p50 ms | Go p99 ms | signet p99 ms | errors Go/signet |"
  echo "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
  awk -F'\t' '
    FILENAME ~ /sizes/ { size[$1, $2] = $3; next }
    $1 == "backends" { next }
    { key = $1 SUBSEP $3 SUBSEP $4
      if ($2 ~ /^go-/) { g[key] = $0; gn[key] = $2 } else { s[key] = $0; sn[key] = $2 }
      if (!(key in seen)) { seen[key] = 1; order[++n] = key } }
    END {
      for (i = 1; i <= n; i++) {
        k = order[i]; split(g[k], a, "\t"); split(s[k], b, "\t")
        be = (a[1] == "memory") ? "Go memory vs signet SQLite" : "Go PostgreSQL vs signet PostgreSQL"
        ratio = (a[5] > 0) ? sprintf("%.2fx", b[5] / a[5]) : "n/a"
        printf "| %s | %s (%s/%s) | %s | %.0f | %.0f | **%s** | %s | %s | %s | %s | %s/%s |\n",
          be, a[3], size[gn[k], a[3]], size[sn[k], a[3]], a[4], a[5], b[5], ratio, a[6], b[6], a[7], b[7], a[8], b[8]
      }
    }' "$OUT/sizes.tsv" "$OUT/wrk.tsv"
  fi
  if grep -q '^backends' "$OUT/wrk.tsv"; then
    echo
    echo "### Signet on PostgreSQL vs Signet on SQLite (side by side, $BACKEND_ROUNDS alternating rounds, means; PostgreSQL: 1 of $PG_REPLICAS replicas)"
    echo
    echo "| file | conns | SQLite req/s | PostgreSQL req/s | **PG/SQLite req/s** | SQLite p99 ms | PostgreSQL p99 ms | **PG/SQLite p99** | errors SQLite/PG |"
    echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|"
    awk -F'\t' '
      $1 != "backends" { next }
      { k = $3 SUBSEP $4; b = ($2 == "signet-postgres") ? "pg" : "sq"
        n[k, b]++; rps[k, b] += $5; p99[k, b] += $7; err[k, b] += $8
        if (!(k in seen)) { seen[k] = 1; order[++m] = k } }
      END {
        for (i = 1; i <= m; i++) {
          k = order[i]; split(k, a, SUBSEP)
          sr = rps[k, "sq"] / n[k, "sq"]; pr = rps[k, "pg"] / n[k, "pg"]
          sp = p99[k, "sq"] / n[k, "sq"]; pp = p99[k, "pg"] / n[k, "pg"]
          printf "| %s | %s | %.0f | %.0f | **%.2fx** | %.2f | %.2f | **%.2fx** | %d/%d |\n",
            a[1], a[2], sr, pr, (sr > 0) ? pr / sr : 0, sp, pp, (sp > 0) ? pp / sp : 0, err[k, "sq"], err[k, "pg"]
        }
      }' "$OUT/wrk.tsv"
    if [ -s "$OUT/backends-postgres-metrics.txt" ]; then
      echo
      echo "The measured PostgreSQL replica's counters afterwards (reads proven by notifications need no query):"
      echo
      echo '```'
      grep -E 'reads_total|checks_total|listener' "$OUT/backends-postgres-metrics.txt"
      echo '```'
    fi
  fi
  [ -s "$OUT/publish.tsv" ] || return 0
  echo
  echo "### Publishes to distinct GUNs (signet-bench-loadgen, N=$N_GUNS, concurrency $PUB_CONCURRENCY)"
  echo
  echo "| server | ok | failed | publishes/s | p50 ms | p99 ms | elapsed s |"
  echo "|---|---:|---:|---:|---:|---:|---:|"
  awk -F'\t' '{ printf "| %s | %s | %s | %.1f | %s | %s | %s |\n", $2, $3, $4, $5, $6, $7, $8 }' "$OUT/publish.tsv"
  awk -F'\t' '
    { r[$1, ($2 ~ /^go-/) ? "go" : "signet"] = $5; if (!($1 in seen)) { seen[$1] = 1; o[++n] = $1 } }
    END { for (i = 1; i <= n; i++) if (r[o[i], "go"] > 0)
            printf "\nsignet/Go publishes/s (%s): **%.2fx**\n", o[i], r[o[i], "signet"] / r[o[i], "go"] }' "$OUT/publish.tsv"
  awk -F'\t' -v n="$PG_REPLICAS" '$1 == "backends" { r[$2] = $5 }
    END { if (r["signet-sqlite"] > 0 && ("signet-postgres" in r))
      printf "\nsignet PostgreSQL (1 of %s replicas) / signet SQLite publishes/s: **%.2fx**\n", n, r["signet-postgres"] / r["signet-sqlite"] }' "$OUT/publish.tsv"
  [ -s "$OUT/rss.tsv" ] || return 0
  echo
  echo "### Server memory (MiB; max sampled VmRSS per phase, VmHWM at the end)"
  echo
  echo "| backend | process | reads max RSS | publishes max RSS | VmHWM |"
  echo "|---|---|---:|---:|---:|"
  awk -F'\t' '
    { k = $1 SUBSEP $2; v[k, $3] = $4; if (!(k in seen)) { seen[k] = 1; o[++n] = k } }
    END { for (i = 1; i <= n; i++) { split(o[i], a, SUBSEP)
      printf "| %s | %s | %.1f | %.1f | %.1f |\n", a[1], a[2], v[o[i], "read"] / 1024, v[o[i], "publish"] / 1024, v[o[i], "hwm"] / 1024 } }' \
    "$OUT/rss.tsv"
  echo
  echo "PostgreSQL backend processes are not included in either server's RSS."
}
echo "loadavg at end: $(cut -d' ' -f1-3 /proc/loadavg)" >>"$OUT/env.txt"
summary | tee "$OUT/summary.md"
log "raw results: $OUT"
