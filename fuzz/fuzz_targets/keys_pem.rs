//! Keys and PEM. The first input byte selects the mode:
//! 0: `PublicKey` JSON: serializing writes back the JSON read, the key ID is the SHA-256
//!    of the canonical standard form, and serialize → deserialize keeps type, bytes,
//!    material, certificates and both IDs.
//! 1: `key::parse_cert_chain`: any accepted chain is non-empty, re-parses certificate by
//!    certificate to the same facts, and survives the Go re-encoding `from_cert_chain` does.
//! 2: `encoding::pem_decode_all`: every decoded block re-encodes and decodes to itself.
//! 3: structured (`arbitrary`) blocks: `pem_encode` → `pem_decode_all` is the identity for
//!    every block Go's `pem.Encode` can represent.
#![no_main]

use arbitrary::{Arbitrary, Unstructured};
use libfuzzer_sys::fuzz_target;
use signet_core::canonical::to_canonical;
use signet_core::encoding::{PemBlock, hex_encode, pem_decode_all, pem_encode, sha256};
use signet_core::key::{CertFacts, parse_cert, parse_cert_chain};
use signet_core::{KeyType, PublicKey};

#[derive(Arbitrary, Debug)]
struct Block {
    label: String,
    headers: Vec<(String, String)>,
    contents: Vec<u8>,
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    match mode % 4 {
        0 => key_json(rest),
        1 => cert_chain(rest),
        2 => pem_bytes(rest),
        _ => {
            if let Ok(blocks) = Vec::<Block>::arbitrary_take_rest(Unstructured::new(rest)) {
                pem_blocks(blocks);
            }
        }
    }
});

fn key_json(bytes: &[u8]) {
    let Ok(key) = serde_json::from_slice::<PublicKey>(bytes) else {
        return;
    };
    // Serializing writes back exactly what was read (unknown fields included).
    let original: serde_json::Value = serde_json::from_slice(bytes).unwrap();
    assert_eq!(serde_json::to_value(&key).unwrap(), original);
    // The ID is the hash of the standard form, which is a key with the same ID.
    let value = key.to_json_value();
    let standard: PublicKey = serde_json::from_value(value.clone()).unwrap();
    assert_eq!(standard.id(), key.id());
    assert_eq!(serde_json::to_value(&standard).unwrap(), value);
    let id = hex_encode(&sha256(&to_canonical(&value).unwrap()));
    assert_eq!(
        key.id().as_str(),
        id,
        "key ID is not the hash of the canonical key"
    );

    let back: PublicKey = serde_json::from_slice(&serde_json::to_vec(&key).unwrap()).unwrap();
    assert_eq!(back.id(), key.id());
    assert_eq!(back.canonical_id(), key.canonical_id());
    assert_eq!(back.keytype(), key.keytype());
    assert_eq!(back.public_bytes(), key.public_bytes());
    assert_eq!(back.material(), key.material());
    assert_eq!(back.certificates(), key.certificates());

    if key.keytype().is_x509() {
        if let Ok(chain) = parse_cert_chain(key.public_bytes()) {
            assert_eq!(key.certificates(), &chain[..]);
        } else {
            assert!(key.certificates().is_empty());
            assert_eq!(key.canonical_id(), key.id());
        }
    } else {
        assert!(key.certificates().is_empty());
        assert_eq!(key.canonical_id(), key.id());
    }
    if *key.keytype() == KeyType::Ed25519
        && matches!(key.material(), signet_core::key::KeyMaterial::Ed25519(_))
    {
        assert_eq!(key.public_bytes().len(), 32);
    }
}

fn cert_chain(bytes: &[u8]) {
    let Ok(chain) = parse_cert_chain(bytes) else {
        return;
    };
    assert!(!chain.is_empty());
    let blocks = pem_decode_all(bytes).expect("an accepted chain is valid PEM");
    assert_eq!(blocks.len(), chain.len());
    for (facts, block) in chain.iter().zip(&blocks) {
        assert_eq!(block.label, "CERTIFICATE");
        assert_eq!(facts.der, block.contents);
        assert_eq!(&parse_cert(&facts.der).unwrap(), facts);
        let _ = facts.validate(None);
        let _ = facts.validate(Some(signet_core::UnixTime::EPOCH));
    }
    // Go's re-encoding of the chain (what root_cert_keys keys root certificates by).
    let ders: Vec<Vec<u8>> = chain.iter().map(|c: &CertFacts| c.der.clone()).collect();
    let key = PublicKey::from_cert_chain(&ders);
    assert!(key.keytype().is_x509());
    assert_eq!(key.certificates(), &chain[..]);
    assert_ne!(key.canonical_id(), key.id());
}

fn pem_bytes(bytes: &[u8]) {
    let Some(blocks) = pem_decode_all(bytes) else {
        return;
    };
    for b in &blocks {
        if !representable(b) {
            continue;
        }
        let text = pem_encode(b);
        let back = pem_decode_all(text.as_bytes()).expect("re-encoded block must decode");
        assert_eq!(back.len(), 1, "{text:?}");
        assert_eq!(back[0].label, b.label);
        assert_eq!(back[0].contents, b.contents);
        assert_eq!(sorted(&back[0].headers), sorted(&b.headers));
    }
}

fn pem_blocks(blocks: Vec<Block>) {
    let blocks: Vec<PemBlock> = blocks
        .into_iter()
        .map(|b| PemBlock {
            label: b.label,
            headers: b.headers,
            contents: b.contents,
        })
        .filter(representable)
        .collect();
    let text: String = blocks.iter().map(pem_encode).collect();
    for line in text.lines() {
        if !line.starts_with("-----") && !line.contains(':') {
            assert!(line.len() <= 64, "body line longer than 64 columns");
        }
    }
    let back = pem_decode_all(text.as_bytes()).expect("encoded blocks must decode");
    assert_eq!(back.len(), blocks.len(), "{text:?}");
    for (b, a) in back.iter().zip(&blocks) {
        assert_eq!(b.label, a.label);
        assert_eq!(b.contents, a.contents);
        // pem_encode writes headers sorted as Go does (Proc-Type first); decode keeps file order.
        assert_eq!(b.headers, sorted(&a.headers));
    }
}

/// Go's header order: `Proc-Type` first, then by key (stable).
fn sorted(h: &[(String, String)]) -> Vec<(String, String)> {
    let mut h = h.to_vec();
    h.sort_by(|a, b| (a.0 != "Proc-Type", &a.0).cmp(&(b.0 != "Proc-Type", &b.0)));
    h
}

/// Blocks the PEM text format can carry: one-line label; header keys without `:` (Go's
/// `pem.Encode` refuses them) and keys/values without line breaks or surrounding
/// whitespace (decoders trim it); no header line that reads as the END marker.
fn representable(b: &PemBlock) -> bool {
    let one_line = |s: &str| !s.contains('\n') && !s.contains('\r');
    let end = format!("-----END {}-----", b.label);
    one_line(&b.label)
        && b.headers.iter().all(|(k, v)| {
            one_line(k)
                && one_line(v)
                && !k.contains(':')
                && k.trim() == k
                && v.trim() == v
                && format!("{k}: {v}").trim_end() != end
        })
}
