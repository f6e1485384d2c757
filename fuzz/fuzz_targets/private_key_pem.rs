//! Private-key PEM files (`signet_client::keys::KeyPem`), as notary, docker and OpenSSL write
//! them: parsing any bytes never panics; a block that decrypts (with the fixed passphrase
//! the seeds use) to a key re-encrypts in notary's format, reads back to the same key ID,
//! and signs verifiably.
#![no_main]

use libfuzzer_sys::fuzz_target;
use signet_client::keys::{KeyPem, Signer as _};
use signet_core::{RingVerifier, Verifier as _};

const PASS: &str = "vectorpass";

fuzz_target!(|data: &[u8]| {
    let Ok(blocks) = KeyPem::parse_all(data) else {
        return;
    };
    for pem in blocks {
        let (role, gun) = (pem.role().to_owned(), pem.gun().to_owned());
        let encrypted = pem.is_encrypted();
        let Ok(key) = pem.decrypt(Some(PASS)) else {
            continue;
        };
        if !encrypted {
            // An unencrypted block reads the same with or without a passphrase.
            let again = pem.decrypt(None).expect("unencrypted block reads without passphrase");
            assert_eq!(again.id(), key.id());
        }
        let written = KeyPem::encrypt(&key, &role, &gun, PASS).expect("re-encrypts");
        let text = written.to_pem();
        let back = KeyPem::parse(text.as_bytes()).expect("written PEM parses");
        assert_eq!(back.role(), role);
        assert_eq!(back.gun(), gun);
        assert!(back.is_encrypted());
        let back = back.decrypt(Some(PASS)).expect("written key decrypts");
        assert_eq!(back.id(), key.id());
        let sig = key.sign(b"payload").expect("signs");
        RingVerifier
            .verify(key.public(), key.method(), b"payload", &sig)
            .expect("signature verifies");
    }
});
