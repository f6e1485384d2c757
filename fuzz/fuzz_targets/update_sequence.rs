//! A sequence of updates through `validate_update`, signatures accepted wholesale
//! (`AcceptAllSignatures`) so the fuzzer gets past crypto and into the rules.
//!
//! Each step uploads a few documents (from the embedded pool in `fuzz/pool/`, from what
//! is stored, or raw bytes; then JSON-level and byte-level mutations) as some role (base
//! roles, delegations, invalid names) at some time. Accepted updates are applied to the
//! repository the next step validates against, exactly as the server stores them:
//! uploaded files, the uploaded or server-signed snapshot, and a fresh timestamp.
//!
//! Invariants checked on every accepted update:
//! - the root in force exists, is structurally valid and unexpired if uploaded; its
//!   version is the stored one or one more (1 or 2 with nothing stored);
//! - `files` holds exactly the uploaded roles minus timestamp, with their exact bytes
//!   and versions, root first, targets roles shallow to deep, snapshot last;
//! - every uploaded delegation has its parent in this update or stored;
//! - `targets` exists after the update;
//! - an uploaded snapshot lists root and every targets role in force with matching
//!   hashes; a server snapshot does too, is version + 1, is unexpired, lists root's
//!   snapshot keys, and assembles to a file that parses back to the same canonical bytes;
//! - the timestamp made over the new snapshot is fresh and re-parses;
//! - the files written re-load with `RepoState::from_files`.
//!
//! The sequence can start from an empty repository or from one built by fixed valid
//! updates (published, with delegations, after a root rotation, with an uploaded
//! snapshot); those must be accepted and pass the same checks.

#![no_main]

use std::collections::{BTreeMap, BTreeSet};

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use serde_json::Value;
use signet_core::key::KeyId;
use signet_core::metadata::{Base64Bytes, Unsigned};
use signet_core::update::{snapshot_for, timestamp_for, timestamp_is_stale};
use signet_core::verify::check_root_structure;
use signet_core::{
    AcceptAllSignatures, RepoState, RoleName, Signature, Signed, Snapshot, SnapshotPlan, UnixTime,
    Upload, ValidatedUpdate, validate_update,
};
use signet_fuzz::{GUN, POOL};

#[derive(Arbitrary, Debug)]
struct Input {
    start: Start,
    steps: Vec<Step>,
}

/// Where the sequence starts: each non-empty start is a series of valid updates from
/// the pool that must be accepted (a check on its own), so the fuzzed steps begin deep.
#[derive(Arbitrary, Debug, Clone, Copy)]
enum Start {
    Empty,
    /// root v1 + targets v1.
    Published,
    /// … then targets/releases, targets/releases/sub, targets/x509.
    Delegated,
    /// … then the root rotated to a new key (v2, signed by old and new).
    Rotated,
    /// … then a publisher-made snapshot.
    UploadedSnapshot,
}

impl Start {
    fn updates(self) -> Vec<Vec<(&'static str, &'static str)>> {
        let published = vec![("root", "root_v1"), ("targets", "targets_v1")];
        let delegated = vec![
            ("targets/releases", "releases_v1"),
            ("targets/releases/sub", "releases_sub_v1"),
            ("targets/x509", "x509_v1"),
        ];
        match self {
            Self::Empty => vec![],
            Self::Published => vec![published],
            Self::Delegated => vec![published, delegated],
            Self::Rotated => vec![published, delegated, vec![("root", "root_v2_rotated")]],
            Self::UploadedSnapshot => vec![published, vec![("snapshot", "snapshot_v1")]],
        }
    }
}

fn pool(name: &str) -> &'static [u8] {
    POOL.iter()
        .find(|(n, _)| *n == name)
        .unwrap_or_else(|| panic!("no pool document {name}"))
        .1
}

#[derive(Arbitrary, Debug)]
struct Step {
    now: Now,
    uploads: Vec<UploadSpec>,
}

#[derive(Arbitrary, Debug, Clone, Copy)]
enum Now {
    /// Everything in the pool is valid.
    Y2030,
    /// Pool documents (2090) have expired; certificates (2099) have not.
    Y2095,
    /// Before the certificates' NotBefore (2020-01-01) minus the day of leeway.
    Y2019,
    /// Somewhere in 1970..2200.
    Secs(u32),
}

impl Now {
    fn time(self) -> UnixTime {
        let t = |s: &str| UnixTime::parse_rfc3339(s).unwrap();
        match self {
            Self::Y2030 => t("2030-01-01T00:00:00Z"),
            Self::Y2095 => t("2095-06-01T00:00:00Z"),
            Self::Y2019 => t("2019-06-01T00:00:00Z"),
            Self::Secs(s) => UnixTime::from_unix(i64::from(s) * 2, 0),
        }
    }
}

#[derive(Arbitrary, Debug, Clone)]
enum RoleChoice {
    Root,
    Targets,
    Snapshot,
    Timestamp,
    Releases,
    ReleasesSub,
    ReleasesSubDeeper,
    X509,
    Other,
    Undelegated,
    /// Anything: usually invalid, sometimes a valid name.
    Name(String),
}

impl RoleChoice {
    fn name(&self) -> &str {
        match self {
            Self::Root => "root",
            Self::Targets => "targets",
            Self::Snapshot => "snapshot",
            Self::Timestamp => "timestamp",
            Self::Releases => "targets/releases",
            Self::ReleasesSub => "targets/releases/sub",
            Self::ReleasesSubDeeper => "targets/releases/sub/deeper",
            Self::X509 => "targets/x509",
            Self::Other => "targets/other",
            Self::Undelegated => "targets/nobody",
            Self::Name(s) => s,
        }
    }
}

#[derive(Arbitrary, Debug)]
enum DocChoice {
    Pool(u8),
    /// The currently stored document of a role (re-upload).
    Stored(RoleChoice),
    Raw(Vec<u8>),
}

#[derive(Arbitrary, Debug)]
struct UploadSpec {
    role: RoleChoice,
    doc: DocChoice,
    mutations: Vec<Mutation>,
}

#[derive(Arbitrary, Debug)]
enum Mutation {
    SetVersion(u64),
    BumpVersion(i8),
    SetExpires(ExpiresChoice),
    /// `signed.roles[i].threshold` (root) or `delegations.roles[i].threshold` (targets).
    SetThreshold(u8, i64),
    /// Remove the i-th entry of `roles` / `delegations.roles`.
    DropRole(u8),
    /// Remove the i-th key of `keys` / `delegations.keys`.
    DropKey(u8),
    /// Rename the i-th delegation.
    RenameDelegation(u8, RoleChoice),
    /// Add the i-th key of `keys` to the j-th role's key IDs.
    ShareKey(u8, u8),
    DropSignatures,
    DuplicateSignatures,
    /// Set a top-level field of `signed`.
    SetField(FieldChoice, SmallValue),
    RemoveField(FieldChoice),
    /// Remove the i-th entry of snapshot/timestamp `meta`.
    DropMeta(u8),
    /// Set the i-th `meta` entry's length.
    SetMetaLength(u8, i64),
    FlipByte(u16, u8),
    Truncate(u16),
    Insert(u16, Vec<u8>),
}

#[derive(Arbitrary, Debug)]
enum ExpiresChoice {
    Past,
    Far,
    Offset,
    Text(String),
}

#[derive(Arbitrary, Debug, Clone, Copy)]
enum FieldChoice {
    Type,
    Version,
    Expires,
    Keys,
    Roles,
    Meta,
    Targets,
    Delegations,
    ConsistentSnapshot,
    Unknown,
}

impl FieldChoice {
    fn key(self) -> &'static str {
        match self {
            Self::Type => "_type",
            Self::Version => "version",
            Self::Expires => "expires",
            Self::Keys => "keys",
            Self::Roles => "roles",
            Self::Meta => "meta",
            Self::Targets => "targets",
            Self::Delegations => "delegations",
            Self::ConsistentSnapshot => "consistent_snapshot",
            Self::Unknown => "x-unknown",
        }
    }
}

#[derive(Arbitrary, Debug)]
enum SmallValue {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    EmptyObject,
    EmptyArray,
}

impl SmallValue {
    fn value(&self) -> Value {
        match self {
            Self::Null => Value::Null,
            Self::Bool(b) => Value::Bool(*b),
            Self::Int(i) => Value::from(*i),
            Self::Float(f) => serde_json::Number::from_f64(*f).map_or(Value::Null, Value::Number),
            Self::Str(s) => Value::String(s.clone()),
            Self::EmptyObject => Value::Object(serde_json::Map::new()),
            Self::EmptyArray => Value::Array(vec![]),
        }
    }
}

fn nth_key(obj: Option<&Value>, i: u8) -> Option<String> {
    let map = obj?.as_object()?;
    if map.is_empty() {
        return None;
    }
    map.keys().nth(usize::from(i) % map.len()).cloned()
}

/// Applies JSON-level mutations to `signed`/`signatures`, then byte-level ones.
fn mutate(bytes: Vec<u8>, mutations: &[Mutation]) -> Vec<u8> {
    let mut doc: Option<Value> = serde_json::from_slice(&bytes).ok();
    let mut raw = bytes;
    let mut json_dirty = false;
    for m in mutations {
        if let (Some(Value::Object(top)), false) = (doc.as_mut(), is_byte_mutation(m)) {
            json_dirty = true;
            let Some(Value::Object(signed)) = top.get_mut("signed") else {
                continue;
            };
            match m {
                Mutation::SetVersion(v) => {
                    signed.insert("version".into(), Value::from(*v));
                }
                Mutation::BumpVersion(d) => {
                    let v = signed.get("version").and_then(Value::as_i64).unwrap_or(0);
                    signed.insert(
                        "version".into(),
                        Value::from(v.saturating_add(i64::from(*d))),
                    );
                }
                Mutation::SetExpires(e) => {
                    let text = match e {
                        ExpiresChoice::Past => "2001-01-01T00:00:00Z".to_owned(),
                        ExpiresChoice::Far => "2999-12-31T23:59:59.999999999Z".to_owned(),
                        ExpiresChoice::Offset => "2031-01-01T00:00:00+05:30".to_owned(),
                        ExpiresChoice::Text(s) => s.clone(),
                    };
                    signed.insert("expires".into(), Value::String(text));
                }
                Mutation::SetThreshold(i, t) => {
                    if let Some(k) = nth_key(signed.get("roles"), *i) {
                        signed["roles"][&k]["threshold"] = Value::from(*t);
                    } else if let Some(Value::Array(rs)) = signed
                        .get_mut("delegations")
                        .and_then(|d| d.get_mut("roles"))
                        && !rs.is_empty()
                    {
                        let n = rs.len();
                        rs[usize::from(*i) % n]["threshold"] = Value::from(*t);
                    }
                }
                Mutation::DropRole(i) => {
                    if let Some(k) = nth_key(signed.get("roles"), *i) {
                        signed["roles"].as_object_mut().unwrap().remove(&k);
                    } else if let Some(Value::Array(rs)) = signed
                        .get_mut("delegations")
                        .and_then(|d| d.get_mut("roles"))
                        && !rs.is_empty()
                    {
                        let n = rs.len();
                        rs.remove(usize::from(*i) % n);
                    }
                }
                Mutation::DropKey(i) => {
                    if let Some(k) = nth_key(signed.get("keys"), *i) {
                        signed["keys"].as_object_mut().unwrap().remove(&k);
                    } else if let Some(d) = signed.get_mut("delegations")
                        && let Some(k) = nth_key(d.get("keys"), *i)
                    {
                        d["keys"].as_object_mut().unwrap().remove(&k);
                    }
                }
                Mutation::RenameDelegation(i, to) => {
                    if let Some(Value::Array(rs)) = signed
                        .get_mut("delegations")
                        .and_then(|d| d.get_mut("roles"))
                        && !rs.is_empty()
                    {
                        let n = rs.len();
                        rs[usize::from(*i) % n]["name"] = Value::String(to.name().to_owned());
                    }
                }
                Mutation::ShareKey(i, j) => {
                    if let (Some(k), Some(r)) = (
                        nth_key(signed.get("keys"), *i),
                        nth_key(signed.get("roles"), *j),
                    ) && let Some(Value::Array(ids)) = signed["roles"][&r].get_mut("keyids")
                    {
                        ids.push(Value::String(k));
                    }
                }
                Mutation::DropSignatures => {
                    top.insert("signatures".into(), Value::Array(vec![]));
                }
                Mutation::DuplicateSignatures => {
                    if let Some(Value::Array(sigs)) = top.get_mut("signatures") {
                        let copy = sigs.clone();
                        sigs.extend(copy);
                    }
                }
                Mutation::SetField(f, v) => {
                    signed.insert(f.key().into(), v.value());
                }
                Mutation::RemoveField(f) => {
                    signed.remove(f.key());
                }
                Mutation::DropMeta(i) => {
                    if let Some(k) = nth_key(signed.get("meta"), *i) {
                        signed["meta"].as_object_mut().unwrap().remove(&k);
                    }
                }
                Mutation::SetMetaLength(i, len) => {
                    if let Some(k) = nth_key(signed.get("meta"), *i) {
                        signed["meta"][&k]["length"] = Value::from(*len);
                    }
                }
                Mutation::FlipByte(..) | Mutation::Truncate(_) | Mutation::Insert(..) => {}
            }
        } else if is_byte_mutation(m) {
            if json_dirty {
                raw = serde_json::to_vec(doc.as_ref().unwrap()).unwrap();
                json_dirty = false;
            }
            doc = None; // byte mutations end the JSON-level phase
            match m {
                Mutation::FlipByte(pos, x) if !raw.is_empty() => {
                    let n = raw.len();
                    raw[usize::from(*pos) % n] ^= x | 1;
                }
                Mutation::Truncate(len) => raw.truncate(usize::from(*len)),
                Mutation::Insert(pos, bytes) => {
                    let at = usize::from(*pos).min(raw.len());
                    raw.splice(at..at, bytes.iter().copied());
                }
                _ => {}
            }
        }
    }
    if json_dirty && let Some(d) = doc {
        raw = serde_json::to_vec(&d).unwrap();
    }
    raw
}

fn is_byte_mutation(m: &Mutation) -> bool {
    matches!(
        m,
        Mutation::FlipByte(..) | Mutation::Truncate(_) | Mutation::Insert(..)
    )
}

fn stored_bytes(state: &RepoState, role: &RoleChoice) -> Option<Vec<u8>> {
    let role = RoleName::parse(role.name()).ok()?;
    Some(
        match role.as_str() {
            "root" => state.root.as_ref()?.bytes(),
            "snapshot" => state.snapshot.as_ref()?.bytes(),
            "timestamp" => state.timestamp.as_ref()?.bytes(),
            _ => state.targets.get(&role)?.bytes(),
        }
        .to_vec(),
    )
}

fn fake_signatures(keyids: &[KeyId]) -> Vec<Signature> {
    let ids = if keyids.is_empty() {
        vec![KeyId::new("fuzz")]
    } else {
        keyids.to_vec()
    };
    ids.into_iter()
        .map(|keyid| Signature {
            keyid,
            method: "ecdsa".to_owned(),
            sig: Base64Bytes(vec![0; 64]),
        })
        .collect()
}

fn files_of(state: &RepoState) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    if let Some(r) = &state.root {
        out.push(("root".to_owned(), r.bytes().to_vec()));
    }
    for (role, d) in &state.targets {
        out.push((role.as_str().to_owned(), d.bytes().to_vec()));
    }
    if let Some(s) = &state.snapshot {
        out.push(("snapshot".to_owned(), s.bytes().to_vec()));
    }
    if let Some(t) = &state.timestamp {
        out.push(("timestamp".to_owned(), t.bytes().to_vec()));
    }
    out
}

/// The repository after the start's updates, each of which must be accepted. Computed
/// (and checked) once per process: the starts are fixed.
fn start_state(start: Start) -> RepoState {
    static STATES: std::sync::OnceLock<Vec<RepoState>> = std::sync::OnceLock::new();
    let states = STATES.get_or_init(|| {
        let all = [
            Start::Empty,
            Start::Published,
            Start::Delegated,
            Start::Rotated,
            Start::UploadedSnapshot,
        ];
        all.iter()
            .map(|s| {
                let mut state = RepoState::default();
                let now = Now::Y2030.time();
                for update in s.updates() {
                    let uploads: Vec<Upload> = update
                        .iter()
                        .map(|(role, doc)| Upload {
                            role: RoleName::parse(role).unwrap(),
                            bytes: pool(doc).to_vec(),
                        })
                        .collect();
                    let accepted =
                        validate_update(GUN, &state, uploads.clone(), now, &AcceptAllSignatures)
                            .unwrap_or_else(|e| panic!("valid update {update:?} rejected: {e}"));
                    state = check_and_apply(&state, &uploads, accepted, now);
                }
                state
            })
            .collect()
    });
    states[start as usize].clone()
}

/// `SIGNET_FUZZ_STATS=1`: log every decision to stderr (to see how deep a corpus gets).
fn stats() -> bool {
    static ON: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *ON.get_or_init(|| std::env::var_os("SIGNET_FUZZ_STATS").is_some())
}

fuzz_target!(|input: Input| {
    let mut state = start_state(input.start);
    for step in input.steps.iter().take(8) {
        let now = step.now.time();
        let mut uploads = Vec::new();
        for spec in step.uploads.iter().take(8) {
            let bytes = match &spec.doc {
                DocChoice::Pool(i) => POOL[usize::from(*i) % POOL.len()].1.to_vec(),
                DocChoice::Stored(r) => stored_bytes(&state, r).unwrap_or_default(),
                DocChoice::Raw(b) => b.clone(),
            };
            let bytes = mutate(bytes, &spec.mutations);
            let name = spec.role.name();
            let Ok(role) = RoleName::parse(name) else {
                // The HTTP layer turns these away before validation.
                assert!(
                    matches!(spec.role, RoleChoice::Name(_)),
                    "built-in role {name} must parse"
                );
                continue;
            };
            uploads.push(Upload { role, bytes });
        }
        let result = validate_update(GUN, &state, uploads.clone(), now, &AcceptAllSignatures);
        if stats() {
            match &result {
                Ok(u) => eprintln!(
                    "STAT accepted files={:?} root_v={}",
                    u.files
                        .iter()
                        .map(|(r, v, _)| format!("{r}@{v}"))
                        .collect::<Vec<_>>(),
                    u.root.version()
                ),
                Err(e) => eprintln!("STAT rejected {}", e.notary_name()),
            }
        }
        let Ok(update) = result else {
            continue;
        };
        state = check_and_apply(&state, &uploads, update, now);
    }
});

fn check_and_apply(
    state: &RepoState,
    uploads: &[Upload],
    update: ValidatedUpdate,
    now: UnixTime,
) -> RepoState {
    // The effective uploads: the last one per role wins.
    let mut effective: BTreeMap<RoleName, &[u8]> = BTreeMap::new();
    for u in uploads {
        effective.insert(u.role.clone(), &u.bytes);
    }

    // Root.
    let root = &update.root;
    let prev_root = state.root.as_ref().map(Signed::version);
    let root_uploaded = effective.contains_key(&RoleName::root());
    match prev_root {
        Some(p) => assert!(
            root.version() == p || root.version() == p + 1,
            "root version {} after {p}",
            root.version()
        ),
        None => {
            assert!(root_uploaded, "accepted an update with no root anywhere");
            assert!(
                matches!(root.version(), 1 | 2),
                "first root has version {}",
                root.version()
            );
        }
    }
    if root_uploaded {
        assert_eq!(root.bytes(), effective[&RoleName::root()]);
        assert!(!root.expires().is_expired(now), "accepted an expired root");
    } else {
        assert_eq!(root.bytes(), state.root.as_ref().unwrap().bytes());
    }
    check_root_structure(&root.signed).expect("root in force must be structurally valid");

    // Files: exactly the uploads minus timestamp, root first, shallow to deep, snapshot last.
    let roles: Vec<&RoleName> = update.files.iter().map(|(r, _, _)| r).collect();
    let uploaded: BTreeSet<&RoleName> = effective
        .keys()
        .filter(|r| r.as_str() != "timestamp")
        .collect();
    assert_eq!(roles.iter().copied().collect::<BTreeSet<_>>(), uploaded);
    assert_eq!(roles.len(), uploaded.len(), "a role stored twice");
    assert_eq!(
        roles.first().map(|r| r.as_str()) == Some("root"),
        root_uploaded
    );
    let rank = |r: &RoleName| match r.as_str() {
        "root" => (0, 0),
        "snapshot" => (2, 0),
        _ => (1, r.depth()),
    };
    assert!(
        roles.windows(2).all(|w| rank(w[0]) <= rank(w[1])),
        "files out of order: {roles:?}"
    );
    // The state after the update.
    let mut next = state.clone();
    next.root = Some(root.clone());
    for (role, version, bytes) in &update.files {
        assert_eq!(bytes.as_slice(), effective[role]);
        assert!(*version >= 1);
        if let Some(parent) = role.parent() {
            assert!(
                effective.contains_key(&parent) || state.targets.contains_key(&parent),
                "{role} accepted without its parent {parent}"
            );
        }
        if role.is_targets_like() {
            let doc = Signed::<signet_core::Targets>::from_bytes(bytes).unwrap();
            assert_eq!(doc.version(), *version);
            assert!(!doc.expires().is_expired(now), "accepted expired {role}");
            next.targets.insert(role.clone(), doc);
        }
    }
    assert!(
        next.targets.contains_key(&RoleName::targets()),
        "accepted an update that leaves no targets"
    );

    // Snapshot.
    let snapshot: Signed<Snapshot> = match update.snapshot {
        SnapshotPlan::Uploaded(doc) => {
            assert_eq!(doc.bytes(), effective[&RoleName::snapshot()]);
            assert!(!doc.expires().is_expired(now));
            doc
        }
        SnapshotPlan::Sign(draft) => {
            assert!(!effective.contains_key(&RoleName::snapshot()));
            let prev = state.snapshot.as_ref().map_or(0, Signed::version);
            assert_eq!(draft.signed.version, prev + 1);
            assert!(!draft.signed.expires.is_expired(now));
            let listed = root.signed.roles.get("snapshot").map(|r| r.keyids.clone());
            assert_eq!(Some(&draft.keyids), listed.as_ref());
            let keyids = draft.keyids.clone();
            let payload = draft.payload().to_vec();
            let doc = draft.assemble(&fake_signatures(&keyids));
            let back = Signed::<Snapshot>::from_bytes(doc.bytes())
                .expect("server-assembled snapshot must parse");
            assert_eq!(back.canonical(), payload.as_slice());
            back
        }
    };
    let lists = |name: &str, bytes: &[u8]| {
        let meta = snapshot
            .signed
            .meta
            .get(name)
            .unwrap_or_else(|| panic!("snapshot does not list {name}"));
        meta.check(bytes)
            .unwrap_or_else(|e| panic!("snapshot entry for {name}: {e}"));
    };
    lists("root", root.bytes());
    lists("targets", next.targets[&RoleName::targets()].bytes());
    for (role, _, bytes) in &update.files {
        if role.is_targets_like() {
            lists(role.as_str(), bytes);
        }
    }
    next.snapshot = Some(snapshot);

    // Timestamp over the new snapshot.
    let snap_bytes = next.snapshot.as_ref().unwrap().bytes().to_vec();
    let prev_ts = state.timestamp.as_ref().map(|t| &t.signed);
    let draft = timestamp_for(&root.signed, prev_ts, &snap_bytes, now)
        .expect("timestamp_for over a valid snapshot");
    assert_eq!(
        draft.signed.version,
        state.timestamp.as_ref().map_or(0, Signed::version) + 1
    );
    assert!(!timestamp_is_stale(&draft.signed, &snap_bytes, now));
    let keyids = draft.keyids.clone();
    let ts = draft.assemble(&fake_signatures(&keyids));
    let ts = Signed::from_bytes(ts.bytes()).expect("server-assembled timestamp must parse");
    next.timestamp = Some(ts);

    // What the server stores re-loads (the files this update wrote; the rest were
    // checked when they were stored).
    let written: Vec<(String, Vec<u8>)> = files_of(&next)
        .into_iter()
        .filter(|(r, _)| {
            matches!(r.as_str(), "snapshot" | "timestamp")
                || update.files.iter().any(|(f, _, _)| f.as_str() == r)
        })
        .collect();
    let reloaded = RepoState::from_files(written.iter().map(|(r, b)| (r.as_str(), b.as_slice())))
        .expect("stored files must re-load");
    assert!(reloaded.snapshot.is_some() && reloaded.timestamp.is_some());

    // A server snapshot with nothing new still covers everything (what the service does
    // when it re-signs an expiring snapshot).
    let resigned = snapshot_for(
        &root.signed,
        next.snapshot.as_ref().map(|s| &s.signed),
        [],
        now,
    )
    .expect("re-signing the snapshot");
    let _ = Unsigned::assemble(resigned, &[]);
    next
}
