//! Keys on a real SoftHSM2 token (a fresh one per test, made by `softhsm2-util`; each test
//! runs in a child process that has the token's `SOFTHSM2_CONF`).

use signet_core::key::KeyMaterial;
use signet_core::{KeyType, RingVerifier, Verifier as _};
use signet_pkcs11::{Token, TokenAlgorithm, TokenError, TokenSpec};
use signet_test_support::softhsm::{self, USER_PIN};
use zeroize::Zeroizing;

fn open(label: &str, pin: &str) -> Result<Token, TokenError> {
    Token::open(&TokenSpec {
        module: softhsm::module(),
        token_label: label.to_owned(),
        pin: Zeroizing::new(pin.to_owned()),
    })
}

#[test]
fn keys_are_generated_found_by_label_and_sign_as_tuf_expects() {
    softhsm::run_with_token(
        "keys_are_generated_found_by_label_and_sign_as_tuf_expects",
        |label| {
            let token = open(label, USER_PIN).expect("open the token");
            let message = br#"{"_type":"Targets","version":1}"#;
            for (algorithm, keytype, method) in [
                (TokenAlgorithm::EcdsaP256, KeyType::Ecdsa, "ecdsa"),
                (TokenAlgorithm::Ed25519, KeyType::Ed25519, "eddsa"),
                (TokenAlgorithm::Rsa, KeyType::Rsa, "rsapss"),
            ] {
                let usage = format!("test\0{method}").into_bytes();
                let key = token.generate(algorithm, &usage).expect("generate");
                assert_eq!(key.public.keytype(), &keytype);
                assert_eq!(algorithm.method(), method);
                assert!(token.keeps_private(&key).expect("attributes"), "{method}");

                // Found again by its label, the TUF key ID.
                let found = token.find(key.key_id()).expect("find").expect("present");
                assert_eq!(found.public, key.public);
                assert_eq!(found.usage, usage);

                // Raw r‖s (or Ed25519) that TUF verification accepts.
                let sig = token.sign(&found, message).expect("sign");
                if algorithm == TokenAlgorithm::Rsa {
                    // PKIX DER as Go's x509.MarshalPKIXPublicKey writes a 2048-bit key
                    // with exponent 65537, which signet-core reads back.
                    assert_eq!(key.public.public_bytes().len(), 294);
                    assert!(matches!(
                        key.public.material(),
                        KeyMaterial::Rsa { bits: 2048, .. }
                    ));
                    assert_eq!(sig.len(), 256);
                    // PSS is randomised: two signatures differ, both verify.
                    let again = token.sign(&found, message).expect("sign");
                    assert_ne!(sig, again);
                    RingVerifier
                        .verify(&key.public, method, message, &again)
                        .expect("the second signature verifies");
                } else {
                    assert_eq!(sig.len(), 64);
                }
                RingVerifier
                    .verify(&key.public, method, message, &sig)
                    .expect("the signature verifies");
                assert!(
                    RingVerifier
                        .verify(&key.public, method, b"another message", &sig)
                        .is_err()
                );
            }
            let listed = token.keys().expect("list");
            assert_eq!(listed.len(), 3, "{listed:?}");

            // Deleted keys are gone from the token.
            let id = listed[0].key_id().to_owned();
            assert!(token.delete(&id).expect("delete"));
            assert!(token.find(&id).expect("find").is_none());
            assert!(!token.delete(&id).expect("delete again"));
            assert_eq!(token.keys().expect("list").len(), 2);
        },
    );
}

#[test]
fn a_wrong_pin_or_token_label_is_refused() {
    softhsm::run_with_token("a_wrong_pin_or_token_label_is_refused", |label| {
        match open(label, "not the pin") {
            Err(TokenError::Login { label: l, .. }) => assert_eq!(l, label),
            other => panic!("expected a login error, got {other:?}"),
        }
        match open("no-such-token", USER_PIN) {
            Err(TokenError::NoToken { label: l, present }) => {
                assert_eq!(l, "no-such-token");
                assert!(present.contains(label), "{present}");
            }
            other => panic!("expected NoToken, got {other:?}"),
        }
    });
}
