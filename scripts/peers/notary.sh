#!/usr/bin/env bash
# scripts/peers/notary.sh start [memory|postgres|local] | stop | status
#
# The Go notary-server on https://127.0.0.1:$NOTARY_PORT, in one of three modes:
#   memory    notary-server and notary-signer, both keeping everything in memory; the
#             server asks the signer (gRPC, mutual TLS on $SIGNER_PORT) for timestamp and
#             snapshot signatures                                            (the default)
#   postgres  the same pair on a private PostgreSQL cluster ($PEERS_ROOT/pgdata, port
#             $PG_PORT; created, started and given notary's tables on first use)
#   local     notary-server alone, memory store, signing keys held in-process
#
# start: idempotent. Nothing happens when the mode asked for is already up; a different
#        mode is stopped first. Waits until /_notary_server/health answers.
# stop:  stops the processes named in $PEERS_ROOT/run/notary-{server,signer}.pid and the
#        private PostgreSQL (KEEP_PG=1 leaves it running).
# status: prints the mode and exits 0 when it is up, 1 otherwise.
# Logs: $PEERS_ROOT/run/notary-{server,signer}.log (PostgreSQL: $PEERS_ROOT/pgdata/log).
# Needs root for postgres mode (the cluster runs as the postgres user).
set -euo pipefail
. "$(dirname "$0")/lib.sh"

SERVER_PID=$RUN/notary-server.pid
SIGNER_PID=$RUN/notary-signer.pid
MODE_FILE=$RUN/notary.mode
URL=https://127.0.0.1:$NOTARY_PORT

# up MODE: the processes MODE needs are alive and were started for MODE.
up() {
  [ "$(cat "$MODE_FILE" 2>/dev/null)" = "$1" ] && running "$SERVER_PID" &&
    { [ "$1" = local ] || running "$SIGNER_PID"; }
}

healthy() {
  [ "$(curl -s --max-time 2 --cacert "$CERTS/ca.crt" "$URL/_notary_server/health")" = "{}" ]
}

# as_postgres COMMAND...: run COMMAND as the postgres user.
as_postgres() { runuser -u postgres -- "$@"; }

# psql_in DATABASE USER [PSQL ARGS...]: run the SQL on stdin, stopping at the first error.
psql_in() {
  local db=$1 user=$2
  shift 2
  as_postgres "$(pg_bindir)/psql" -X -q -v ON_ERROR_STOP=1 -h "$PGDATA" -p "$PG_PORT" \
    -U "$user" -d "$db" "$@"
}

pg_start() {
  local bin
  bin=$(pg_bindir)
  [ "$(id -u)" = 0 ] || fail "postgres mode needs root (the cluster runs as user postgres)"
  if [ ! -s "$PGDATA/PG_VERSION" ]; then
    note "initdb $PGDATA"
    install -d -o postgres -g postgres -m 700 "$PGDATA"
    as_postgres "$bin/initdb" -D "$PGDATA" -U postgres -E UTF8 --locale=C.UTF-8 \
      --auth-local=trust --auth-host=scram-sha-256 >/dev/null
  fi
  if ! as_postgres "$bin/pg_ctl" -D "$PGDATA" status >/dev/null 2>&1; then
    listening "$PG_PORT" && fail "127.0.0.1:$PG_PORT is taken by another process"
    # TCP on loopback only; the unix socket lives in the data directory
    as_postgres "$bin/pg_ctl" -D "$PGDATA" -l "$PGDATA/log" -w -t 60 \
      -o "-p $PG_PORT -c listen_addresses=127.0.0.1 -k $PGDATA" start >/dev/null
  fi
  # the two owners and their databases, each created once
  psql_in postgres postgres <<SQL
SELECT format('CREATE ROLE %I LOGIN PASSWORD %L', name, pw)
  FROM (VALUES ('notaryserver', '$PG_SERVER_PASSWORD'), ('notarysigner', '$PG_SIGNER_PASSWORD')) AS r(name, pw)
 WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = name) \gexec
SELECT format('CREATE DATABASE %I OWNER %I', name, name)
  FROM (VALUES ('notaryserver'), ('notarysigner')) AS d(name)
 WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = name) \gexec
SQL
  local db table
  for db in notaryserver:tuf_files notarysigner:private_keys; do
    table=${db#*:}
    db=${db%%:*}
    if [ "$(echo "SELECT to_regclass('$table') IS NULL" | psql_in "$db" "$db" -tA)" = t ]; then
      note "creating notary's tables in $db"
      psql_in "$db" "$db" <"$SQL/$db.sql"
    fi
  done
}

pg_stop() {
  [ -s "$PGDATA/postmaster.pid" ] || return 0
  as_postgres "$(pg_bindir)/pg_ctl" -D "$PGDATA" -m fast -w stop >/dev/null 2>&1 || true
}

stop() {
  halt "$SERVER_PID"
  halt "$SIGNER_PID"
  rm -f "$MODE_FILE"
  if [ -z "${KEEP_PG:-}" ]; then pg_stop; fi
}

start() {
  local mode=$1 alias_var
  case $mode in memory | postgres | local) ;; *) fail "unknown mode '$mode' (memory|postgres|local)" ;; esac
  for b in notary-server notary-signer curl; do
    command -v "$b" >/dev/null || fail "$b not found (run scripts/peers/install.sh)"
  done
  "$PEERS_SCRIPTS/configure.sh"
  up "$mode" && healthy && return 0
  # another mode, a dead process or stale pid files: clear what our pid files name (the
  # private PostgreSQL stays up only if this mode uses it)
  if [ "$mode" = postgres ]; then KEEP_PG=1 stop; else stop; fi
  listening "$NOTARY_PORT" && fail "127.0.0.1:$NOTARY_PORT is taken by a process not started here"
  [ "$mode" = postgres ] && pg_start
  if [ "$mode" != local ]; then
    listening "$SIGNER_PORT" && fail "127.0.0.1:$SIGNER_PORT is taken by a process not started here"
    alias_var=NOTARY_SIGNER_$(tr '[:lower:]' '[:upper:]' <<<"$SIGNER_ALIAS")
    spawn notary-signer env "$alias_var=$SIGNER_ALIAS_PASSPHRASE" \
      notary-signer -config "$CONF/notary-signer-$mode.json"
    await notary-signer "$SIGNER_PID" listening "$SIGNER_PORT"
  fi
  spawn notary-server notary-server -config "$CONF/notary-server-$mode.json"
  await notary-server "$SERVER_PID" healthy
  echo "$mode" >"$MODE_FILE"
}

case ${1:-} in
  start) start "${2:-memory}" ;;
  stop) stop ;;
  status)
    mode=$(cat "$MODE_FILE" 2>/dev/null || true)
    if [ -n "$mode" ] && up "$mode" && healthy; then echo "notary: $mode on $URL"; else
      echo "notary: down"
      exit 1
    fi
    ;;
  *) fail "usage: notary.sh start [memory|postgres|local] | stop | status" ;;
esac
