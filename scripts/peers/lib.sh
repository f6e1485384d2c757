# scripts/peers/lib.sh: settings and helpers for the scripts in this directory (sourced, not run).
#
# The reference peers the test suite runs Signet against: the Go notary-server and
# notary-signer (Debian's `notary` 0.7) and Debian's `docker-registry`. Every setting below
# can be overridden from the environment; the defaults are what the tests expect.
# Everything listens on 127.0.0.1 only.

: "${PEERS_ROOT:=/tmp/peers}"           # certs/, conf/, sql/, run/ (pid files and logs), data
: "${NOTARY_PORT:=4443}"                # notary-server, HTTPS
: "${SIGNER_PORT:=7899}"                # notary-signer, gRPC over mutual TLS
: "${REGISTRY_PORT:=5000}"              # docker-registry, plain HTTP (debug listener on +1)
: "${PG_PORT:=5433}"                    # private PostgreSQL for notary's postgres mode
: "${NOTARY_LOG_LEVEL:=info}"
: "${REGISTRY_LOG_LEVEL:=info}"
# notary-signer encrypts the private keys it stores in PostgreSQL under this alias; it reads
# the passphrase from the environment variable NOTARY_SIGNER_<ALIAS in upper case>.
: "${SIGNER_ALIAS:=signetpeers}"
: "${SIGNER_ALIAS_PASSPHRASE:=signet-peers-signer-passphrase}"
: "${PG_SERVER_PASSWORD:=notaryserver-pw}"
: "${PG_SIGNER_PASSWORD:=notarysigner-pw}"
export PEERS_ROOT NOTARY_PORT SIGNER_PORT REGISTRY_PORT PG_PORT

PEERS_SCRIPTS=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
CERTS=$PEERS_ROOT/certs
CONF=$PEERS_ROOT/conf
SQL=$PEERS_ROOT/sql
RUN=$PEERS_ROOT/run
PGDATA=$PEERS_ROOT/pgdata

# fail MESSAGE: print "<script>: MESSAGE" and exit 1.
fail() { printf '%s: %s\n' "$(basename "$0")" "$*" >&2; exit 1; }

# note MESSAGE: progress, shown only with VERBOSE=1.
note() { if [ -n "${VERBOSE:-}" ]; then printf '%s: %s\n' "$(basename "$0")" "$*" >&2; fi; }

# running PIDFILE: true if the process named in PIDFILE exists and is not a zombie.
running() {
  local pid state
  [ -s "$1" ] || return 1
  pid=$(<"$1")
  case $pid in '' | *[!0-9]*) return 1 ;; esac
  state=$(awk '{ print $3 }' "/proc/$pid/stat" 2>/dev/null) || return 1
  [ -n "$state" ] && [ "$state" != Z ] && [ "$state" != X ]
}

# listening PORT: true if something accepts TCP connections on 127.0.0.1:PORT.
listening() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# spawn NAME COMMAND...: run COMMAND in its own session (it outlives the caller), output in
# $RUN/NAME.log, pid in $RUN/NAME.pid.
spawn() {
  local name=$1
  shift
  mkdir -p "$RUN"
  setsid "$@" </dev/null >"$RUN/$name.log" 2>&1 &
  echo $! >"$RUN/$name.pid"
}

# halt PIDFILE: stop the process named in PIDFILE (TERM, then KILL after 10 s) and remove the
# file. Only that pid is signalled.
halt() {
  local file=$1 pid i
  if running "$file"; then
    pid=$(<"$file")
    kill -TERM "$pid" 2>/dev/null || true
    for i in $(seq 100); do
      running "$file" || break
      sleep 0.1
    done
    if running "$file"; then kill -KILL "$pid" 2>/dev/null || true; fi
  fi
  rm -f "$file"
}

# await NAME PIDFILE CHECK...: poll CHECK (a command) for up to 15 s while the process in
# PIDFILE lives; on failure show the end of its log and exit.
await() {
  local name=$1 file=$2 i
  shift 2
  for i in $(seq 150); do
    if ! running "$file"; then
      tail -n 20 "$RUN/$name.log" >&2 || true
      fail "$name exited during startup (log: $RUN/$name.log)"
    fi
    if "$@"; then return 0; fi
    sleep 0.1
  done
  tail -n 20 "$RUN/$name.log" >&2 || true
  fail "$name did not come up within 15 s (log: $RUN/$name.log)"
}

# put FILE: write stdin to FILE only when the content differs (running peers keep their
# files' timestamps, and a rerun changes nothing).
put() {
  local tmp
  tmp=$(mktemp "$1.XXXXXX")
  cat >"$tmp"
  if cmp -s "$tmp" "$1"; then rm -f "$tmp"; else chmod 644 "$tmp" && mv -f "$tmp" "$1"; fi
}

# pg_bindir: the newest installed PostgreSQL server's bin directory.
pg_bindir() {
  local d
  d=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
  [ -n "$d" ] || fail "PostgreSQL server binaries not found (run scripts/peers/install.sh)"
  echo "$d"
}
