#!/usr/bin/env bash
# bench/client/run.sh -- the `signet` client vs the Go `notary` CLI (0.7), same run, same server.
#
# Not a test: a benchmark to run by hand (as root: it apt-installs hyperfine if missing), on an
# otherwise idle machine. It talks to an already running Go notary-server (by default the one the
# peers scripts start on https://127.0.0.1:4443, memory mode; scripts/peers/up.sh) and measures:
#   A. `list` on a repository of NSMALL (500) targets and one of NLARGE (10,000) targets, created
#      by the Go `notary` CLI (init -p, NLARGE `addhash`es, one publish):
#        warm: the trust dir already holds the cached metadata (each client primed its own dir);
#        cold: a fresh trust dir for every run (hyperfine --prepare removes it, then runs
#              `sync`), so each run fetches everything and trusts the root on first use.
#      `sync` runs (untimed) before each set of list runs and in each cold run's preparation,
#      so no run waits behind the set-up's or an earlier run's writes still going to disk.
#      Medians (and mean, stddev, min, max) from hyperfine; ratio = notary / signet.
#      Before timing, `signet list` output must equal `notary list` output byte for byte.
#   B. Peak RSS (`/usr/bin/time -f %M`, the kernel's max RSS of the process) of `list` on the
#      large repository, warm and cold, RSS_RUNS times each; median and max reported.
#   C. add+publish (one `addhash` + `publish` on the small repository): notary always; signet only
#      if `signet publish` can sign in this build (it is probed once and said so if it cannot).
#      `sync` runs (untimed) before each run, so no run waits for earlier writes to reach disk.
# Raw output goes to bench/results/<UTC timestamp>/client/; a markdown summary is printed at the
# end and saved as summary.md there.
#
# Knobs (env): SERVER (https://127.0.0.1:4443), CA (/tmp/peers/certs/ca.crt), NSMALL (500),
#   NLARGE (10000), RUNS_SMALL (40), RUNS_LARGE (15), WARMUP (3), RUNS_PUBLISH (15), RSS_RUNS (5),
#   SKIP_BUILD=1 (use the existing target/release/signet), SIGNET_BIN (another signet binary, e.g. a
#   debug build for a dry run with small NSMALL/NLARGE; implies SKIP_BUILD).
#
# Nothing is started or stopped: the repositories are new GUNs (bench.example/client-<stamp>-N)
# on the given server and stay there (the memory-mode server forgets them when it restarts).
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
REPO_ROOT=$(cd "$HERE/../.." && pwd)

SERVER=${SERVER:-https://127.0.0.1:4443}
CA=${CA:-/tmp/peers/certs/ca.crt}
NSMALL=${NSMALL:-500}
NLARGE=${NLARGE:-10000}
RUNS_SMALL=${RUNS_SMALL:-40}
RUNS_LARGE=${RUNS_LARGE:-15}
WARMUP=${WARMUP:-3}
RUNS_PUBLISH=${RUNS_PUBLISH:-15}
RSS_RUNS=${RSS_RUNS:-5}

STAMP=$(date -u +%Y%m%dT%H%M%SZ)
OUT="$REPO_ROOT/bench/results/$STAMP/client"
mkdir -p "$OUT"
PASS=bench-passphrase
export NOTARY_ROOT_PASSPHRASE=$PASS NOTARY_TARGETS_PASSPHRASE=$PASS \
  NOTARY_SNAPSHOT_PASSPHRASE=$PASS NOTARY_DELEGATION_PASSPHRASE=$PASS

log() { printf '[%s] %s\n' "$(date +%T)" "$*" >&2; }
die() { log "FATAL: $*"; exit 1; }
trap 'rc=$?; [ $rc = 0 ] || log "exit $rc; partial results in $OUT"' EXIT

if ! command -v hyperfine >/dev/null; then
  [ "$(id -u)" = 0 ] || die "hyperfine not found; run as root (it is installed with apt-get) or install it"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq hyperfine >/dev/null \
    || { apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq hyperfine >/dev/null; }
fi
for t in hyperfine notary curl jq awk sha256sum; do
  command -v "$t" >/dev/null || die "$t not found (scripts/peers/install.sh installs notary)"
done
[ -x /usr/bin/time ] || die "/usr/bin/time not found (apt-get install time)"
[ -r "$CA" ] || die "CA certificate $CA not readable (start the peers: scripts/peers/up.sh)"
curl -fsS --cacert "$CA" "$SERVER/_notary_server/health" >/dev/null \
  || die "no notary-server answering at $SERVER (start the peers: scripts/peers/up.sh)"

# ------------------------------------------------------------------ build
SIGNET_SRC=${SIGNET_BIN:-$REPO_ROOT/target/release/signet}
if [ "${SKIP_BUILD:-0}" != 1 ] && [ -z "${SIGNET_BIN:-}" ]; then
  log "building signet (release; SKIP_BUILD=1 uses the existing binary)"
  (cd "$REPO_ROOT" && cargo build --release -q -p signet-cli) >"$OUT/build.log" 2>&1 \
    || { tail -20 "$OUT/build.log" >&2; die "cargo build failed"; }
fi
[ -x "$SIGNET_SRC" ] || die "$SIGNET_SRC missing (cargo build --release -p signet-cli)"
# snapshot the binary: a concurrent cargo build must not swap it mid-run
mkdir -p "$OUT/bin"
ln "$SIGNET_SRC" "$OUT/bin/signet" 2>/dev/null || cp "$SIGNET_SRC" "$OUT/bin/signet"
SIGNET="$OUT/bin/signet"
NOTARY=$(command -v notary)

{
  echo "date: $STAMP"
  echo "server: $SERVER"
  echo "notary: $NOTARY ($(dpkg-query -W -f '${Package} ${Version}' notary 2>/dev/null || echo unknown))"
  echo "signet: $("$SIGNET" --version) ($(cd "$REPO_ROOT" && git rev-parse --short HEAD 2>/dev/null || echo '?'))"
  echo "hyperfine: $(hyperfine --version)"
  echo "nproc: $(nproc); load at start: $(cut -d' ' -f1-3 /proc/loadavg)"
} >"$OUT/env.txt"

# the command lines of both clients, same flags (signet takes notary's)
ncmd() { echo "$NOTARY -s $SERVER --tlscacert $CA -d $1"; }
scmd() { echo "$SIGNET -s $SERVER --tlscacert $CA -d $1"; }

# ------------------------------------------------------------------ repositories
# create_repo GUN N: notary init -p, N addhash (no files needed), one publish
create_repo() {
  local gun=$1 n=$2 td="$OUT/trust/creator" i
  log "creating $gun with $n targets (notary init -p, $n addhash, publish)"
  $(ncmd "$td") init -p "$gun" >>"$OUT/create.log" 2>&1 || die "notary init $gun failed (see create.log)"
  for ((i = 1; i <= n; i++)); do
    # a distinct name, size and digest per target; the digest is sha256 of the name
    $(ncmd "$td") addhash "$gun" "target-$i" $((1000 + i)) \
      --sha256 "$(printf 'target-%d' "$i" | sha256sum | cut -c1-64)" >/dev/null 2>>"$OUT/create.log" \
      || die "notary addhash $gun target-$i failed (see create.log)"
  done
  $(ncmd "$td") publish "$gun" >>"$OUT/create.log" 2>&1 || die "notary publish $gun failed (see create.log)"
}

GUN_SMALL="bench.example/client-$STAMP-$NSMALL"
GUN_LARGE="bench.example/client-$STAMP-$NLARGE"
T0=$(date +%s)
create_repo "$GUN_SMALL" "$NSMALL"
create_repo "$GUN_LARGE" "$NLARGE"
log "repositories created in $(($(date +%s) - T0)) s"

# ------------------------------------------------------------------ same output
# prime the warm trust dirs (one per client) and compare the outputs
for gun in "$GUN_SMALL" "$GUN_LARGE"; do
  tag=${gun##*-}
  $(ncmd "$OUT/trust/warm-notary") list "$gun" >"$OUT/list-$tag.notary.out" 2>"$OUT/list-$tag.notary.err" \
    || die "notary list $gun failed: $(cat "$OUT/list-$tag.notary.err")"
  $(scmd "$OUT/trust/warm-signet") list "$gun" >"$OUT/list-$tag.signet.out" 2>"$OUT/list-$tag.signet.err" \
    || die "signet list $gun failed: $(cat "$OUT/list-$tag.signet.err")"
  if ! cmp -s "$OUT/list-$tag.notary.out" "$OUT/list-$tag.signet.out"; then
    diff -u "$OUT/list-$tag.notary.out" "$OUT/list-$tag.signet.out" | head -40 >&2 || true
    die "signet list and notary list differ for $gun (outputs in $OUT)"
  fi
  rows=$(($(wc -l <"$OUT/list-$tag.notary.out") - 2))
  [ "$rows" -ge "$tag" ] || die "notary list $gun shows $rows targets, expected $tag"
  # a warm list again must print the same (served from the cache)
  $(scmd "$OUT/trust/warm-signet") list "$gun" | cmp -s - "$OUT/list-$tag.notary.out" \
    || die "warm signet list of $gun differs from notary list"
  log "list output identical for $gun ($rows targets, $(wc -c <"$OUT/list-$tag.notary.out") bytes)"
done

# ------------------------------------------------------------------ A. list, hyperfine
# bench_list NAME GUN RUNS: warm and cold, both clients, one hyperfine run each (json exported)
bench_list() {
  local tag=$1 gun=$2 runs=$3
  # Nothing the set-up wrote may still be on its way to disk while a client runs: a run
  # that creates files (every cold one) would wait on the journal behind it.
  sync
  log "list $tag targets, warm ($runs runs each)"
  hyperfine -N --warmup "$WARMUP" --runs "$runs" --export-json "$OUT/list-$tag-warm.json" \
    -n notary "$(ncmd "$OUT/trust/warm-notary") list $gun" \
    -n signet "$(scmd "$OUT/trust/warm-signet") list $gun" >"$OUT/list-$tag-warm.txt" 2>&1 \
    || { cat "$OUT/list-$tag-warm.txt" >&2; die "hyperfine warm $tag failed"; }
  log "list $tag targets, cold ($runs runs each, a fresh trust dir per run)"
  hyperfine -N --warmup 1 --runs "$runs" --export-json "$OUT/list-$tag-cold.json" \
    --prepare "sh -c 'rm -rf $OUT/trust/cold && sync'" \
    -n notary "$(ncmd "$OUT/trust/cold") list $gun" \
    -n signet "$(scmd "$OUT/trust/cold") list $gun" >"$OUT/list-$tag-cold.txt" 2>&1 \
    || { cat "$OUT/list-$tag-cold.txt" >&2; die "hyperfine cold $tag failed"; }
  rm -rf "$OUT/trust/cold"
}
bench_list "$NSMALL" "$GUN_SMALL" "$RUNS_SMALL"
bench_list "$NLARGE" "$GUN_LARGE" "$RUNS_LARGE"

# ------------------------------------------------------------------ B. peak RSS
# one line per run: client mode kib
: >"$OUT/rss.tsv"
log "peak RSS of list $NLARGE targets ($RSS_RUNS runs per client and mode)"
for ((r = 1; r <= RSS_RUNS; r++)); do
  for c in notary signet; do
    if [ $c = notary ]; then cmd=ncmd; else cmd=scmd; fi
    /usr/bin/time -f %M -o "$OUT/rss.tmp" $($cmd "$OUT/trust/warm-$c") list "$GUN_LARGE" >/dev/null 2>>"$OUT/rss.err" \
      || die "$c warm list failed under /usr/bin/time"
    printf '%s\twarm\t%s\n' $c "$(tail -1 "$OUT/rss.tmp")" >>"$OUT/rss.tsv"
    rm -rf "$OUT/trust/cold"
    /usr/bin/time -f %M -o "$OUT/rss.tmp" $($cmd "$OUT/trust/cold") list "$GUN_LARGE" >/dev/null 2>>"$OUT/rss.err" \
      || die "$c cold list failed under /usr/bin/time"
    printf '%s\tcold\t%s\n' $c "$(tail -1 "$OUT/rss.tmp")" >>"$OUT/rss.tsv"
  done
done
rm -rf "$OUT/trust/cold" "$OUT/rss.tmp"

# ------------------------------------------------------------------ C. add+publish
# one addhash + publish on the small repository per run, random digest so each run changes it
PUB_SCRIPT="$OUT/add-publish.sh"
cat >"$PUB_SCRIPT" <<'EOF'
#!/bin/sh
# add-publish.sh CLIENT-COMMAND... : one addhash + publish of GUN ($BENCH_GUN)
set -e
h=$(head -c 32 /dev/urandom | sha256sum | cut -c1-64)
# both clients print "* fatal: ..." on stdout (as notary does): show it on stderr when a step fails
out=$("$@" addhash "$BENCH_GUN" bench-added 4242 --sha256 "$h" 2>&1) || { echo "$out" >&2; exit 1; }
out=$("$@" publish "$BENCH_GUN" 2>&1) || { echo "$out" >&2; exit 1; }
EOF
chmod +x "$PUB_SCRIPT"
export BENCH_GUN="$GUN_SMALL"
# can signet sign here? probe once on a copy of the publisher's trust dir
rm -rf "$OUT/trust/signet-publisher"
cp -a "$OUT/trust/creator" "$OUT/trust/signet-publisher"
SIGNET_PUBLISHES=0
if "$PUB_SCRIPT" $(scmd "$OUT/trust/signet-publisher") >"$OUT/signet-publish-probe.txt" 2>&1; then
  SIGNET_PUBLISHES=1
else
  log "signet cannot publish in this build: $(grep -v '^$' "$OUT/signet-publish-probe.txt" | tail -1); add+publish is notary only"
fi
pub_args=(-n notary "$PUB_SCRIPT $(ncmd "$OUT/trust/creator")")
[ $SIGNET_PUBLISHES = 0 ] || pub_args+=(-n signet "$PUB_SCRIPT $(scmd "$OUT/trust/signet-publisher")")
log "add+publish on $NSMALL targets ($RUNS_PUBLISH runs)"
# `sync` before every run (untimed): the repository creation above leaves many dirty pages,
# and a client that fsyncs its staged change (signet does, notary does not) would otherwise
# wait in its first runs for the journal to write out the benchmark's own earlier files.
hyperfine -N --warmup 1 --runs "$RUNS_PUBLISH" --prepare sync --export-json "$OUT/add-publish.json" "${pub_args[@]}" \
  >"$OUT/add-publish.txt" 2>&1 || { cat "$OUT/add-publish.txt" >&2; die "hyperfine add+publish failed"; }
# the other client still lists what was published, identically
$(ncmd "$OUT/trust/warm-notary") list "$GUN_SMALL" >"$OUT/list-after-publish.notary.out"
$(scmd "$OUT/trust/warm-signet") list "$GUN_SMALL" >"$OUT/list-after-publish.signet.out"
cmp -s "$OUT/list-after-publish.notary.out" "$OUT/list-after-publish.signet.out" \
  || die "after the publishes, signet list and notary list differ for $GUN_SMALL"
echo "load at end: $(cut -d' ' -f1-3 /proc/loadavg)" >>"$OUT/env.txt"

# ------------------------------------------------------------------ summary
ms() { jq -r --arg n "$2" --arg f "$3" '.results[] | select(.command == $n) | .[$f] * 1000' "$1"; }
summary() {
  local f tag mode n s
  echo "### Client: list (hyperfine medians, ms; ratio = notary / signet)"
  echo
  echo "| repository | mode | runs | notary median | signet median | ratio | notary mean ± sd | signet mean ± sd | signet min-max |"
  echo "|---|---|---|---|---|---|---|---|---|"
  for tag in "$NSMALL" "$NLARGE"; do
    for mode in warm cold; do
      f="$OUT/list-$tag-$mode.json"
      n=$(ms "$f" notary median); s=$(ms "$f" signet median)
      awk -v t="$tag" -v m="$mode" -v r="$(jq '.results[0].times | length' "$f")" -v n="$n" -v s="$s" \
        -v nm="$(ms "$f" notary mean)" -v nsd="$(ms "$f" notary stddev)" \
        -v sm="$(ms "$f" signet mean)" -v ssd="$(ms "$f" signet stddev)" \
        -v smin="$(ms "$f" signet min)" -v smax="$(ms "$f" signet max)" \
        'BEGIN { printf "| %s targets | %s | %s | %.1f | %.1f | **%.1fx** | %.1f ± %.1f | %.1f ± %.1f | %.1f-%.1f |\n",
                 t, m, r, n, s, n / s, nm, nsd, sm, ssd, smin, smax }'
    done
  done
  echo
  echo "### Client: peak RSS of list on $NLARGE targets (MiB, /usr/bin/time %M, $RSS_RUNS runs)"
  echo
  echo "| mode | notary median | notary max | signet median | signet max | ratio (median) |"
  echo "|---|---|---|---|---|---|"
  for mode in warm cold; do
    n=$(awk -F'\t' -v m=$mode '$1 == "notary" && $2 == m { print $3 }' "$OUT/rss.tsv" | sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] " " a[NR] }')
    s=$(awk -F'\t' -v m=$mode '$1 == "signet" && $2 == m { print $3 }' "$OUT/rss.tsv" | sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] " " a[NR] }')
    awk -v m=$mode -v n="$n" -v s="$s" 'BEGIN { split(n, a, " "); split(s, b, " ");
      printf "| %s | %.1f | %.1f | %.1f | %.1f | **%.1fx** |\n", m, a[1] / 1024, a[2] / 1024, b[1] / 1024, b[2] / 1024, a[1] / b[1] }'
  done
  echo
  echo "### Client: add+publish (one addhash + publish on $NSMALL targets, ms)"
  echo
  f="$OUT/add-publish.json"
  if [ $SIGNET_PUBLISHES = 1 ]; then
    n=$(ms "$f" notary median); s=$(ms "$f" signet median)
    awk -v n="$n" -v s="$s" 'BEGIN { printf "notary median %.1f, signet median %.1f, ratio **%.1fx**\n", n, s, n / s }'
  else
    n=$(ms "$f" notary median)
    awk -v n="$n" 'BEGIN { printf "notary median %.1f; signet: not measured, this build cannot sign (", n }'
    printf '%s)\n' "$(grep -v '^$' "$OUT/signet-publish-probe.txt" | tail -1 | sed 's/^[* ]*//')"
  fi
  echo
  echo "Raw results: $OUT ($(cut -d' ' -f1-3 /proc/loadavg) load at end)"
}
summary | tee "$OUT/summary.md"
