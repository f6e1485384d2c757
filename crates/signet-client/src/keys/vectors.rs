//! Test vectors made by Go notary 0.7, Go notary's library, the docker CLI and OpenSSL
//! (`testdata/keys`, see its README).

use std::path::{Path, PathBuf};

use signet_core::encoding::pem_decode_all;
use signet_core::{KeyType, PublicKey, RingVerifier, Verifier as _};

use super::*;

const PASS: &str = "vectorpass";

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/keys")
}

fn read(name: &str) -> Vec<u8> {
    std::fs::read(dir().join(name)).expect("vector present")
}

/// The ID of a `PUBLIC KEY` PEM file (ECDSA or RSA SPKI).
fn public_id(name: &str) -> String {
    let blocks = pem_decode_all(&read(name)).expect("pem");
    let der = blocks[0].contents.clone();
    let keytype = if der.windows(9).any(|w| w == der::OID_RSA) {
        KeyType::Rsa
    } else {
        KeyType::Ecdsa
    };
    PublicKey::new(keytype, der).id().to_string()
}

fn assert_signs(key: &PrivateKey) {
    let msg = b"{\"signed\":\"payload\"}";
    let sig = key.sign(msg).expect("signs");
    if key.algorithm() == KeyAlgorithm::EcdsaP256 {
        assert_eq!(sig.len(), 64, "raw r||s");
    }
    RingVerifier
        .verify(key.public(), key.method(), msg, &sig)
        .expect("signet-core verifies the signature");
    assert!(
        RingVerifier
            .verify(key.public(), key.method(), b"other", &sig)
            .is_err()
    );
}

#[test]
fn notary_trust_dir_lists_byte_for_byte() {
    let store = KeyStore::new(dir().join("trustdir"));
    let entries = store.list().expect("lists");
    assert_eq!(entries.len(), 4);
    let got = format_key_list(&entries, "/tmp/signet-vectors/trustdir/private");
    let want = String::from_utf8(read("trustdir-key-list.txt")).expect("utf8");
    assert_eq!(got, want);
}

#[test]
fn notary_trust_dir_keys_decrypt_and_sign() {
    let store = KeyStore::new(dir().join("trustdir"));
    let mut pass = Retriever::with_values(
        PassphraseEnv::notary(),
        [
            ("NOTARY_ROOT_PASSPHRASE", PASS),
            ("NOTARY_TARGETS_PASSPHRASE", PASS),
            ("NOTARY_SNAPSHOT_PASSPHRASE", PASS),
            ("NOTARY_DELEGATION_PASSPHRASE", PASS),
        ],
    );
    for entry in store.list().expect("lists") {
        let (key, loaded) = store.load(&entry.id, &mut pass).expect("decrypts");
        assert_eq!(key.id().as_str(), entry.id, "file named by key ID");
        assert_eq!(loaded, entry);
        assert_eq!(key.algorithm(), KeyAlgorithm::EcdsaP256);
        assert_signs(&key);
    }
}

#[test]
fn notary_generate_output_decrypts_to_its_public_key() {
    let pem = KeyPem::parse(&read("notary-gen-key.pem")).expect("parses");
    assert_eq!(pem.role(), "root");
    assert!(pem.is_encrypted());
    let key = pem.decrypt(Some(PASS)).expect("decrypts");
    assert_eq!(key.id().as_str(), public_id("notary-gen.pem"));
    assert_signs(&key);
}

#[test]
fn go_library_ed25519_and_rsa_keys() {
    let list = String::from_utf8(read("go-keys.txt")).expect("utf8");
    for line in list.lines() {
        let mut f = line.split(' ');
        let (file, id, alg) = (f.next().unwrap(), f.next().unwrap(), f.next().unwrap());
        let bytes = read(file);
        let pem = KeyPem::parse(&bytes).expect("parses");
        let key = pem.decrypt(Some(PASS)).expect("decrypts");
        assert_eq!(key.id().as_str(), id, "{file}");
        assert_eq!(key.algorithm(), KeyAlgorithm::parse(alg).unwrap());
        assert_signs(&key);
        if !pem.is_encrypted() {
            // Our writer's inner PKCS#8 is byte-identical to Go's.
            let block = &pem_decode_all(&bytes).unwrap()[0];
            assert_eq!(key.notary_pkcs8_der().as_slice(), block.contents, "{file}");
        }
    }
}

#[test]
fn docker_trust_key_generate_output() {
    let store = KeyStore::new(dir().join("docker-trust"));
    let entries = store.list().expect("lists");
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0].role, "alice");
    assert_eq!(entries[0].gun, "");
    assert_eq!(entries[0].id, public_id("alice.pub"));
    let mut pass = Retriever::with_values(
        PassphraseEnv::docker(),
        [("DOCKER_CONTENT_TRUST_REPOSITORY_PASSPHRASE", PASS)],
    );
    let (key, _) = store.load(&entries[0].id, &mut pass).expect("decrypts");
    assert_signs(&key);
}

#[test]
fn legacy_openssl_keys() {
    for (file, public) in [
        ("legacy-ec-aes256.pem", "legacy-ec.pub"),
        ("legacy-ec-plain.pem", "legacy-ec.pub"),
        ("legacy-rsa-aes128.pem", "legacy-rsa.pub"),
    ] {
        let pem = KeyPem::parse(&read(file)).expect("parses");
        let key = pem.decrypt(Some(PASS)).expect(file);
        assert_eq!(key.id().as_str(), public_id(public), "{file}");
        assert_signs(&key);
        if pem.is_encrypted() {
            let err = pem.decrypt(Some("not the passphrase")).expect_err("wrong");
            assert!(
                matches!(err, KeyError::WrongPassphrase { .. }),
                "{file}: {err}"
            );
        }
    }
}

#[test]
fn wrong_passphrase_is_refused() {
    for file in [
        "notary-gen-key.pem",
        "go-rsa-encrypted.pem",
        "go-ed25519-encrypted.pem",
    ] {
        let pem = KeyPem::parse(&read(file)).expect("parses");
        for wrong in ["", "vectorpasS", "x"] {
            let err = pem.decrypt(Some(wrong)).expect_err("wrong passphrase");
            assert!(
                matches!(err, KeyError::WrongPassphrase { .. }),
                "{file}: {err}"
            );
        }
        assert!(matches!(
            pem.decrypt(None),
            Err(KeyError::WrongPassphrase { .. })
        ));
    }
}

/// The encryption envelope has the same structure as Go's, byte for byte, once the random
/// salt, IV and ciphertext are masked.
#[test]
fn written_envelope_matches_go_layout() {
    let go = &pem_decode_all(&read("notary-gen-key.pem")).unwrap()[0];
    let key = PrivateKey::generate(KeyAlgorithm::EcdsaP256).unwrap();
    let ours = KeyPem::encrypt(&key, "root", "", PASS).unwrap();
    let ours_block = &pem_decode_all(ours.to_pem().as_bytes()).unwrap()[0];
    assert_eq!(ours_block.headers, go.headers);
    let (a, b) = (&go.contents, &ours_block.contents);
    assert_eq!(a.len(), b.len());
    // SEQ, SEQ{PBES2 OID, SEQ{SEQ{PBKDF2 OID, SEQ{OCTET STRING(8) salt, INTEGER 2048}},
    // SEQ{AES-256-CBC OID, OCTET STRING(16) iv}}}, OCTET STRING ciphertext.
    let salt = 0x23..0x2b;
    let iv = 0x3e..0x4e;
    for i in 0..0x51 {
        if !salt.contains(&i) && !iv.contains(&i) {
            assert_eq!(a[i], b[i], "byte {i:#x}");
        }
    }
    let back = ours.decrypt(Some(PASS)).unwrap();
    assert_eq!(back.id(), key.id());
}

#[test]
fn generated_keys_round_trip() {
    for alg in [KeyAlgorithm::EcdsaP256, KeyAlgorithm::Ed25519] {
        let key = PrivateKey::generate(alg).unwrap();
        assert_signs(&key);
        let pem = KeyPem::encrypt(&key, "targets", "example.com/x", "a passphrase").unwrap();
        let text = pem.to_pem();
        assert!(text.starts_with(
            "-----BEGIN ENCRYPTED PRIVATE KEY-----\ngun: example.com/x\nrole: targets\n\n"
        ));
        let again = KeyPem::parse(text.as_bytes()).unwrap();
        assert_eq!(again.decrypt(Some("a passphrase")).unwrap().id(), key.id());
        assert!(!format!("{key:?}").contains(&format!("{:?}", &key.secret_for_tests()[..4])));
    }
    assert!(PrivateKey::generate(KeyAlgorithm::Rsa).is_err());
}

#[test]
#[allow(clippy::disallowed_methods)] // test code: fixture JSON or the machine's time, never signed bytes or a trust decision
fn root_certificate_key_ids() {
    let key = PrivateKey::generate(KeyAlgorithm::EcdsaP256).unwrap();
    let cert = key
        .root_certificate("example.com/app", std::time::SystemTime::now(), 10)
        .unwrap();
    assert_eq!(cert.keytype(), &KeyType::EcdsaX509);
    assert_eq!(
        cert.canonical_id(),
        key.id(),
        "cert's canonical ID is the file's"
    );
    assert_ne!(cert.id(), key.id());
    let facts = &cert.certificates()[0];
    assert_eq!(facts.spki_der, key.public().public_bytes());
    let msg = b"root";
    let sig = key.sign(msg).unwrap();
    RingVerifier
        .verify(&cert, "ecdsa", msg, &sig)
        .expect("cert key verifies");
}

#[test]
fn store_add_list_remove_with_modes() {
    let tmp = tempfile::tempdir().unwrap();
    let store = KeyStore::new(tmp.path());
    let mut pass = Retriever::with_values(
        PassphraseEnv::notary(),
        [
            ("NOTARY_TARGETS_PASSPHRASE", "targets-pass"),
            ("NOTARY_ROOT_PASSPHRASE", "root-pass"),
        ],
    );
    let key = PrivateKey::generate(KeyAlgorithm::EcdsaP256).unwrap();
    let entry = store
        .add(&key, "targets", "example.com/a", &mut pass)
        .unwrap();
    let root = PrivateKey::generate(KeyAlgorithm::EcdsaP256).unwrap();
    let root_entry = store
        .add(&root, "root", "example.com/ignored", &mut pass)
        .unwrap();
    assert_eq!(root_entry.gun, "", "root keys have no GUN");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&entry.path), 0o600);
        assert_eq!(mode(store.location()), 0o700);
    }
    assert_eq!(store.list().unwrap().len(), 2);
    let (loaded, _) = store.load(&entry.id, &mut pass).unwrap();
    assert_eq!(loaded.id(), key.id());
    store.remove(&entry.id).unwrap();
    assert_eq!(store.list().unwrap().len(), 1);
    assert!(matches!(
        store.remove(&entry.id),
        Err(KeyError::NotFound { .. })
    ));
    assert!(matches!(
        store.remove("abc"),
        Err(KeyError::InvalidKeyId { .. })
    ));
}

#[test]
fn legacy_layouts_are_listed_as_notary_migrates_them() {
    let tmp = tempfile::tempdir().unwrap();
    let private = tmp.path().join("private");
    let key = PrivateKey::generate(KeyAlgorithm::EcdsaP256).unwrap();
    let id = key.id().to_string();
    let pem = KeyPem::encrypt(&key, "", "", PASS).unwrap();
    write_private(
        &private.join(format!("root_keys/{id}_root.key")),
        pem.to_pem().as_bytes(),
    )
    .unwrap();
    let key2 = PrivateKey::generate(KeyAlgorithm::EcdsaP256).unwrap();
    let id2 = key2.id().to_string();
    let pem2 = KeyPem::encrypt(&key2, "", "", PASS).unwrap();
    write_private(
        &private.join(format!(
            "tuf_keys/docker.com/notary0.1/samplerepo/{id2}_targets.key"
        )),
        pem2.to_pem().as_bytes(),
    )
    .unwrap();
    let store = KeyStore::new(tmp.path());
    let mut entries = store.list().unwrap();
    entries.sort_by(|a, b| a.role.cmp(&b.role));
    assert_eq!(
        (
            entries[0].role.as_str(),
            entries[0].gun.as_str(),
            entries[0].id.as_str()
        ),
        ("root", "", id.as_str())
    );
    assert_eq!(
        (
            entries[1].role.as_str(),
            entries[1].gun.as_str(),
            entries[1].id.as_str()
        ),
        ("targets", "docker.com/notary0.1/samplerepo", id2.as_str())
    );
    let mut pass = Retriever::with_values(
        PassphraseEnv::notary(),
        [("NOTARY_TARGETS_PASSPHRASE", PASS)],
    );
    assert_eq!(store.load(&id2, &mut pass).unwrap().0.id(), key2.id());
}

#[test]
fn export_then_import_keeps_keys_encrypted() {
    let from = tempfile::tempdir().unwrap();
    let to = tempfile::tempdir().unwrap();
    let mut pass = Retriever::with_values(
        PassphraseEnv::notary(),
        [("NOTARY_TARGETS_PASSPHRASE", PASS)],
    );
    let key = PrivateKey::generate(KeyAlgorithm::EcdsaP256).unwrap();
    KeyStore::new(from.path())
        .add(&key, "targets", "example.com/a", &mut pass)
        .unwrap();
    let bundle = KeyStore::new(from.path())
        .export(&ExportFilter::default())
        .unwrap();
    assert!(bundle.contains(&format!("path: {}\n", key.id())));
    // No passphrase is needed to import an export bundle.
    let mut none = Retriever::with_values(PassphraseEnv::notary(), []);
    let imported = KeyStore::new(to.path())
        .import(bundle.as_bytes(), "", "", &mut none)
        .unwrap();
    assert_eq!(imported[0].id, key.id().as_str());
    assert_eq!(imported[0].gun, "example.com/a");
    assert_eq!(
        KeyStore::new(to.path())
            .load(&imported[0].id, &mut pass)
            .unwrap()
            .0
            .id(),
        key.id()
    );
}

#[test]
fn import_accepts_generate_output_without_path_header() {
    let to = tempfile::tempdir().unwrap();
    let mut pass =
        Retriever::with_values(PassphraseEnv::notary(), [("NOTARY_ROOT_PASSPHRASE", PASS)]);
    let store = KeyStore::new(to.path());
    let imported = store
        .import(&read("notary-gen-key.pem"), "", "", &mut pass)
        .unwrap();
    assert_eq!(imported[0].id, public_id("notary-gen.pem"));
    assert_eq!(imported[0].role, "root");
    // Without the passphrase it fails at once with a clear error.
    let mut none = Retriever::with_values(PassphraseEnv::notary(), []);
    let err = KeyStore::new(to.path().join("other"))
        .import(&read("notary-gen-key.pem"), "", "", &mut none)
        .expect_err("no passphrase");
    assert!(matches!(err, KeyError::NoPassphrase { .. }), "{err}");
    // A targets key without a GUN is refused.
    let err = store
        .import(&read("go-rsa-plain.pem").replace_gun(), "", "", &mut pass)
        .expect_err("no gun");
    assert!(err.to_string().contains("needs a GUN"), "{err}");
}

trait ReplaceGun {
    fn replace_gun(self) -> Vec<u8>;
}

impl ReplaceGun for Vec<u8> {
    fn replace_gun(self) -> Vec<u8> {
        String::from_utf8(self)
            .unwrap()
            .replace("gun: example.com/rsa\n", "")
            .into_bytes()
    }
}

/// Found by the `private_key_pem` fuzz target: one changed base64 character in a CRT
/// component of `go-rsa-plain.pem`. *ring* loads it but cannot sign with it; Signet refuses
/// it when reading.
#[test]
fn rsa_key_with_corrupt_crt_is_refused_when_read() {
    let pem = KeyPem::parse(&read("corrupt/rsa-bad-crt.pem")).expect("PEM parses");
    let err = pem.decrypt(None).expect_err("inconsistent key");
    assert!(matches!(err, KeyError::Malformed { .. }), "{err}");
}
