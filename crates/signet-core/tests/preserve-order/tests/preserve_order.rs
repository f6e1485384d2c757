//! signet-core's signed bytes and key IDs with serde_json's `preserve_order` on: object
//! maps then iterate in insertion order, so only the canonical encoder's own sort keeps
//! the bytes Go signs.

use std::path::Path;

use serde_json::{Map, Value};
use signet_core::canonical::to_canonical;
use signet_core::metadata::{Signed, Targets, Timestamp};
use signet_core::{PublicKey, RepoState, RingVerifier, RoleName, Root, UnixTime, Unsigned, Upload};

fn read(file: &str) -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../testdata/rotated-root")
        .join(file);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn expect_field(name: &str) -> String {
    let expect: Value = serde_json::from_slice(&read("expect.json")).unwrap();
    expect[name].as_str().unwrap().to_owned()
}

/// `v` with the entries of every object in reverse bytewise order.
fn reversed(v: &Value) -> Value {
    match v {
        Value::Array(items) => Value::Array(items.iter().map(reversed).collect()),
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            let mut out = Map::new();
            for k in keys.into_iter().rev() {
                out.insert(k.clone(), reversed(&map[k]));
            }
            Value::Object(out)
        }
        other => other.clone(),
    }
}

#[test]
fn preserve_order_is_active() {
    // Guards the other tests against passing vacuously.
    let mut map = Map::new();
    map.insert("b".to_owned(), Value::Null);
    map.insert("a".to_owned(), Value::Null);
    assert_eq!(
        map.keys().collect::<Vec<_>>(),
        ["b", "a"],
        "serde_json's preserve_order feature is off: this crate no longer tests anything"
    );
}

#[test]
fn canonical_sorts_objects_whatever_the_insertion_order() {
    let mut inner = Map::new();
    inner.insert("z".to_owned(), Value::from(1));
    inner.insert("a".to_owned(), Value::from(2));
    let mut map = Map::new();
    for k in ["b", "a!", "a b", "a"] {
        map.insert(k.to_owned(), Value::Object(inner.clone()));
    }
    let o = r#"{"a":2,"z":1}"#;
    assert_eq!(
        String::from_utf8(to_canonical(&Value::Object(map)).unwrap()).unwrap(),
        format!(r#"{{"a":{o},"a b":{o},"a!":{o},"b":{o}}}"#)
    );
}

#[test]
fn reordered_upload_still_verifies() {
    let original = read("2.targets.json");
    let doc: Value = serde_json::from_slice(&original).unwrap();
    let mut env = Map::new();
    env.insert("signed".to_owned(), reversed(&doc["signed"]));
    env.insert("signatures".to_owned(), doc["signatures"].clone());
    let shuffled = serde_json::to_vec(&Value::Object(env)).unwrap();
    assert!(
        shuffled.starts_with(br#"{"signed":{"version":"#),
        "keys really are out of order on the wire"
    );
    let a = Signed::<Targets>::from_bytes(&original).unwrap();
    let b = Signed::<Targets>::from_bytes(&shuffled).unwrap();
    assert_eq!(b.canonical(), a.canonical());

    let now = UnixTime::parse_rfc3339(&expect_field("validate_at")).unwrap();
    let uploads = vec![
        Upload {
            role: RoleName::root(),
            bytes: read("1.root.json"),
        },
        Upload {
            role: RoleName::targets(),
            bytes: shuffled,
        },
    ];
    signet_core::validate_update(
        &expect_field("gun"),
        &RepoState::default(),
        uploads,
        now,
        &RingVerifier,
    )
    .expect("the signature covers the canonical bytes, not the wire order");
}

#[test]
fn key_ids_do_not_depend_on_field_order() {
    let root = Signed::<Root>::from_bytes(&read("2.root.json")).unwrap();
    for (id, key) in &root.signed.keys {
        let json = reversed(&serde_json::to_value(key).unwrap());
        assert!(
            serde_json::to_string(&json)
                .unwrap()
                .starts_with(r#"{"keyval":{"public":"#)
        );
        let parsed: PublicKey = serde_json::from_value(json).unwrap();
        assert_eq!(parsed.id(), id);
    }
}

#[test]
fn unsigned_payload_sorts_struct_fields_and_extras() {
    let ts = Signed::<Timestamp>::from_bytes(&read("1.timestamp.json")).unwrap();
    let mut body = ts.signed.clone();
    // Flattened unknown fields are serialised after the declared ones, in insertion order.
    body.extra.insert("zz".to_owned(), Value::from(1));
    body.extra.insert("a-field".to_owned(), Value::from(2));
    let unsigned = Unsigned::new(RoleName::timestamp(), body, vec![], 1).unwrap();
    let canonical = String::from_utf8(ts.canonical().to_vec()).unwrap();
    let expected = format!(
        "{}\"a-field\":2,{},\"zz\":1}}",
        r#"{"_type":"Timestamp","#,
        canonical
            .strip_prefix(r#"{"_type":"Timestamp","#)
            .and_then(|rest| rest.strip_suffix('}'))
            .unwrap()
    );
    assert_eq!(
        String::from_utf8(unsigned.payload().to_vec()).unwrap(),
        expected
    );
}
