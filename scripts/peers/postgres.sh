#!/usr/bin/env bash
# scripts/peers/postgres.sh start | stop | status
#
# The PostgreSQL the Rust tests use: postgres://postgres@127.0.0.1:$TEST_PG_PORT/test
# (default port 5432; user postgres, no password; the tests create and drop one scratch
# database each in it).
#
# start: when a server already answers on 127.0.0.1:$TEST_PG_PORT (the machine's own
#        cluster, say), it is used as it is, provided it lets user postgres in without a
#        password; the database `test` is created if missing. Otherwise a private cluster
#        is created in $PEERS_ROOT/pg-tests (trust auth, loopback only) and started, so the
#        system's PostgreSQL configuration is never edited. Needs root (the cluster runs as
#        user postgres).
# stop:  stops the private cluster, if this script started one; a server it did not start
#        is left alone.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
: "${TEST_PG_PORT:=5432}"
DATA=$PEERS_ROOT/pg-tests

admin() { psql -X -q -h 127.0.0.1 -p "$TEST_PG_PORT" -U postgres "$@"; }
accepts() { admin -d postgres -tAc 'SELECT 1' >/dev/null 2>&1; }

case ${1:-} in
  start)
    command -v psql >/dev/null || fail "psql not found (run scripts/peers/install.sh)"
    if ! listening "$TEST_PG_PORT"; then
      bin=$(pg_bindir)
      [ "$(id -u)" = 0 ] || fail "needs root to run a PostgreSQL cluster as user postgres"
      if [ ! -s "$DATA/PG_VERSION" ]; then
        note "initdb $DATA"
        install -d -o postgres -g postgres -m 700 "$DATA"
        runuser -u postgres -- "$bin/initdb" -D "$DATA" -U postgres -E UTF8 --locale=C.UTF-8 \
          --auth=trust >/dev/null
      fi
      runuser -u postgres -- "$bin/pg_ctl" -D "$DATA" -l "$DATA/log" -w -t 60 \
        -o "-p $TEST_PG_PORT -c listen_addresses=127.0.0.1 -k $DATA" start >/dev/null
    fi
    accepts || fail "the PostgreSQL on 127.0.0.1:$TEST_PG_PORT refuses user postgres without a \
password; allow it (pg_hba.conf: host all postgres 127.0.0.1/32 trust), or stop that server \
so this script runs its own, or point SIGNET_TEST_POSTGRES at an admin URL that works"
    if [ "$(admin -d postgres -tAc "SELECT count(*) FROM pg_database WHERE datname = 'test'")" = 0 ]; then
      admin -d postgres -c 'CREATE DATABASE test'
    fi
    ;;
  stop)
    if [ -s "$DATA/postmaster.pid" ]; then
      runuser -u postgres -- "$(pg_bindir)/pg_ctl" -D "$DATA" -m fast -w stop >/dev/null 2>&1 || true
    fi
    ;;
  status)
    if listening "$TEST_PG_PORT" && accepts; then echo "postgres: up on 127.0.0.1:$TEST_PG_PORT"; else
      echo "postgres: down"
      exit 1
    fi
    ;;
  *) fail "usage: postgres.sh start | stop | status" ;;
esac
