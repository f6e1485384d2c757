#!/bin/sh
# Regenerates the private-key test vectors with the real Go notary CLI 0.7, Go notary's own
# library (notary_go_keys.go), the docker CLI 28 and OpenSSL. Needs the Go notary-server at
# https://127.0.0.1:4443 (CA /tmp/peers/certs/ca.crt) for `notary init`.
# Usage: sh make-vectors.sh   (from this directory; overwrites the vectors)
set -eu
here=$(pwd)
pass=vectorpass
export NOTARY_ROOT_PASSPHRASE=$pass NOTARY_TARGETS_PASSPHRASE=$pass \
  NOTARY_SNAPSHOT_PASSPHRASE=$pass NOTARY_DELEGATION_PASSPHRASE=$pass
rm -rf trustdir docker-trust ./*.pem ./*.pub vectors.txt
# A fixed absolute trust dir, so that the captured `key list` LOCATION column is stable.
td=/tmp/signet-vectors/trustdir
rm -rf /tmp/signet-vectors && mkdir -p $td
notary -d $td -s https://127.0.0.1:4443 --tlscacert /tmp/peers/certs/ca.crt \
  init "example.com/signet-vectors-$(date +%s)"
notary -d $td key generate --role targets/releases >/dev/null
notary -d $td key generate -o notary-gen >/dev/null
notary -d $td key list > trustdir-key-list.txt
mkdir trustdir && cp -r $td/private trustdir/   # keep only the keys
rm -rf /tmp/signet-vectors

tmp=$(mktemp -d)
mkdir -p "$tmp/go" && cp notary_go_keys.go "$tmp/go/main.go"
(cd "$tmp/go" && GO111MODULE=off GOPATH=/usr/share/gocode go run main.go $pass > "$here/go-keys.txt" && mv ./*.pem "$here/")

mkdir -p "$tmp/docker"
DOCKER_CONFIG="$tmp/docker" DOCKER_CONTENT_TRUST_REPOSITORY_PASSPHRASE=$pass \
  docker trust key generate alice --dir "$here" >/dev/null
mkdir -p docker-trust && cp -r "$tmp/docker/trust/private" docker-trust/

openssl ecparam -name prime256v1 -genkey -noout -out "$tmp/ec.pem"
openssl ec -in "$tmp/ec.pem" -aes256 -passout pass:$pass -out legacy-ec-aes256.pem 2>/dev/null
openssl ec -in "$tmp/ec.pem" -out legacy-ec-plain.pem 2>/dev/null
openssl ec -in "$tmp/ec.pem" -pubout -out legacy-ec.pub 2>/dev/null
openssl genrsa -out "$tmp/rsa.pem" 2048 2>/dev/null
openssl rsa -in "$tmp/rsa.pem" -traditional -aes128 -passout pass:$pass -out legacy-rsa-aes128.pem 2>/dev/null
openssl rsa -in "$tmp/rsa.pem" -pubout -out legacy-rsa.pub 2>/dev/null
rm -rf "$tmp"
echo "passphrase: $pass" > vectors.txt
