//! Registry token verification (`signet_server::auth`), driven through `TokenAuth::check`
//! with real certificates (rcgen) and real signatures (ring): CA-issued leaves, intermediate
//! chains, the registry's time rules for certificates and claims, key selection by `x5c`
//! and libtrust `kid`, and the algorithm attacks. Every refusal is checked for Notary's 401
//! challenge. The HTTP path is covered by the auth tests in `api.rs`.

use std::time::Duration;

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::IntoResponse as _;
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, PublicKeyData as _, SignatureAlgorithm,
};
use ring::rand::SystemRandom;
use ring::signature as sig;
use serde_json::{Value, json};
use signet_core::UnixTime;
use signet_server::auth::{Access, TokenAuth, libtrust_key_id};
use signet_server::config::TokenOptions;
use signet_server::error::ApiError;

const REALM: &str = "https://auth.example.test/token";
const SERVICE: &str = "signet-test";
const ISSUER: &str = "signet-test-issuer";
const GUN: &str = "example.com/org/app";
/// The test clock (2030-03-17).
const NOW: i64 = 1_900_000_000;
const DAY: i64 = 86_400;

const RSA_CA_KEY: &str = include_str!("data/token-rsa-ca.pk8.pem");
const RSA_LEAF_KEY: &str = include_str!("data/token-rsa-leaf.pk8.pem");

fn now() -> UnixTime {
    UnixTime::from_unix(NOW, 0)
}

fn pull() -> Access {
    Access::Repository {
        gun: GUN.to_owned(),
        actions: &["pull"],
    }
}

// ---------------------------------------------------------------------------------------------
// Keys and certificates
// ---------------------------------------------------------------------------------------------

#[derive(Clone, Copy, Debug, PartialEq)]
enum Kind {
    P256,
    P384,
    Ed25519,
    RsaCa,
    RsaLeaf,
}

struct Key {
    kind: Kind,
    pair: KeyPair,
}

impl Key {
    fn new(kind: Kind) -> Self {
        let alg: &'static SignatureAlgorithm = match kind {
            Kind::P256 => &rcgen::PKCS_ECDSA_P256_SHA256,
            Kind::P384 => &rcgen::PKCS_ECDSA_P384_SHA384,
            Kind::Ed25519 => &rcgen::PKCS_ED25519,
            Kind::RsaCa | Kind::RsaLeaf => &rcgen::PKCS_RSA_SHA256,
        };
        let pair = match kind {
            Kind::RsaCa => KeyPair::from_pem_and_sign_algo(RSA_CA_KEY, alg),
            Kind::RsaLeaf => KeyPair::from_pem_and_sign_algo(RSA_LEAF_KEY, alg),
            _ => KeyPair::generate_for(alg),
        }
        .expect("test key");
        Self { kind, pair }
    }

    /// The JWS algorithm this key signs tokens with by default.
    fn default_alg(&self) -> &'static str {
        match self.kind {
            Kind::P256 => "ES256",
            Kind::P384 => "ES384",
            Kind::Ed25519 => "EdDSA",
            Kind::RsaCa | Kind::RsaLeaf => "RS256",
        }
    }

    fn spki_der(&self) -> Vec<u8> {
        self.pair.subject_public_key_info()
    }

    /// A JWS signature over `input` with `alg`, as a token service makes it.
    fn sign(&self, alg: &str, input: &[u8]) -> Vec<u8> {
        let rng = SystemRandom::new();
        let pkcs8 = self.pair.serialize_der();
        let ecdsa = |a: &'static sig::EcdsaSigningAlgorithm| {
            sig::EcdsaKeyPair::from_pkcs8(a, &pkcs8, &rng)
                .expect("ecdsa key")
                .sign(&rng, input)
                .expect("sign")
                .as_ref()
                .to_vec()
        };
        let rsa = |a: &'static dyn sig::RsaEncoding| {
            let k = sig::RsaKeyPair::from_pkcs8(&pkcs8).expect("rsa key");
            let mut out = vec![0; k.public().modulus_len()];
            k.sign(a, &rng, input, &mut out).expect("sign");
            out
        };
        match alg {
            "ES256" => ecdsa(&sig::ECDSA_P256_SHA256_FIXED_SIGNING),
            "ES384" => ecdsa(&sig::ECDSA_P384_SHA384_FIXED_SIGNING),
            "RS256" => rsa(&sig::RSA_PKCS1_SHA256),
            "RS384" => rsa(&sig::RSA_PKCS1_SHA384),
            "RS512" => rsa(&sig::RSA_PKCS1_SHA512),
            "PS256" => rsa(&sig::RSA_PSS_SHA256),
            "PS384" => rsa(&sig::RSA_PSS_SHA384),
            "PS512" => rsa(&sig::RSA_PSS_SHA512),
            "EdDSA" => sig::Ed25519KeyPair::from_pkcs8_maybe_unchecked(&pkcs8)
                .expect("ed25519 key")
                .sign(input)
                .as_ref()
                .to_vec(),
            other => panic!("no signer for {other}"),
        }
    }
}

/// Certificate options; the defaults are what a token service's CA and leaf look like.
#[derive(Clone)]
struct Spec {
    cn: String,
    not_before: i64,
    not_after: i64,
    ca: Option<Option<u8>>,
    key_usages: Vec<KeyUsagePurpose>,
    ekus: Vec<ExtendedKeyUsagePurpose>,
}

impl Spec {
    fn leaf(cn: &str) -> Self {
        Self {
            cn: cn.to_owned(),
            not_before: NOW - DAY,
            not_after: NOW + 30 * DAY,
            ca: None,
            key_usages: vec![KeyUsagePurpose::DigitalSignature],
            ekus: vec![],
        }
    }

    fn ca(cn: &str) -> Self {
        Self {
            ca: Some(None),
            key_usages: vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign],
            not_after: NOW + 3650 * DAY,
            ..Self::leaf(cn)
        }
    }

    fn valid(mut self, not_before: i64, not_after: i64) -> Self {
        self.not_before = not_before;
        self.not_after = not_after;
        self
    }

    fn params(&self) -> CertificateParams {
        let mut p = CertificateParams::default();
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, self.cn.as_str());
        p.distinguished_name = dn;
        // rcgen takes `time::OffsetDateTime`, reachable without naming the `time` crate.
        let epoch = || rcgen::date_time_ymd(1970, 1, 1);
        let secs = |t: i64| Duration::from_secs(u64::try_from(t).expect("after 1970"));
        p.not_before = epoch() + secs(self.not_before);
        p.not_after = epoch() + secs(self.not_after);
        p.is_ca = match self.ca {
            None => IsCa::ExplicitNoCa,
            Some(None) => IsCa::Ca(BasicConstraints::Unconstrained),
            Some(Some(n)) => IsCa::Ca(BasicConstraints::Constrained(n)),
        };
        p.key_usages = self.key_usages.clone();
        p.extended_key_usages = self.ekus.clone();
        p
    }
}

/// A certificate with its key; able to issue others.
struct Cert {
    key: Key,
    params: CertificateParams,
    der: Vec<u8>,
}

impl Cert {
    fn self_signed(spec: &Spec, kind: Kind) -> Self {
        let key = Key::new(kind);
        let params = spec.params();
        let der = params
            .self_signed(&key.pair)
            .expect("self-signed")
            .der()
            .to_vec();
        Self { key, params, der }
    }

    fn issue(&self, spec: &Spec, kind: Kind) -> Cert {
        let key = Key::new(kind);
        let params = spec.params();
        let issuer = Issuer::from_params(&self.params, &self.key.pair);
        let der = params
            .signed_by(&key.pair, &issuer)
            .expect("issued")
            .der()
            .to_vec();
        Cert { key, params, der }
    }

    fn pem(&self) -> String {
        let b64 = STANDARD.encode(&self.der);
        let lines: Vec<&str> = b64
            .as_bytes()
            .chunks(64)
            .map(|c| std::str::from_utf8(c).expect("ascii"))
            .collect();
        format!(
            "-----BEGIN CERTIFICATE-----\n{}\n-----END CERTIFICATE-----\n",
            lines.join("\n")
        )
    }
}

/// A token authenticator trusting `bundle`.
fn trusting(bundle: &[&Cert]) -> TokenAuth {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("bundle.pem");
    let pem: String = bundle.iter().map(|c| c.pem()).collect();
    std::fs::write(&path, pem).expect("write bundle");
    TokenAuth::load(&TokenOptions {
        realm: REALM.to_owned(),
        service: SERVICE.to_owned(),
        issuer: ISSUER.to_owned(),
        rootcertbundle: path,
    })
    .expect("bundle loads")
}

// ---------------------------------------------------------------------------------------------
// Tokens
// ---------------------------------------------------------------------------------------------

fn claims(actions: &[&str]) -> Value {
    json!({
        "iss": ISSUER,
        "sub": "tester",
        "aud": SERVICE,
        "exp": NOW + 300,
        "nbf": NOW - 10,
        "iat": NOW,
        "jti": "f00d",
        "access": [{"type": "repository", "name": GUN, "actions": actions}],
    })
}

fn x5c(chain: &[&Cert]) -> Value {
    Value::Array(
        chain
            .iter()
            .map(|c| Value::String(STANDARD.encode(&c.der)))
            .collect(),
    )
}

/// `header.claims.signature`, the signature made by `sign` over the first two parts.
#[allow(clippy::disallowed_methods)] // a JWT's JSON, not TUF-signed data
fn mint_with(header: &Value, claims: &Value, sign: impl FnOnce(&[u8]) -> Vec<u8>) -> String {
    let h = URL_SAFE_NO_PAD.encode(serde_json::to_vec(header).expect("json"));
    let c = URL_SAFE_NO_PAD.encode(serde_json::to_vec(claims).expect("json"));
    let input = format!("{h}.{c}");
    let s = URL_SAFE_NO_PAD.encode(sign(input.as_bytes()));
    format!("{input}.{s}")
}

/// A token naming `chain` in `x5c`, signed by `signer` with `alg`.
fn token(chain: &[&Cert], signer: &Key, alg: &str, claims: &Value) -> String {
    let header = json!({"typ": "JWT", "alg": alg, "x5c": x5c(chain)});
    mint_with(&header, claims, |m| signer.sign(alg, m))
}

/// A pull token from `leaf` (and `intermediates`), signed by the leaf's key.
fn pull_token(leaf: &Cert, intermediates: &[&Cert]) -> String {
    let mut chain = vec![leaf];
    chain.extend_from_slice(intermediates);
    token(
        &chain,
        &leaf.key,
        leaf.key.default_alg(),
        &claims(&["pull"]),
    )
}

fn headers(token: &str) -> HeaderMap {
    let mut h = HeaderMap::new();
    h.insert(
        header::AUTHORIZATION,
        HeaderValue::from_str(&format!("Bearer {token}")).expect("header value"),
    );
    h
}

#[track_caller]
fn accepted(auth: &TokenAuth, token: &str, what: &str) {
    if let Err(e) = auth.check(&headers(token), &pull(), now()) {
        panic!("{what}: refused: {e:?}");
    }
}

/// Asserts Notary's 401: status, `WWW-Authenticate` challenge with `error`, and the
/// requested access as the detail.
#[track_caller]
fn assert_401(result: Result<(), ApiError>, error: &str, what: &str) {
    let Err(e) = result else {
        panic!("{what}: accepted");
    };
    let ApiError::Unauthorized { challenge, detail } = &e else {
        panic!("{what}: not a challenge: {e:?}");
    };
    assert_eq!(
        challenge,
        &format!(
            "Bearer realm=\"{REALM}\",service=\"{SERVICE}\",scope=\"repository:{GUN}:pull\",error=\"{error}\""
        ),
        "{what}"
    );
    assert_eq!(
        detail,
        &json!([{"Type": "repository", "Name": GUN, "Action": "pull"}]),
        "{what}"
    );
    let resp = e.into_response();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED, "{what}");
    assert!(
        resp.headers().contains_key(header::WWW_AUTHENTICATE),
        "{what}"
    );
}

#[track_caller]
fn refused(auth: &TokenAuth, token: &str, what: &str) {
    assert_401(
        auth.check(&headers(token), &pull(), now()),
        "invalid_token",
        what,
    );
}

// ---------------------------------------------------------------------------------------------
// CA-issued leaves
// ---------------------------------------------------------------------------------------------

#[test]
fn ca_issued_ecdsa_and_ed25519_leaves_are_accepted() {
    let ca = Cert::self_signed(&Spec::ca("token CA"), Kind::P256);
    let auth = trusting(&[&ca]);
    for kind in [Kind::P256, Kind::P384, Kind::Ed25519] {
        let leaf = ca.issue(&Spec::leaf("token signer"), kind);
        accepted(&auth, &pull_token(&leaf, &[]), &format!("{kind:?} leaf"));
    }
}

#[test]
fn ca_issued_rsa_leaf_is_accepted_with_every_rsa_algorithm() {
    let ca = Cert::self_signed(&Spec::ca("token CA"), Kind::RsaCa);
    let leaf = ca.issue(&Spec::leaf("token signer"), Kind::RsaLeaf);
    let auth = trusting(&[&ca]);
    for alg in ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512"] {
        accepted(
            &auth,
            &token(&[&leaf], &leaf.key, alg, &claims(&["pull"])),
            alg,
        );
    }
    // An ECDSA leaf under the RSA CA, and an RSA leaf under an ECDSA CA.
    accepted(
        &auth,
        &pull_token(&ca.issue(&Spec::leaf("ec signer"), Kind::P256), &[]),
        "P-256 leaf of an RSA CA",
    );
    let ec_ca = Cert::self_signed(&Spec::ca("ec CA"), Kind::P256);
    accepted(
        &trusting(&[&ec_ca]),
        &pull_token(&ec_ca.issue(&Spec::leaf("rsa signer"), Kind::RsaLeaf), &[]),
        "RSA leaf of a P-256 CA",
    );
}

#[test]
fn key_usages_and_extended_key_usages_are_not_checked() {
    // Go's Verify with ExtKeyUsageAny ignores EKUs and keyUsage bits everywhere.
    let ca = Cert::self_signed(
        &Spec {
            key_usages: vec![KeyUsagePurpose::DigitalSignature],
            ekus: vec![ExtendedKeyUsagePurpose::EmailProtection],
            ..Spec::ca("odd CA")
        },
        Kind::P256,
    );
    let leaf = ca.issue(
        &Spec {
            key_usages: vec![KeyUsagePurpose::KeyEncipherment],
            ekus: vec![ExtendedKeyUsagePurpose::ServerAuth],
            ..Spec::leaf("server-auth only")
        },
        Kind::P256,
    );
    accepted(&trusting(&[&ca]), &pull_token(&leaf, &[]), "odd usages");
}

#[test]
fn intermediate_chains_are_accepted_and_checked() {
    let root = Cert::self_signed(&Spec::ca("root"), Kind::P256);
    let inter = root.issue(&Spec::ca("intermediate"), Kind::P384);
    let leaf = inter.issue(&Spec::leaf("signer"), Kind::P256);
    let auth = trusting(&[&root]);
    accepted(&auth, &pull_token(&leaf, &[&inter]), "leaf + intermediate");
    // Intermediates are a pool: order and extra certificates do not matter.
    let unrelated = Cert::self_signed(&Spec::ca("unrelated"), Kind::P256);
    accepted(
        &auth,
        &pull_token(&leaf, &[&unrelated, &inter]),
        "extra certificate in x5c",
    );
    // Two levels.
    let inter2 = inter.issue(&Spec::ca("intermediate 2"), Kind::P256);
    let deep = inter2.issue(&Spec::leaf("deep signer"), Kind::RsaLeaf);
    accepted(&auth, &pull_token(&deep, &[&inter2, &inter]), "two levels");

    refused(&auth, &pull_token(&leaf, &[]), "intermediate missing");
    refused(
        &auth,
        &pull_token(&deep, &[&inter2]),
        "second level missing",
    );
    let expired_inter = root.issue(
        &Spec::ca("intermediate").valid(NOW - 20 * DAY, NOW - DAY),
        Kind::P256,
    );
    let leaf_of_expired = expired_inter.issue(&Spec::leaf("signer"), Kind::P256);
    refused(
        &auth,
        &pull_token(&leaf_of_expired, &[&expired_inter]),
        "expired intermediate",
    );
    let not_ca = root.issue(&Spec::leaf("not a CA"), Kind::P256);
    let leaf_of_not_ca = not_ca.issue(&Spec::leaf("signer"), Kind::P256);
    refused(
        &auth,
        &pull_token(&leaf_of_not_ca, &[&not_ca]),
        "intermediate without cA",
    );
    // The root's own pathLenConstraint counts, as in Go.
    let mut spec = Spec::ca("root, no sub-CAs");
    spec.ca = Some(Some(0));
    let strict_root = Cert::self_signed(&spec, Kind::P256);
    let strict_inter = strict_root.issue(&Spec::ca("intermediate"), Kind::P256);
    let strict_leaf = strict_inter.issue(&Spec::leaf("signer"), Kind::P256);
    let direct_leaf = strict_root.issue(&Spec::leaf("signer"), Kind::P256);
    let strict = trusting(&[&strict_root]);
    refused(
        &strict,
        &pull_token(&strict_leaf, &[&strict_inter]),
        "root pathLen 0 with an intermediate",
    );
    accepted(
        &strict,
        &pull_token(&direct_leaf, &[]),
        "root pathLen 0, direct leaf",
    );
    let mut spec = Spec::ca("intermediate, no sub-CAs");
    spec.ca = Some(Some(0));
    let inter_pl0 = root.issue(&spec, Kind::P256);
    let inter_below = inter_pl0.issue(&Spec::ca("sub"), Kind::P256);
    let leaf_below = inter_below.issue(&Spec::leaf("signer"), Kind::P256);
    refused(
        &auth,
        &pull_token(&leaf_below, &[&inter_below, &inter_pl0]),
        "intermediate pathLen 0 with a sub-CA",
    );
}

// ---------------------------------------------------------------------------------------------
// Certificate time and trust
// ---------------------------------------------------------------------------------------------

#[test]
fn leaf_outside_its_validity_is_refused() {
    let ca = Cert::self_signed(&Spec::ca("token CA"), Kind::P256);
    let auth = trusting(&[&ca]);
    let expired = ca.issue(
        &Spec::leaf("signer").valid(NOW - 30 * DAY, NOW - 1),
        Kind::P256,
    );
    refused(&auth, &pull_token(&expired, &[]), "expired leaf");
    let early = ca.issue(
        &Spec::leaf("signer").valid(NOW + 1, NOW + 30 * DAY),
        Kind::P256,
    );
    refused(&auth, &pull_token(&early, &[]), "leaf not yet valid");
    // Inclusive bounds, to the second.
    let edge = ca.issue(&Spec::leaf("signer").valid(NOW, NOW), Kind::P256);
    accepted(&auth, &pull_token(&edge, &[]), "leaf valid exactly now");
}

#[test]
fn expired_ca_is_refused_and_a_renewed_one_is_used() {
    let ca_spec = Spec::ca("token CA").valid(NOW - 3650 * DAY, NOW - DAY);
    let ca = Cert::self_signed(&ca_spec, Kind::P256);
    let leaf = ca.issue(&Spec::leaf("signer"), Kind::P256);
    refused(&trusting(&[&ca]), &pull_token(&leaf, &[]), "expired CA");
    let future = Cert::self_signed(
        &Spec::ca("token CA").valid(NOW + DAY, NOW + 3650 * DAY),
        Kind::P256,
    );
    let leaf_of_future = future.issue(&Spec::leaf("signer"), Kind::P256);
    refused(
        &trusting(&[&future]),
        &pull_token(&leaf_of_future, &[]),
        "CA not yet valid",
    );
    // The same CA key and name re-issued with a new validity: the valid copy anchors.
    let renewed = Cert {
        der: Spec::ca("token CA")
            .params()
            .self_signed(&ca.key.pair)
            .expect("renewed")
            .der()
            .to_vec(),
        key: Key {
            kind: Kind::P256,
            pair: KeyPair::try_from(ca.key.pair.serialize_der().as_slice()).expect("same key"),
        },
        params: Spec::ca("token CA").params(),
    };
    accepted(
        &trusting(&[&ca, &renewed]),
        &pull_token(&leaf, &[]),
        "expired and renewed CA in the bundle",
    );
}

#[test]
fn leaf_of_a_ca_not_in_the_bundle_is_refused() {
    let trusted = Cert::self_signed(&Spec::ca("trusted CA"), Kind::P256);
    let other = Cert::self_signed(&Spec::ca("other CA"), Kind::P256);
    let leaf = other.issue(&Spec::leaf("signer"), Kind::P256);
    let auth = trusting(&[&trusted]);
    refused(&auth, &pull_token(&leaf, &[]), "wrong CA");
    refused(
        &auth,
        &pull_token(&leaf, &[&other]),
        "wrong CA sent along as an intermediate",
    );
    let rsa_other = Cert::self_signed(&Spec::ca("other RSA CA"), Kind::RsaCa);
    refused(
        &auth,
        &pull_token(&rsa_other.issue(&Spec::leaf("signer"), Kind::RsaLeaf), &[]),
        "RSA leaf of a CA not in the bundle",
    );
}

#[test]
fn chain_that_does_not_verify_is_refused() {
    let ca = Cert::self_signed(&Spec::ca("token CA"), Kind::P256);
    let auth = trusting(&[&ca]);
    // A CA with the trusted CA's name but another key: the issuer matches, the signature
    // does not.
    let impostor = Cert::self_signed(&Spec::ca("token CA"), Kind::P256);
    let forged = impostor.issue(&Spec::leaf("signer"), Kind::P256);
    refused(
        &auth,
        &pull_token(&forged, &[]),
        "leaf signed by a same-name CA",
    );
    refused(
        &auth,
        &pull_token(&forged, &[&impostor]),
        "same-name CA sent along",
    );
    // A genuine leaf with its signature bit-flipped.
    let leaf = ca.issue(&Spec::leaf("signer"), Kind::P256);
    let mut tampered = Cert {
        der: leaf.der.clone(),
        key: Key {
            kind: Kind::P256,
            pair: KeyPair::try_from(leaf.key.pair.serialize_der().as_slice()).expect("same key"),
        },
        params: Spec::leaf("signer").params(),
    };
    let last = tampered.der.len() - 1;
    tampered.der[last] ^= 1;
    refused(
        &auth,
        &pull_token(&tampered, &[]),
        "tampered leaf signature",
    );
    // x5c entries that are not certificates.
    let claims = claims(&["pull"]);
    for (what, chain) in [
        ("x5c not base64", json!(["%%%"])),
        (
            "x5c not DER",
            json!([STANDARD.encode(b"not a certificate")]),
        ),
        ("x5c not strings", json!([1, 2])),
        (
            "x5c intermediate garbage",
            json!([STANDARD.encode(&leaf.der), "%%%"]),
        ),
    ] {
        let header = json!({"alg": "ES256", "x5c": chain});
        refused(
            &auth,
            &mint_with(&header, &claims, |m| leaf.key.sign("ES256", m)),
            what,
        );
    }
}

#[test]
fn bundle_certificate_as_leaf_is_trusted_directly() {
    // Go: a leaf that is in the root pool is a chain by itself, CA or not, issued by
    // anyone; only its validity window applies.
    let self_signed = Cert::self_signed(&Spec::leaf("token issuer"), Kind::P256);
    let outside_ca = Cert::self_signed(&Spec::ca("unlisted CA"), Kind::P256);
    let issued = outside_ca.issue(&Spec::leaf("pinned signer"), Kind::RsaLeaf);
    let ca_as_leaf = Cert::self_signed(&Spec::ca("CA used as signer"), Kind::P384);
    let expired = Cert::self_signed(
        &Spec::leaf("old issuer").valid(NOW - 30 * DAY, NOW - 1),
        Kind::P256,
    );
    let auth = trusting(&[&self_signed, &issued, &ca_as_leaf, &expired]);
    accepted(
        &auth,
        &pull_token(&self_signed, &[]),
        "self-signed bundle leaf",
    );
    accepted(
        &auth,
        &pull_token(&issued, &[]),
        "bundle leaf of an unlisted CA",
    );
    accepted(&auth, &pull_token(&ca_as_leaf, &[]), "bundle CA as leaf");
    refused(&auth, &pull_token(&expired, &[]), "expired bundle leaf");
}

// ---------------------------------------------------------------------------------------------
// Signatures and algorithms
// ---------------------------------------------------------------------------------------------

#[test]
#[allow(clippy::disallowed_methods)] // a JWT's JSON, not TUF-signed data
fn token_signed_by_another_key_than_the_leaf_is_refused() {
    let ca = Cert::self_signed(&Spec::ca("token CA"), Kind::P256);
    let leaf = ca.issue(&Spec::leaf("signer"), Kind::P256);
    let auth = trusting(&[&ca]);
    let claims = claims(&["pull"]);
    let stranger = Key::new(Kind::P256);
    refused(
        &auth,
        &token(&[&leaf], &stranger, "ES256", &claims),
        "stranger key",
    );
    refused(
        &auth,
        &token(&[&leaf], &ca.key, "ES256", &claims),
        "the CA's key",
    );
    let other_leaf = ca.issue(&Spec::leaf("signer 2"), Kind::P256);
    refused(
        &auth,
        &token(&[&leaf], &other_leaf.key, "ES256", &claims),
        "a sibling leaf's key",
    );
    // Claims swapped after signing.
    let good = pull_token(&leaf, &[]);
    let mut parts: Vec<String> = good.split('.').map(str::to_owned).collect();
    let mut more = claims;
    more["access"][0]["actions"] = json!(["*"]);
    parts[1] = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&more).expect("json"));
    refused(&auth, &parts.join("."), "claims swapped after signing");
}

#[test]
fn alg_none_hmac_and_mismatched_algorithms_are_refused() {
    let ca = Cert::self_signed(&Spec::ca("token CA"), Kind::P256);
    let leaf = ca.issue(&Spec::leaf("signer"), Kind::P256);
    let rsa_leaf = ca.issue(&Spec::leaf("rsa signer"), Kind::RsaLeaf);
    let auth = trusting(&[&ca]);
    let claims = claims(&["pull"]);
    let x5c_header = |alg: &str| json!({"typ": "JWT", "alg": alg, "x5c": x5c(&[&leaf])});

    refused(
        &auth,
        &mint_with(&x5c_header("none"), &claims, |_| vec![]),
        "alg none, empty signature",
    );
    refused(
        &auth,
        &mint_with(&x5c_header("none"), &claims, |m| leaf.key.sign("ES256", m)),
        "alg none with a signature",
    );
    refused(
        &auth,
        &mint_with(&x5c_header("NONE"), &claims, |_| vec![]),
        "alg NONE",
    );
    // HMAC keyed with everything public about the leaf.
    let public_pem = leaf.key.pair.public_key_pem();
    let secrets: [(&str, Vec<u8>); 4] = [
        ("SPKI DER", leaf.key.spki_der()),
        ("certificate DER", leaf.der.clone()),
        ("public key PEM", public_pem.into_bytes()),
        ("certificate PEM", leaf.pem().into_bytes()),
    ];
    for (what, secret) in &secrets {
        for (alg, hmac_alg) in [
            ("HS256", ring::hmac::HMAC_SHA256),
            ("HS384", ring::hmac::HMAC_SHA384),
            ("HS512", ring::hmac::HMAC_SHA512),
        ] {
            let key = ring::hmac::Key::new(hmac_alg, secret);
            refused(
                &auth,
                &mint_with(&x5c_header(alg), &claims, |m| {
                    ring::hmac::sign(&key, m).as_ref().to_vec()
                }),
                &format!("{alg} keyed with the leaf's {what}"),
            );
        }
    }
    let kid = libtrust_key_id(&ca.key.spki_der());
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &ca.key.spki_der());
    refused(
        &auth,
        &mint_with(&json!({"alg": "HS256", "kid": kid}), &claims, |m| {
            ring::hmac::sign(&key, m).as_ref().to_vec()
        }),
        "HS256 by kid keyed with the CA's SPKI",
    );
    // The algorithm must fit the leaf's key.
    refused(
        &auth,
        &mint_with(&x5c_header("ES384"), &claims, |m| leaf.key.sign("ES256", m)),
        "ES384 header on a P-256 signature",
    );
    let rsa_header = |alg: &str| json!({"alg": alg, "x5c": x5c(&[&rsa_leaf])});
    refused(
        &auth,
        &mint_with(&rsa_header("ES256"), &claims, |m| {
            rsa_leaf.key.sign("RS256", m)
        }),
        "ES256 header on an RSA leaf",
    );
    refused(
        &auth,
        &mint_with(&rsa_header("PS256"), &claims, |m| {
            rsa_leaf.key.sign("RS256", m)
        }),
        "PS256 header on a PKCS#1 v1.5 signature",
    );
    refused(
        &auth,
        &mint_with(&x5c_header("RS256"), &claims, |m| {
            rsa_leaf.key.sign("RS256", m)
        }),
        "RS256 header on an EC leaf",
    );
    refused(
        &auth,
        &mint_with(&x5c_header("ES512"), &claims, |m| leaf.key.sign("ES256", m)),
        "ES512",
    );
    // Not a JWS in compact form.
    let good = pull_token(&leaf, &[]);
    for (what, t) in [
        ("empty", String::new()),
        ("garbage", "not.a.jwt".to_owned()),
        (
            "two parts",
            good.rsplit_once('.').expect("dots").0.to_owned(),
        ),
        ("four parts", format!("{good}.x")),
        ("padded signature", format!("{good}=")),
    ] {
        refused(&auth, &t, what);
    }
    let crit = json!({"alg": "ES256", "x5c": x5c(&[&leaf]), "crit": ["exp"], "exp": 1});
    refused(
        &auth,
        &mint_with(&crit, &claims, |m| leaf.key.sign("ES256", m)),
        "unknown crit header",
    );
}

// ---------------------------------------------------------------------------------------------
// Key selection by kid
// ---------------------------------------------------------------------------------------------

#[test]
fn libtrust_kid_names_a_bundle_key() {
    let ca = Cert::self_signed(&Spec::ca("token CA"), Kind::P256);
    let rsa_ca = Cert::self_signed(&Spec::ca("rsa CA"), Kind::RsaCa);
    let leaf = ca.issue(&Spec::leaf("signer"), Kind::P256);
    let auth = trusting(&[&ca, &rsa_ca]);
    let claims = claims(&["pull"]);
    let by_kid = |key: &Key, kid: &str, alg: &str| {
        mint_with(&json!({"alg": alg, "kid": kid}), &claims, |m| {
            key.sign(alg, m)
        })
    };
    let ca_kid = libtrust_key_id(&ca.key.spki_der());
    accepted(
        &auth,
        &by_kid(&ca.key, &ca_kid, "ES256"),
        "kid of the EC CA",
    );
    let rsa_kid = libtrust_key_id(&rsa_ca.key.spki_der());
    accepted(
        &auth,
        &by_kid(&rsa_ca.key, &rsa_kid, "PS384"),
        "kid of the RSA CA",
    );
    refused(
        &auth,
        &by_kid(&leaf.key, &ca_kid, "ES256"),
        "kid of the CA, leaf's signature",
    );
    let leaf_kid = libtrust_key_id(&leaf.key.spki_der());
    refused(
        &auth,
        &by_kid(&leaf.key, &leaf_kid, "ES256"),
        "kid of a key not in the bundle",
    );
    refused(&auth, &by_kid(&ca.key, "ABCD:EFGH", "ES256"), "unknown kid");
    // x5c wins over kid, as in the registry.
    let both = json!({"alg": "ES256", "kid": ca_kid, "x5c": x5c(&[&leaf])});
    refused(
        &auth,
        &mint_with(&both, &claims, |m| ca.key.sign("ES256", m)),
        "kid of the CA but x5c of the leaf, CA's signature",
    );
    accepted(
        &auth,
        &mint_with(&both, &claims, |m| leaf.key.sign("ES256", m)),
        "kid of the CA but x5c of the leaf, leaf's signature",
    );
    // An empty x5c is no x5c (the registry checks len(x5c) > 0).
    let empty = json!({"alg": "ES256", "kid": ca_kid, "x5c": []});
    accepted(
        &auth,
        &mint_with(&empty, &claims, |m| ca.key.sign("ES256", m)),
        "empty x5c falls back to kid",
    );
    // An inline jwk is not supported, even next to a good kid.
    let jwk = json!({"alg": "ES256", "kid": ca_kid,
        "jwk": {"kty": "EC", "crv": "P-256", "x": "AA", "y": "AA"}});
    refused(
        &auth,
        &mint_with(&jwk, &claims, |m| ca.key.sign("ES256", m)),
        "jwk header",
    );
    refused(
        &auth,
        &mint_with(&json!({"alg": "ES256"}), &claims, |m| {
            ca.key.sign("ES256", m)
        }),
        "neither x5c nor kid",
    );
}

// ---------------------------------------------------------------------------------------------
// Claims
// ---------------------------------------------------------------------------------------------

#[test]
fn claims_are_checked_against_issuer_service_and_clock() {
    let ca = Cert::self_signed(&Spec::ca("token CA"), Kind::P256);
    let leaf = ca.issue(&Spec::leaf("signer"), Kind::P256);
    let auth = trusting(&[&ca]);
    let with = |field: &str, value: Value| {
        let mut c = claims(&["pull"]);
        c[field] = value;
        token(&[&leaf], &leaf.key, "ES256", &c)
    };
    let without = |field: &str| {
        let mut c = claims(&["pull"]);
        c.as_object_mut().expect("object").remove(field);
        token(&[&leaf], &leaf.key, "ES256", &c)
    };
    refused(&auth, &with("iss", json!("someone else")), "wrong issuer");
    refused(&auth, &with("iss", json!([ISSUER])), "issuer as a list");
    refused(&auth, &without("iss"), "no issuer");
    refused(
        &auth,
        &with("aud", json!("other-service")),
        "wrong audience",
    );
    refused(
        &auth,
        &with("aud", json!(["a", "b"])),
        "audience list without us",
    );
    accepted(
        &auth,
        &with("aud", json!(["a", SERVICE])),
        "audience list with us",
    );
    refused(&auth, &without("aud"), "no audience");
    refused(
        &auth,
        &with("exp", json!(NOW - 61)),
        "expired beyond leeway",
    );
    accepted(
        &auth,
        &with("exp", json!(NOW - 60)),
        "expired within leeway",
    );
    refused(&auth, &without("exp"), "no exp");
    refused(
        &auth,
        &with("exp", json!(format!("{}", NOW + 300))),
        "exp as a string",
    );
    refused(&auth, &with("exp", json!(null)), "exp null");
    refused(
        &auth,
        &with("nbf", json!(NOW + 61)),
        "not yet valid beyond leeway",
    );
    accepted(
        &auth,
        &with("nbf", json!(NOW + 60)),
        "not yet valid within leeway",
    );
    accepted(&auth, &without("nbf"), "no nbf");
    refused(
        &auth,
        &with("nbf", json!(format!("{}", NOW + 3600))),
        "nbf as a string",
    );
    accepted(&auth, &with("exp", json!(i64::MAX)), "exp at i64::MAX");
    // The clock passed in decides.
    let good = pull_token(&leaf, &[]);
    assert_401(
        auth.check(&headers(&good), &pull(), UnixTime::from_unix(NOW + 361, 0)),
        "invalid_token",
        "good token, later clock",
    );
    assert!(
        auth.check(&headers(&good), &pull(), UnixTime::from_unix(NOW + 359, 0))
            .is_ok()
    );
}

#[test]
fn missing_scope_is_insufficient_scope() {
    let ca = Cert::self_signed(&Spec::ca("token CA"), Kind::P256);
    let leaf = ca.issue(&Spec::leaf("signer"), Kind::P256);
    let auth = trusting(&[&ca]);
    let with_access = |access: Value| {
        let mut c = claims(&["pull"]);
        c["access"] = access;
        token(&[&leaf], &leaf.key, "ES256", &c)
    };
    for (what, access) in [
        ("no access", json!([])),
        (
            "another repository",
            json!([{"type": "repository", "name": "example.com/other", "actions": ["*"]}]),
        ),
        (
            "push only",
            json!([{"type": "repository", "name": GUN, "actions": ["push"]}]),
        ),
        (
            "catalog",
            json!([{"type": "registry", "name": "catalog", "actions": ["*"]}]),
        ),
    ] {
        assert_401(
            auth.check(&headers(&with_access(access)), &pull(), now()),
            "insufficient_scope",
            what,
        );
    }
    let mut no_access = claims(&["pull"]);
    no_access.as_object_mut().expect("object").remove("access");
    assert_401(
        auth.check(
            &headers(&token(&[&leaf], &leaf.key, "ES256", &no_access)),
            &pull(),
            now(),
        ),
        "insufficient_scope",
        "access claim absent",
    );
}

#[test]
fn bundle_must_hold_certificates() {
    let dir = tempfile::tempdir().expect("temp dir");
    let opts = |name: &str, contents: &[u8]| {
        let path = dir.path().join(name);
        std::fs::write(&path, contents).expect("write");
        TokenOptions {
            realm: REALM.to_owned(),
            service: SERVICE.to_owned(),
            issuer: ISSUER.to_owned(),
            rootcertbundle: path,
        }
    };
    let key_only = Key::new(Kind::P256).pair.serialize_pem();
    for (what, contents) in [
        ("empty", Vec::new()),
        ("a private key only", key_only.into_bytes()),
        (
            "a broken certificate",
            b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n".to_vec(),
        ),
    ] {
        assert!(
            TokenAuth::load(&opts("bundle.pem", &contents)).is_err(),
            "{what}"
        );
    }
}

#[test]
fn gun_cannot_add_parameters_to_the_challenge() {
    let ca = Cert::self_signed(&Spec::ca("token CA"), Kind::P256);
    let auth = trusting(&[&ca]);
    // A GUN from the request path that tries to end the scope and add its own realm.
    let gun = "example.com/app\",realm=\"https://evil.example/token\\";
    let access = Access::Repository {
        gun: gun.to_owned(),
        actions: &["pull"],
    };
    let Err(ApiError::Unauthorized { challenge, .. }) =
        auth.check(&HeaderMap::new(), &access, now())
    else {
        panic!("expected a challenge");
    };
    assert_eq!(
        challenge,
        format!(
            "Bearer realm=\"{REALM}\",service=\"{SERVICE}\",scope=\"repository:example.com/app\\\",realm=\\\"https://evil.example/token\\\\:pull\""
        )
    );
    // Parsed as a client would, the challenge has exactly one realm: ours.
    let realms = challenge_params(&challenge)
        .into_iter()
        .filter(|(k, _)| k == "realm")
        .collect::<Vec<_>>();
    assert_eq!(realms, vec![("realm".to_owned(), REALM.to_owned())]);
}

/// Splits `Bearer k="v",k="v"` into unescaped pairs (RFC 9110 quoted-string rules).
fn challenge_params(challenge: &str) -> Vec<(String, String)> {
    let mut rest = challenge.strip_prefix("Bearer ").expect("bearer").chars();
    let mut out = Vec::new();
    loop {
        let key: String = rest.by_ref().take_while(|c| *c != '=').collect();
        if key.is_empty() {
            return out;
        }
        assert_eq!(rest.next(), Some('"'), "value of {key} is quoted");
        let mut value = String::new();
        while let Some(c) = rest.next() {
            match c {
                '\\' => value.push(rest.next().expect("escaped char")),
                '"' => break,
                c => value.push(c),
            }
        }
        out.push((key.trim_start_matches(',').to_owned(), value));
        match rest.next() {
            Some(',') | None => {}
            Some(c) => panic!("unexpected {c:?} after a value"),
        }
        if rest.clone().next().is_none() {
            return out;
        }
    }
}
