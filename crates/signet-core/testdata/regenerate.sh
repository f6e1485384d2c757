#!/usr/bin/env bash
# regenerate.sh [OUTDIR]
#
# Re-creates the test vectors in this directory (or OUTDIR) with the real Go notary 0.7 stack:
# every case is a GUN published with the `notary` CLI, then the metadata bytes the Go
# notary-server stores are fetched with curl (GET /v2/<gun>/_trust/tuf/<v>.<role>.json for every
# version, and <role>.json for the current one) and described in <case>/expect.json.
#
# It runs its OWN notary-server (+ notary-signer) through the peers scripts on separate ports
# and a separate peers root, so it does not disturb a shared server on 4443:
#   PEERS_DIR            the peers scripts        (default: scripts/peers of this checkout)
#   TESTDATA_PEERS_ROOT  certs/configs/run files  (default: /tmp/peers-testdata)
#   TESTDATA_NOTARY_PORT notary-server port       (default: 14443)
#   TESTDATA_SIGNER_PORT notary-signer port       (default: 17899)
# The server is stopped again at the end.
#   TESTDATA_CASES       space-separated case names to (re)generate; default: every case.
#                        The other case folders are left as they are.
#
# Needs: notary, notary-server, notary-signer (Debian `notary` 0.7.0), curl, jq, openssl,
# python3 with the `cryptography` module (used to check every signature and key ID before
# anything is written).
#
# Key IDs, signatures, expiry dates and hashes change on every regeneration; the structure
# and the conclusions in expect.json do not.
set -euo pipefail
umask 022

HERE=$(cd "$(dirname "$0")" && pwd)
OUT=${1:-$HERE}
PEERS_DIR=${PEERS_DIR:-$HERE/../../../scripts/peers}
[ -x "$PEERS_DIR/notary.sh" ] \
  || { echo "regenerate.sh: peers scripts not found at $PEERS_DIR; set PEERS_DIR" >&2; exit 1; }
export PEERS_ROOT=${TESTDATA_PEERS_ROOT:-/tmp/peers-testdata}
export NOTARY_PORT=${TESTDATA_NOTARY_PORT:-14443}
export SIGNER_PORT=${TESTDATA_SIGNER_PORT:-17899}
export PG_PORT=${TESTDATA_PG_PORT:-15433}   # unused (no postgres mode here), kept off 5433
URL=https://127.0.0.1:$NOTARY_PORT
CA=$PEERS_ROOT/certs/ca.crt

for t in notary notary-server notary-signer curl jq openssl python3; do
  command -v "$t" >/dev/null || { echo "regenerate.sh: $t not found" >&2; exit 1; }
done
python3 -c 'import cryptography' 2>/dev/null \
  || { echo "regenerate.sh: python3 module 'cryptography' is needed" >&2; exit 1; }

W=$(mktemp -d)
cleanup() { "$PEERS_DIR/notary.sh" stop >/dev/null 2>&1 || true; rm -rf "$W"; }
trap cleanup EXIT

export HOME=$W/home; mkdir -p "$HOME"
export NOTARY_ROOT_PASSPHRASE=testdata-root-passphrase
export NOTARY_TARGETS_PASSPHRASE=testdata-targets-passphrase
export NOTARY_SNAPSHOT_PASSPHRASE=testdata-snapshot-passphrase
export NOTARY_DELEGATION_PASSPHRASE=testdata-delegation-passphrase
unset NOTARY_AUTH

CASES=${TESTDATA_CASES:-}
# want CASE  -- whether CASE is to be generated in this run
want() { [ -z "$CASES" ] || case " $CASES " in *" $1 "*) return 0 ;; *) return 1 ;; esac; }

GENERATED_AT=$(date -u +%Y-%m-%dT%H:%M:%SZ)
NOTARY_PKG=$(dpkg-query -W -f='${Package} ${Version}' notary 2>/dev/null || echo unknown)
NOTARY_VERSION_OUT=$(notary version 2>&1 | tr -s ' \t' ' ' | tr '\n' ';' | sed 's/;$//')

start_server() { # MODE  (always a fresh, empty memory store)
  "$PEERS_DIR/notary.sh" stop
  "$PEERS_DIR/notary.sh" start "$1"
  MODE=$1
}

# n TRUSTDIR args...  -- the notary CLI, no TTY
n() { local d=$1; shift; notary -s "$URL" --tlscacert "$CA" -d "$W/$d" "$@" </dev/null; }

# fetch CASE GUN ROLE...  -- store current + every version of the roles as the server serves them
fetch() {
  local case=$1 gun=$2 role v cur code
  shift 2
  local dir=$OUT/$case
  rm -rf "$dir"; mkdir -p "$dir"
  for role in root targets snapshot timestamp "$@"; do
    mkdir -p "$(dirname "$dir/$role.json")"
    code=$(curl -sS --cacert "$CA" -o "$dir/$role.json" -w '%{http_code}' "$URL/v2/$gun/_trust/tuf/$role.json")
    [ "$code" = 200 ] || { echo "GET $role.json for $gun -> $code" >&2; exit 1; }
    cur=$(jq -r .signed.version "$dir/$role.json")
    for v in $(seq 1 "$cur"); do
      mkdir -p "$(dirname "$dir/$v.$role.json")"
      code=$(curl -sS --cacert "$CA" -o "$dir/$v.$role.json" -w '%{http_code}' "$URL/v2/$gun/_trust/tuf/$v.$role.json")
      case $code in
        200) ;;
        404) rm -f "$dir/$v.$role.json"; rmdir "$(dirname "$dir/$v.$role.json")" 2>/dev/null || true ;;
        *) echo "GET $v.$role.json for $gun -> $code" >&2; exit 1 ;;
      esac
    done
  done
  # the oracle: the Go client downloads the repository from scratch (TOFU) and lists it
  if n "oracle-$case" list "$gun" >"$W/$case.list" 2>&1; then LIST_RC=0; else LIST_RC=$?; fi
  cp "$W/$case.list" "$dir/notary-list.txt"
  [ "$LIST_RC" = 0 ] || { echo "notary list $gun failed:" >&2; cat "$W/$case.list" >&2; exit 1; }
}

# describe CASE GUN DESCRIPTION CONCLUSIONS_JSON  -- write CASE/expect.json (checks everything)
describe() {
  CASE_DIR=$OUT/$1 GUN=$2 DESCRIPTION=$3 CONCLUSIONS=$4 MODE=$MODE \
  GENERATED_AT=$GENERATED_AT NOTARY_PKG=$NOTARY_PKG NOTARY_VERSION_OUT=$NOTARY_VERSION_OUT \
    python3 "$W/describe.py"
}

cat >"$W/describe.py" <<'PY'
import base64, hashlib, json, os, re, sys
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, utils

d = os.environ["CASE_DIR"]

def fail(msg):
    sys.exit(f"describe {d}: {msg}")

def canonical(v):
    # github.com/docker/go/canonical/json: sorted keys, no spaces, only " and \ escaped
    if isinstance(v, dict):
        return "{" + ",".join(canonical(k) + ":" + canonical(v[k]) for k in sorted(v)) + "}"
    if isinstance(v, list):
        return "[" + ",".join(canonical(x) for x in v) + "]"
    if isinstance(v, str):
        return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if v is None:
        return "null"
    if v is True:
        return "true"
    if v is False:
        return "false"
    if isinstance(v, int):
        return str(v)
    fail(f"unexpected value {v!r}")

def key_id(key):
    return hashlib.sha256(canonical({"keytype": key["keytype"], "keyval": {
        "private": None, "public": key["keyval"]["public"]}}).encode()).hexdigest()

def public_key(key):
    raw = base64.b64decode(key["keyval"]["public"])
    if key["keytype"] == "ed25519":
        return ed25519.Ed25519PublicKey.from_public_bytes(raw)
    if key["keytype"] in ("ecdsa", "rsa"):
        return serialization.load_der_public_key(raw)
    if key["keytype"] in ("ecdsa-x509", "rsa-x509"):
        return x509.load_pem_x509_certificates(raw)[0].public_key()
    fail(f"unknown keytype {key['keytype']}")

def canonical_id(key):
    if not key["keytype"].endswith("-x509"):
        return key_id(key)
    der = public_key(key).public_bytes(serialization.Encoding.DER,
                                       serialization.PublicFormat.SubjectPublicKeyInfo)
    return key_id({"keytype": key["keytype"][:-5],
                   "keyval": {"public": base64.b64encode(der).decode()}})

def verify(key, method, sig, msg):
    pub = public_key(key)
    sig = base64.b64decode(sig)
    try:
        if method == "eddsa":
            pub.verify(sig, msg)
        elif method == "ecdsa":
            n = len(sig) // 2
            der = utils.encode_dss_signature(int.from_bytes(sig[:n], "big"),
                                             int.from_bytes(sig[n:], "big"))
            pub.verify(der, msg, ec.ECDSA(hashes.SHA256()))
        elif method == "rsapss":
            pub.verify(sig, msg, padding.PSS(padding.MGF1(hashes.SHA256()), 32), hashes.SHA256())
        else:
            return False
        return True
    except InvalidSignature:
        return False

# ---- load every metadata file
files = {}
for root, _, names in os.walk(d):
    for name in names:
        if not name.endswith(".json") or name == "expect.json":
            continue
        path = os.path.relpath(os.path.join(root, name), d)
        raw = open(os.path.join(root, name), "rb").read()
        doc = json.loads(raw)
        m = re.fullmatch(r"(?:(\d+)\.)?(.+)\.json", path)
        files[path] = {"raw": raw, "doc": doc, "role": m.group(2),
                       "url_version": int(m.group(1)) if m.group(1) else None}

# ---- keys: from every root (keys map) and every targets file (delegations.keys)
keys = {}      # keyid -> (key, [source files])
for path in sorted(files):
    s = files[path]["doc"]["signed"]
    found = dict(s.get("keys") or {})
    found.update((s.get("delegations") or {}).get("keys") or {})
    for kid, key in found.items():
        if key_id(key) != kid:
            fail(f"{path}: key id {kid} does not match its key (computed {key_id(key)})")
        keys.setdefault(kid, (key, []))[1].append(path)

def null_paths(v, at=""):
    """JSON paths (under signed) whose value is null, except keyval.private (always null
    in a public key): where Go wrote a nil slice, map or []byte"""
    if v is None:
        return [at]
    out = []
    if isinstance(v, dict):
        for k in sorted(v):
            if not (k == "private" and at.endswith(".keyval")):
                out += null_paths(v[k], f"{at}.{k}" if at else k)
    elif isinstance(v, list):
        for i, x in enumerate(v):
            out += null_paths(x, f"{at}[{i}]")
    return out

def authorizing(role, kid):
    """files (roots, or delegating targets) whose role definition lists kid for role"""
    out = []
    for path in sorted(files):
        if files[path]["url_version"] is None:
            continue  # <role>.json is a copy of a versioned file; list only the versioned one
        s = files[path]["doc"]["signed"]
        if s["_type"] == "Root" and role in s["roles"] and kid in (s["roles"][role]["keyids"] or []):
            out.append(path)
        for r in (s.get("delegations") or {}).get("roles") or []:
            if r["name"] == role and kid in (r["keyids"] or []):
                out.append(path)
    return out

# ---- per-file facts
out_files = {}
for path in sorted(files):
    f = files[path]
    doc, raw, role = f["doc"], f["raw"], f["role"]
    s = doc["signed"]
    if f["url_version"] is not None and f["url_version"] != s["version"]:
        fail(f"{path}: signed.version {s['version']} != URL version")
    msg = canonical(s).encode()
    sigs = []
    for sig in doc["signatures"]:
        kid = sig["keyid"]
        key = keys.get(kid, (None, []))[0]
        entry = {"keyid": kid, "method": sig["method"],
                 "keytype": key["keytype"] if key else None,
                 "valid": bool(key) and verify(key, sig["method"].lower(), sig["sig"], msg),
                 "authorized_by": authorizing(role, kid)}
        if not entry["valid"]:
            fail(f"{path}: signature by {kid} does not verify")
        sigs.append(entry)
    info = {"role": role, "type": s["_type"], "version": s["version"], "expires": s["expires"],
            "length": len(raw), "sha256": hashlib.sha256(raw).hexdigest(),
            "sha512": hashlib.sha512(raw).hexdigest(), "signatures": sigs}
    nulls = null_paths(s)
    if nulls:
        info["nulls"] = nulls
    if f["url_version"] is None:
        twin = f"{s['version']}.{role}.json"
        info["current"] = True
        info["same_bytes_as"] = twin if twin in files and files[twin]["raw"] == raw else None
    if s["_type"] in ("Snapshot", "Timestamp"):
        meta = {}
        for mrole, m in s["meta"].items():
            match = [p for p in sorted(files) if files[p]["url_version"] is not None
                     and files[p]["role"] == mrole
                     and hashlib.sha256(files[p]["raw"]).hexdigest()
                         == base64.b64decode(m["hashes"]["sha256"]).hex()
                     and len(files[p]["raw"]) == m["length"]]
            meta[mrole] = {"length": m["length"], "hashes": sorted(m["hashes"]),
                           "matches": match[0] if match else None}
        info["meta"] = meta
    if s["_type"] == "Root":
        info["roles"] = {r: {"threshold": v["threshold"], "keyids": v["keyids"],
                             "keytypes": sorted({s["keys"][k]["keytype"] for k in v["keyids"]})}
                         for r, v in sorted(s["roles"].items())}
        info["consistent_snapshot"] = s["consistent_snapshot"]
    if s["_type"] == "Targets":
        info["targets"] = {name: {"length": t["length"], "hashes": sorted(t["hashes"]),
                                  "sha256": base64.b64decode(t["hashes"]["sha256"]).hex()
                                  if "sha256" in t["hashes"] else None}
                           for name, t in sorted(s["targets"].items())}
        dl = s.get("delegations") or {}
        info["delegations"] = [{"name": r["name"], "keyids": r["keyids"],
                                "paths": r.get("paths"), "threshold": r["threshold"]}
                               for r in dl.get("roles") or []]
    out_files[path] = info

out_keys = {kid: {"keytype": k["keytype"], "canonical_id": canonical_id(k),
                  "listed_in": [p for p in src if files[p]["url_version"] is not None]}
            for kid, (k, src) in sorted(keys.items())}

# ---- what the Go client concluded (notary list from an empty trust dir)
listing = {}
for line in open(os.path.join(d, "notary-list.txt")):
    p = line.split()
    if len(p) == 4 and re.fullmatch(r"[0-9a-f]{64}", p[1]):
        listing[p[0]] = {"sha256": p[1], "length": int(p[2]), "role": p[3]}

# ---- the hand-written conclusions must agree with the data
conc = json.loads(os.environ["CONCLUSIONS"])
cur = {f["role"]: f for f in out_files.values() if f.get("current")}
def check(ok, what):
    if not ok:
        fail(f"conclusion does not hold: {what}")
for p, f in out_files.items():
    check(f.get("current") is None or f["same_bytes_as"], f"{p} equals its versioned file")
    for m in (f.get("meta") or {}).values():
        check(m["matches"], f"{p}: every meta entry matches a stored file")
check(conc.get("valid") is True, "valid")
for role, v in (conc.get("versions") or {}).items():
    check(cur[role]["version"] == v, f"current {role} is version {v}")
if "targets" in conc:
    check(set(conc["targets"]) == set(listing), f"targets {sorted(conc['targets'])} == {sorted(listing)}")
    for name, t in conc["targets"].items():
        check(listing[name]["role"] == t["role"], f"target {name} is in {t['role']}")
if "target_count" in conc:
    check(len(listing) == conc["target_count"] == len(cur["targets"]["targets"]), "target count")
for role in ("timestamp", "snapshot"):
    if f"{role}_keytype" in conc:
        check({x["keytype"] for x in cur[role]["signatures"]} == {conc[f"{role}_keytype"]}, f"{role} keytype")
    if f"{role}_method" in conc:
        check({x["method"] for x in cur[role]["signatures"]} == {conc[f"{role}_method"]}, f"{role} method")
if "root_rotation" in conc:
    rr = conc["root_rotation"]
    sigs = out_files[rr["to"]]["signatures"]
    check(any(x["authorized_by"] == [rr["from"]] for x in sigs), "new root signed by the old root key only listed in the old root")
    check(any(rr["to"] in x["authorized_by"] and rr["from"] not in x["authorized_by"] for x in sigs), "new root signed by the new root key")
if "delegation" in conc:
    dg = conc["delegation"]
    roles = [r for r in cur["targets"]["delegations"] if r["name"] == dg["role"]]
    check(len(roles) == 1 and roles[0]["paths"] == dg["paths"] and roles[0]["threshold"] == dg["threshold"], "delegation role")
    check({out_keys[k]["keytype"] for k in roles[0]["keyids"] or []} == {dg["keytype"]}, "delegation keytype")
for p in conc.get("null_fields") or []:
    check(any(p in (f.get("nulls") or []) for f in out_files.values()), f"some file has {p} = null")
if "rotated_role" in conc:
    role = conc["rotated_role"]
    first = min((f for f in out_files.values() if f["role"] == role), key=lambda f: f["version"])
    check({x["keyid"] for x in first["signatures"]} != {x["keyid"] for x in cur[role]["signatures"]}, f"{role} key rotated")

expect = {
    "gun": os.environ["GUN"],
    "description": os.environ["DESCRIPTION"],
    "provenance": {
        "generated_at": os.environ["GENERATED_AT"],
        "server_mode": os.environ["MODE"],
        "notary_package": os.environ["NOTARY_PKG"],
        "notary_version_output": os.environ["NOTARY_VERSION_OUT"],
        "fetched_from": "GET /v2/<gun>/_trust/tuf/<role>.json and <version>.<role>.json",
    },
    "validate_at": os.environ["GENERATED_AT"],
    "conclusions": conc,
    "client_listing": listing,
    "files": out_files,
    "keys": out_keys,
}
with open(os.path.join(d, "expect.json"), "w") as fh:
    json.dump(expect, fh, indent=2, sort_keys=False)
    fh.write("\n")
PY

# ------------------------------------------------------------------ fixed target contents
F=$W/files; mkdir -p "$F"
printf 'signet testdata target one\n' >"$F/one.txt"
printf 'signet testdata target two\n' >"$F/two.txt"
printf 'signet testdata release, signed by the targets/releases delegate\n' >"$F/release.txt"
for i in $(seq -w 1 50); do printf 'signet testdata target number %s\n' "$i" >"$F/t$i.txt"; done
# the targets/releases delegate: P-256 key (unencrypted PKCS#8) and a self-signed certificate
openssl ecparam -genkey -name prime256v1 -noout -out "$W/delegate.ec.key" 2>/dev/null
openssl pkcs8 -topk8 -nocrypt -in "$W/delegate.ec.key" -out "$W/delegate.key"
openssl req -x509 -new -key "$W/delegate.key" -sha256 -days 3650 -subj '/CN=targets\/releases' \
  -out "$W/delegate.crt" 2>/dev/null

P=example.com/testdata

# ================================================================== local mode (ed25519 server keys)
start_server local

# initial-publish: init -p only
if want initial-publish; then
G=$P/initial-publish
n t1 init "$G" -p >/dev/null
fetch initial-publish "$G"
describe initial-publish "$G" \
  "notary init -p on a fresh GUN: what the server holds after the first publish (no targets)" \
  '{"valid": true, "targets": {},
    "versions": {"root": 1, "targets": 2, "snapshot": 2, "timestamp": 1},
    "notes": ["init signs root/targets/snapshot v1 into the client cache, the first publish re-signs targets and snapshot, so the server never receives targets v1 or snapshot v1",
              "the timestamp is generated and signed by the server (ed25519, local trust service)",
              "root keys are ecdsa-x509 (self-signed CN=<gun> certificates); targets and snapshot keys are plain ecdsa"]}'
fi

# ed25519-timestamp: local trust service -> ed25519 timestamp key, method eddsa
if want ed25519-timestamp; then
G=$P/ed25519-timestamp
n t1 init "$G" -p >/dev/null
n t1 add "$G" one "$F/one.txt" -p >/dev/null
fetch ed25519-timestamp "$G"
describe ed25519-timestamp "$G" \
  "server in local mode: the timestamp role has an ed25519 key and timestamps carry eddsa signatures" \
  '{"valid": true, "timestamp_keytype": "ed25519", "timestamp_method": "eddsa",
    "targets": {"one": {"role": "targets"}},
    "notes": ["each POST makes the server sign a new timestamp (version +1)"]}'
fi

# delegation: targets/releases with an ecdsa-x509 delegate key, signed by the delegate
if want delegation; then
G=$P/delegation
n t1 init "$G" -p >/dev/null
n t1 add "$G" one "$F/one.txt" -p >/dev/null
n t1 delegation add "$G" targets/releases "$W/delegate.crt" --all-paths -p >/dev/null
n t1 key import "$W/delegate.key" -r targets/releases >/dev/null
n t1 add "$G" release "$F/release.txt" -r targets/releases -p >/dev/null
fetch delegation "$G" targets/releases
describe delegation "$G" \
  "targets delegates to targets/releases (paths [\"\"], threshold 1, one ecdsa-x509 key from an openssl self-signed certificate); targets/releases holds one target signed by the delegate" \
  '{"valid": true, "delegation": {"role": "targets/releases", "keytype": "ecdsa-x509", "paths": [""], "threshold": 1},
    "targets": {"one": {"role": "targets"}, "release": {"role": "targets/releases"}},
    "notes": ["the delegation key is listed in targets.json delegations.keys by its x509 key id; notary delegation list shows the canonical id (keys.<id>.canonical_id)",
              "snapshot meta lists targets/releases; delegated metadata URLs keep the slash: targets/releases.json, 1.targets/releases.json",
              "targets/releases.json has no delegations of its own but still carries delegations {keys:{}, roles:[]}"]}'
fi

# rotated-root: root v2 signed by the old and the new root key
if want rotated-root; then
G=$P/rotated-root
n t1 init "$G" -p >/dev/null
n t1 add "$G" one "$F/one.txt" -p >/dev/null
printf 'yes\n' | notary -s "$URL" --tlscacert "$CA" -d "$W/t1" key rotate "$G" root >/dev/null
fetch rotated-root "$G"
describe rotated-root "$G" \
  "notary key rotate <gun> root: 2.root.json replaces the root key and is signed by both the old and the new root key" \
  '{"valid": true, "root_rotation": {"from": "1.root.json", "to": "2.root.json",
      "to_signed_by_old_root_key": true, "to_signed_by_new_root_key": true},
    "targets": {"one": {"role": "targets"}},
    "notes": ["a client trusting 1.root.json accepts 2.root.json because it meets the threshold of the OLD root role (signature authorized_by 1.root.json) and of its own root role (authorized_by 2.root.json)",
              "the old root key is no longer listed in 2.root.json",
              "targets/snapshot/timestamp keys are unchanged"]}'
fi

# rotated-timestamp-key: key rotate timestamp -r (new server key, root v2)
if want rotated-timestamp-key; then
G=$P/rotated-timestamp-key
n t1 init "$G" -p >/dev/null
n t1 add "$G" one "$F/one.txt" -p >/dev/null
n t1 key rotate "$G" timestamp -r >/dev/null
fetch rotated-timestamp-key "$G"
describe rotated-timestamp-key "$G" \
  "notary key rotate <gun> timestamp -r: the server creates a new timestamp key, the client publishes root v2 listing it, and later timestamps are signed with it" \
  '{"valid": true, "rotated_role": "timestamp",
    "targets": {"one": {"role": "targets"}},
    "notes": ["timestamps before the rotation are signed by the key in 1.root.json, the current one by the key in 2.root.json (see signatures[].authorized_by)",
              "a validator holding only 1.root.json must fetch the new root before it can verify the current timestamp"]}'
fi

# many-targets: 50 targets in one publish
if want many-targets; then
G=$P/many-targets
n t1 init "$G" >/dev/null
for i in $(seq -w 1 50); do n t1 add "$G" "t$i" "$F/t$i.txt" >/dev/null; done
n t1 publish "$G" >/dev/null
fetch many-targets "$G"
describe many-targets "$G" \
  "50 targets (t01..t50, added with notary add, sha256+sha512) staged and published at once" \
  '{"valid": true, "target_count": 50,
    "notes": ["nothing was published before: this initial publish uploads root v1, targets v2 (50 targets) and snapshot v2"]}'
fi

# emptied-delegation: the delegation's last key is removed, then the delegation itself. Go
# writes both now-empty lists as null: "keyids":null, then "roles":null.
if want emptied-delegation; then
G=$P/emptied-delegation
n t3 init "$G" -p >/dev/null
n t3 add "$G" one "$F/one.txt" -p >/dev/null
n t3 delegation add "$G" targets/releases "$W/delegate.crt" --all-paths -p >/dev/null
n t3 key import "$W/delegate.key" -r targets/releases >/dev/null
n t3 add "$G" release "$F/release.txt" -r targets/releases -p >/dev/null
KID=$(n t3 delegation list "$G" | awk '$1 == "targets/releases" { print $(NF-1) }')
n t3 delegation remove "$G" targets/releases "$KID" -p >/dev/null 2>&1
n t3 delegation remove "$G" targets/releases -y -p >/dev/null
fetch emptied-delegation "$G" targets/releases
describe emptied-delegation "$G" \
  "targets/releases (one ecdsa-x509 key, one target) loses its only key (notary delegation remove <gun> targets/releases <keyid> -p), then the delegation is removed (notary delegation remove <gun> targets/releases -y -p)" \
  '{"valid": true, "targets": {"one": {"role": "targets"}},
    "null_fields": ["delegations.roles[0].keyids", "delegations.roles"],
    "notes": ["Go encodes a nil slice as null: after the key removal targets.json carries {\"keyids\":null,\"name\":\"targets/releases\",...}; after the role removal delegations.roles is null (files[].nulls lists every null per file)",
              "the signatures cover the canonical form with the nulls kept as null",
              "while the role has no keys, targets/releases.json (still listed in that snapshot) no longer verifies, so its target release is not trusted; the last snapshot no longer lists targets/releases, the server still serves the old targets/releases.json"]}'
fi

# ================================================================== memory mode (notary-signer, ecdsa server keys)
start_server memory

if want ecdsa-timestamp; then
G=$P/ecdsa-timestamp
n t2 init "$G" -p >/dev/null
n t2 add "$G" one "$F/one.txt" -p >/dev/null
fetch ecdsa-timestamp "$G"
describe ecdsa-timestamp "$G" \
  "server with notary-signer (key_algorithm ecdsa): the timestamp role has an ecdsa key and timestamps carry ecdsa signatures" \
  '{"valid": true, "timestamp_keytype": "ecdsa", "timestamp_method": "ecdsa",
    "targets": {"one": {"role": "targets"}},
    "notes": ["server ecdsa signatures are raw r||s (64 bytes), like the client ones"]}'
fi

if want server-snapshot; then
G=$P/server-snapshot
n t2 init "$G" -p >/dev/null
n t2 key rotate "$G" snapshot -r >/dev/null
n t2 add "$G" two "$F/two.txt" -p >/dev/null
fetch server-snapshot "$G"
describe server-snapshot "$G" \
  "notary key rotate <gun> snapshot -r (notary-signer): the server holds the snapshot key and signs snapshots itself" \
  '{"valid": true, "snapshot_keytype": "ecdsa", "rotated_role": "snapshot",
    "targets": {"two": {"role": "targets"}},
    "notes": ["after the rotation the client uploads root and targets only; the server generates snapshot and timestamp"]}'
fi

echo "regenerated test vectors in $OUT (server modes: local, memory; notary: $NOTARY_PKG)" >&2
