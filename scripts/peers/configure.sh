#!/usr/bin/env bash
# scripts/peers/configure.sh: lay out $PEERS_ROOT for the peers (idempotent, quiet).
#
#   certs/ca.crt, ca.key                 a throw-away P-256 CA (made once, then kept)
#   certs/notary-server.{crt,key}        TLS server cert for 127.0.0.1/localhost, also used as
#                                        the client cert notary-server shows notary-signer;
#                                        the integration tests serve Signet with it too
#   certs/notary-signer.{crt,key}        the signer's gRPC TLS cert
#   conf/notary-server-{memory,postgres,local}.json, conf/notary-signer-{memory,postgres}.json
#   conf/docker-registry.yml
#   sql/notaryserver.sql, sql/notarysigner.sql   tables notary 0.7 expects in PostgreSQL
#                                        (Debian's package does not ship its migrations)
# Certificates are reused when present (so is a CA other tools already trust); the config
# and SQL files are rewritten only when their content changes.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
command -v openssl >/dev/null || fail "openssl not found (run scripts/peers/install.sh)"
umask 022
mkdir -p "$CERTS" "$CONF" "$SQL" "$RUN" "$PEERS_ROOT/registry"

# ------------------------------------------------------------------ certificates
if [ ! -s "$CERTS/ca.crt" ] || [ ! -s "$CERTS/ca.key" ]; then
  note "new CA in $CERTS"
  openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$CERTS/ca.key" 2>/dev/null
  openssl req -new -x509 -key "$CERTS/ca.key" -sha256 -days 3650 -subj "/CN=Signet test peers CA" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
    -out "$CERTS/ca.crt" 2>/dev/null
  # leaves signed by an older CA are useless now
  rm -f "$CERTS/notary-server.crt" "$CERTS/notary-signer.crt"
fi

# issue NAME EXTENDED_KEY_USAGE: a P-256 leaf for 127.0.0.1 and localhost, PKCS#8 key
# (Go's crypto/tls and rustls both read it).
issue() {
  local name=$1 eku=$2 ext
  [ -s "$CERTS/$name.crt" ] && [ -s "$CERTS/$name.key" ] && return 0
  note "issuing $name"
  openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$CERTS/$name.key" 2>/dev/null
  ext=$(mktemp)
  printf '%s\n' "basicConstraints=critical,CA:FALSE" \
    "keyUsage=critical,digitalSignature,keyEncipherment" \
    "extendedKeyUsage=$eku" "subjectAltName=IP:127.0.0.1,DNS:localhost,DNS:$name" >"$ext"
  openssl req -new -key "$CERTS/$name.key" -subj "/CN=$name" 2>/dev/null |
    openssl x509 -req -CA "$CERTS/ca.crt" -CAkey "$CERTS/ca.key" -set_serial "0x$(openssl rand -hex 12)" \
      -days 825 -sha256 -extfile "$ext" -out "$CERTS/$name.crt" 2>/dev/null
  rm -f "$ext"
}
issue notary-server serverAuth,clientAuth
issue notary-signer serverAuth
chmod 600 "$CERTS"/*.key

# ------------------------------------------------------------------ notary-server
# server_config STORAGE TRUST_SERVICE: notary-server's JSON config on stdout.
server_config() {
  cat <<JSON
{
  "server": {
    "http_addr": "127.0.0.1:$NOTARY_PORT",
    "tls_cert_file": "$CERTS/notary-server.crt",
    "tls_key_file": "$CERTS/notary-server.key"
  },
  "trust_service": $2,
  "storage": $1,
  "logging": { "level": "$NOTARY_LOG_LEVEL" }
}
JSON
}
# memory and postgres modes sign timestamps/snapshots through notary-signer (mutual TLS);
# local mode keeps those keys inside notary-server.
signer_trust='{
    "type": "remote",
    "hostname": "127.0.0.1",
    "port": "'"$SIGNER_PORT"'",
    "key_algorithm": "ecdsa",
    "tls_ca_file": "'"$CERTS"'/ca.crt",
    "tls_client_cert": "'"$CERTS"'/notary-server.crt",
    "tls_client_key": "'"$CERTS"'/notary-server.key"
  }'
in_memory='{ "backend": "memory" }'
server_db="postgres://notaryserver:$PG_SERVER_PASSWORD@127.0.0.1:$PG_PORT/notaryserver?sslmode=disable"
server_config "$in_memory" "$signer_trust" | put "$CONF/notary-server-memory.json"
server_config '{ "backend": "postgres", "db_url": "'"$server_db"'" }' "$signer_trust" |
  put "$CONF/notary-server-postgres.json"
server_config "$in_memory" '{ "type": "local" }' | put "$CONF/notary-server-local.json"

# ------------------------------------------------------------------ notary-signer
# signer_config STORAGE: notary-signer's JSON config on stdout (clients must present a
# certificate from our CA).
signer_config() {
  cat <<JSON
{
  "server": {
    "grpc_addr": "127.0.0.1:$SIGNER_PORT",
    "tls_cert_file": "$CERTS/notary-signer.crt",
    "tls_key_file": "$CERTS/notary-signer.key",
    "client_ca_file": "$CERTS/ca.crt"
  },
  "storage": $1,
  "logging": { "level": "$NOTARY_LOG_LEVEL" }
}
JSON
}
signer_db="postgres://notarysigner:$PG_SIGNER_PASSWORD@127.0.0.1:$PG_PORT/notarysigner?sslmode=disable"
signer_config "$in_memory" | put "$CONF/notary-signer-memory.json"
signer_config '{ "backend": "postgres", "db_url": "'"$signer_db"'", "default_alias": "'"$SIGNER_ALIAS"'" }' |
  put "$CONF/notary-signer-postgres.json"

# ------------------------------------------------------------------ docker-registry
put "$CONF/docker-registry.yml" <<YAML
version: 0.1
log:
  level: $REGISTRY_LOG_LEVEL
storage:
  filesystem:
    rootdirectory: $PEERS_ROOT/registry
  delete:
    enabled: true
http:
  addr: 127.0.0.1:$REGISTRY_PORT
  debug:
    addr: 127.0.0.1:$((REGISTRY_PORT + 1))
YAML

# ------------------------------------------------------------------ PostgreSQL tables
# What notary 0.7's gorm models and migrations leave behind: notary-server keeps every
# version of every role's file (tuf_files) and a change feed; notary-signer keeps encrypted
# private keys.
put "$SQL/notaryserver.sql" <<'SQL'
CREATE TABLE tuf_files (
    id         serial PRIMARY KEY,
    created_at timestamp NULL,
    updated_at timestamp NULL,
    deleted_at timestamp NULL,
    gun        varchar(255) NOT NULL,
    role       varchar(255) NOT NULL,
    version    integer NOT NULL,
    data       bytea NOT NULL,
    sha256     char(64) NULL,
    UNIQUE (gun, role, version)
);
CREATE INDEX tuf_files_sha256_idx ON tuf_files (sha256);

CREATE TABLE change_category (category varchar(20) PRIMARY KEY);
INSERT INTO change_category (category) VALUES ('update'), ('deletion');

CREATE TABLE changefeed (
    id         serial PRIMARY KEY,
    created_at timestamp DEFAULT current_timestamp,
    gun        varchar(255) NOT NULL,
    version    integer NOT NULL,
    sha256     char(64) NULL,
    category   varchar(20) NOT NULL DEFAULT 'update' REFERENCES change_category
);
CREATE INDEX idx_changefeed_gun ON changefeed (gun);
SQL
put "$SQL/notarysigner.sql" <<'SQL'
CREATE TABLE private_keys (
    id               serial PRIMARY KEY,
    created_at       timestamp NULL,
    updated_at       timestamp NULL,
    deleted_at       timestamp NULL,
    key_id           varchar(255) NOT NULL,
    encryption_alg   varchar(255) NOT NULL,
    keywrap_alg      varchar(255) NOT NULL,
    algorithm        varchar(50) NOT NULL,
    passphrase_alias varchar(50) NOT NULL,
    public           bytea NOT NULL,
    private          bytea NOT NULL,
    gun              varchar(255) NOT NULL,
    role             varchar(255) NOT NULL,
    last_used        timestamp NULL,
    CONSTRAINT key_id UNIQUE (key_id),
    CONSTRAINT key_id_2 UNIQUE (key_id, algorithm)
);
SQL
note "ready: $PEERS_ROOT"
