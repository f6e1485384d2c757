//! Signet's keys on a PKCS#11 token: an HSM (CloudHSM, nShield, a YubiHSM…) or SoftHSM2.
//!
//! A key is generated on the token and never leaves it: the private half is `CKA_TOKEN`,
//! `CKA_PRIVATE`, `CKA_SENSITIVE` and not `CKA_EXTRACTABLE`, and it only signs. Each key
//! pair is found by its label, `CKA_LABEL` = the TUF key ID (hex SHA-256 of the canonical
//! public key), set on both halves once the public key is known; `CKA_ID` carries what the
//! caller says the key is for (its *usage*, e.g. `signet-signer\0<role>\0<gun>`), which a
//! database cannot change.
//!
//! Signatures are what TUF and notary expect: ECDSA P-256 as raw `r‖s` (`CKM_ECDSA` over the
//! SHA-256 digest computed here), Ed25519 with `CKM_EDDSA` over the whole message, RSA as
//! notary's `rsapss` (`CKM_SHA256_RSA_PKCS_PSS`: SHA-256, MGF1-SHA-256, 32-byte salt). An
//! RSA key's TUF public key is its PKIX SubjectPublicKeyInfo DER, as notary encodes it.
//!
//! The library is loaded once per [`Token`]; PKCS#11 calls are blocking (callers on an async
//! runtime run them off the workers). Sessions are pooled: one stays open for the life of
//! the [`Token`] to hold the user login, the others are opened on demand and reused.
//!
//! ```no_run
//! # fn run() -> Result<(), signet_pkcs11::TokenError> {
//! use signet_pkcs11::{Token, TokenAlgorithm, TokenSpec};
//!
//! let token = Token::open(&TokenSpec {
//!     module: "/usr/lib/softhsm/libsofthsm2.so".into(),
//!     token_label: "signet".to_owned(),
//!     pin: zeroize::Zeroizing::new("1234".to_owned()),
//! })?;
//! let key = token.generate(TokenAlgorithm::EcdsaP256, b"example")?;
//! let signature = token.sign(&key, b"{\"signed\":{}}")?;
//! assert_eq!(signature.len(), 64);
//! # Ok(()) }
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]

use std::fmt;
use std::path::PathBuf;
use std::sync::{Mutex, PoisonError};

use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::error::{Error as CkError, RvError};
use cryptoki::mechanism::eddsa::{EddsaParams, EddsaSignatureScheme};
use cryptoki::mechanism::rsa::{PkcsMgfType, PkcsPssParams};
use cryptoki::mechanism::{Mechanism, MechanismType};
use cryptoki::object::{Attribute, AttributeType, KeyType as CkKeyType, ObjectClass, ObjectHandle};
use cryptoki::session::{Session, SessionState, UserType};
use cryptoki::slot::Slot;
use cryptoki::types::AuthPin;
use signet_core::{KeyType, PublicKey};
use zeroize::Zeroizing;

/// DER of the OID of NIST P-256 (`prime256v1`), the `CKA_EC_PARAMS` of ECDSA keys.
const P256_PARAMS: &[u8] = &[0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];
/// DER of the printable string `edwards25519`, the `CKA_EC_PARAMS` of Ed25519 keys (PKCS#11
/// 3.0 §2.3.10).
const ED25519_PARAMS: &[u8] = &[
    0x13, 0x0c, b'e', b'd', b'w', b'a', b'r', b'd', b's', b'2', b'5', b'5', b'1', b'9',
];
/// The modulus size of the RSA keys signet generates (notary's `MinRSABitSize`).
pub const RSA_BITS: u64 = 2048;
/// The public exponent of the RSA keys signet generates (65537).
const RSA_EXPONENT: &[u8] = &[0x01, 0x00, 0x01];
/// DER `AlgorithmIdentifier { rsaEncryption, NULL }`, as Go's `x509.MarshalPKIXPublicKey`
/// writes it.
const RSA_ALGORITHM_ID: &[u8] = &[
    0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01, 0x05, 0x00,
];
/// The DER SubjectPublicKeyInfo of a P-256 key up to its 65-byte uncompressed point.
const P256_SPKI_PREFIX: &[u8] = &[
    0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08, 0x2a,
    0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00,
];

/// Where the token is and how to log in.
pub struct TokenSpec {
    /// The PKCS#11 module (shared library), e.g. `/usr/lib/softhsm/libsofthsm2.so`.
    pub module: PathBuf,
    /// The token's label (`CKA_LABEL` of the token, as `softhsm2-util --show-slots` lists it).
    pub token_label: String,
    /// The user PIN.
    pub pin: Zeroizing<String>,
}

impl fmt::Debug for TokenSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenSpec")
            .field("module", &self.module)
            .field("token_label", &self.token_label)
            .finish_non_exhaustive()
    }
}

/// A key type a token key can have.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum TokenAlgorithm {
    /// ECDSA on NIST P-256; signatures raw `r‖s` over SHA-256 (TUF method `ecdsa`).
    EcdsaP256,
    /// Ed25519 (TUF method `eddsa`).
    Ed25519,
    /// RSA ([`RSA_BITS`] bits when generated here, 2048–8192 when found); RSASSA-PSS with
    /// SHA-256 (TUF method `rsapss`, notary's; the TUF specification calls it
    /// `rsassa-pss-sha256`).
    Rsa,
}

impl TokenAlgorithm {
    /// The TUF signature method.
    pub fn method(self) -> &'static str {
        match self {
            Self::EcdsaP256 => "ecdsa",
            Self::Ed25519 => "eddsa",
            Self::Rsa => "rsapss",
        }
    }

    /// The TUF key type (`ecdsa`, `ed25519`, `rsa`).
    pub fn key_type(self) -> KeyType {
        match self {
            Self::EcdsaP256 => KeyType::Ecdsa,
            Self::Ed25519 => KeyType::Ed25519,
            Self::Rsa => KeyType::Rsa,
        }
    }
}

/// Why a token operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TokenError {
    /// The module cannot be loaded or initialised.
    #[error("cannot load the PKCS#11 module {module}: {reason}")]
    Module {
        /// The module path.
        module: PathBuf,
        /// Why.
        reason: String,
    },
    /// No token with this label in any slot.
    #[error("no PKCS#11 token labelled {label:?} (tokens present: {present})")]
    NoToken {
        /// The label asked for.
        label: String,
        /// The labels present, comma-separated.
        present: String,
    },
    /// The PIN was refused.
    #[error("the PIN of token {label:?} was refused: {reason}")]
    Login {
        /// The token.
        label: String,
        /// The token's answer.
        reason: String,
    },
    /// A PKCS#11 call failed.
    #[error("PKCS#11 {operation} failed: {reason}")]
    Call {
        /// What was being done.
        operation: &'static str,
        /// The token's answer.
        reason: String,
    },
    /// The token holds something that is not a key signet can use.
    #[error("token key {label}: {reason}")]
    Unusable {
        /// The key's label.
        label: String,
        /// What is wrong.
        reason: &'static str,
    },
}

fn call(operation: &'static str) -> impl FnOnce(CkError) -> TokenError {
    move |e| TokenError::Call {
        operation,
        reason: e.to_string(),
    }
}

/// A key pair on the token.
#[derive(Clone, Debug)]
pub struct TokenKey {
    /// The public key (its ID is the pair's label).
    pub public: PublicKey,
    /// The key type.
    pub algorithm: TokenAlgorithm,
    /// What the key was generated for (`CKA_ID`).
    pub usage: Vec<u8>,
    private: ObjectHandle,
}

impl TokenKey {
    /// The TUF key ID, which is also the label on the token.
    pub fn key_id(&self) -> &str {
        self.public.id().as_str()
    }

    /// An RSA key's modulus size in bytes (its signatures' length); 0 for other keys.
    fn modulus_bytes(&self) -> usize {
        match self.public.material() {
            signet_core::key::KeyMaterial::Rsa { bits, .. } => bits.div_ceil(8),
            _ => 0,
        }
    }
}

/// An open token, logged in as the user.
pub struct Token {
    pkcs11: Pkcs11,
    slot: Slot,
    label: String,
    /// Holds the login for as long as the token is open (PKCS#11 logs out when an
    /// application's last session closes); also used for calls.
    login: Mutex<Session>,
    /// Further sessions, opened on demand and reused.
    pool: Mutex<Vec<Session>>,
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Token")
            .field("label", &self.label)
            .finish_non_exhaustive()
    }
}

impl Token {
    /// Loads the module, finds the token labelled `spec.token_label` and logs in.
    ///
    /// # Errors
    ///
    /// [`TokenError::Module`], [`TokenError::NoToken`], [`TokenError::Login`].
    pub fn open(spec: &TokenSpec) -> Result<Self, TokenError> {
        let module_err = |reason: String| TokenError::Module {
            module: spec.module.clone(),
            reason,
        };
        let pkcs11 = Pkcs11::new(&spec.module).map_err(|e| module_err(e.to_string()))?;
        match pkcs11.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK)) {
            Ok(()) | Err(CkError::Pkcs11(RvError::CryptokiAlreadyInitialized, _)) => {}
            Err(e) => return Err(module_err(e.to_string())),
        }
        let mut present = Vec::new();
        let mut found = None;
        for slot in pkcs11
            .get_slots_with_initialized_token()
            .map_err(call("listing slots"))?
        {
            let info = pkcs11
                .get_token_info(slot)
                .map_err(call("reading token info"))?;
            let label = info.label().trim_end().to_owned();
            if label == spec.token_label {
                found = Some(slot);
                break;
            }
            present.push(label);
        }
        let slot = found.ok_or_else(|| TokenError::NoToken {
            label: spec.token_label.clone(),
            present: present.join(", "),
        })?;
        let session = pkcs11
            .open_rw_session(slot)
            .map_err(call("opening a session"))?;
        let pin = AuthPin::from(spec.pin.as_str());
        match session.login(UserType::User, Some(&pin)) {
            Ok(()) | Err(CkError::Pkcs11(RvError::UserAlreadyLoggedIn, _)) => {}
            Err(e) => {
                return Err(TokenError::Login {
                    label: spec.token_label.clone(),
                    reason: e.to_string(),
                });
            }
        }
        Ok(Self {
            pkcs11,
            slot,
            label: spec.token_label.clone(),
            login: Mutex::new(session),
            pool: Mutex::new(Vec::new()),
        })
    }

    /// The token's label.
    pub fn label(&self) -> &str {
        &self.label
    }

    /// Whether the token still answers as it did at [`Token::open`]: present in its slot,
    /// the login session open and logged in as the user, its objects readable. For health
    /// checks; blocking like every call here.
    ///
    /// # Errors
    ///
    /// [`TokenError::Call`] naming what failed, or [`TokenError::Login`] when the session
    /// is no longer logged in.
    pub fn probe(&self) -> Result<(), TokenError> {
        let info = self
            .pkcs11
            .get_token_info(self.slot)
            .map_err(call("reading token info"))?;
        if info.label().trim_end() != self.label {
            return Err(TokenError::NoToken {
                label: self.label.clone(),
                present: info.label().trim_end().to_owned(),
            });
        }
        let session = self.login.lock().unwrap_or_else(PoisonError::into_inner);
        let state = session
            .get_session_info()
            .map_err(call("reading the session"))?
            .session_state();
        if state != SessionState::RwUser {
            return Err(TokenError::Login {
                label: self.label.clone(),
                reason: format!("the session is no longer logged in ({state:?})"),
            });
        }
        // One object lookup: a token whose store is gone fails here.
        let mut found = session
            .iter_objects(&[Attribute::Class(ObjectClass::PRIVATE_KEY)])
            .map_err(call("finding objects"))?;
        if let Some(Err(e)) = found.next() {
            return Err(call("finding objects")(e));
        }
        Ok(())
    }

    /// Runs `f` with a session of the pool (or a new one).
    fn with_session<T>(
        &self,
        f: impl FnOnce(&Session) -> Result<T, TokenError>,
    ) -> Result<T, TokenError> {
        // The login session serves when it is free; otherwise one from the pool.
        if let Ok(session) = self.login.try_lock() {
            return f(&session);
        }
        let pooled = self
            .pool
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop();
        let session = match pooled {
            Some(s) => s,
            None => self
                .pkcs11
                .open_rw_session(self.slot)
                .map_err(call("opening a session"))?,
        };
        let result = f(&session);
        self.pool
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(session);
        result
    }

    /// Generates a key pair of `algorithm` on the token, labelled with its TUF key ID, with
    /// `usage` as `CKA_ID`. The private half cannot be read or exported.
    ///
    /// # Errors
    ///
    /// [`TokenError::Call`] (the token cannot make such a key, or is full).
    pub fn generate(
        &self,
        algorithm: TokenAlgorithm,
        usage: &[u8],
    ) -> Result<TokenKey, TokenError> {
        // A label no other key has until the key ID is known.
        let pending = format!("signet-pending-{}", random_hex()?).into_bytes();
        let (mechanism, key_type, shape) = match algorithm {
            TokenAlgorithm::EcdsaP256 => (
                Mechanism::EccKeyPairGen,
                CkKeyType::EC,
                Attribute::EcParams(P256_PARAMS.to_vec()),
            ),
            TokenAlgorithm::Ed25519 => (
                Mechanism::EccEdwardsKeyPairGen,
                CkKeyType::EC_EDWARDS,
                Attribute::EcParams(ED25519_PARAMS.to_vec()),
            ),
            TokenAlgorithm::Rsa => (
                Mechanism::RsaPkcsKeyPairGen,
                CkKeyType::RSA,
                Attribute::ModulusBits(RSA_BITS.into()),
            ),
        };
        self.with_session(|s| {
            let mut public_template = vec![
                Attribute::Token(true),
                Attribute::Private(false),
                Attribute::Verify(true),
                Attribute::KeyType(key_type),
                shape.clone(),
                Attribute::Label(pending.clone()),
                Attribute::Id(usage.to_vec()),
            ];
            if algorithm == TokenAlgorithm::Rsa {
                public_template.push(Attribute::PublicExponent(RSA_EXPONENT.to_vec()));
            }
            let private_template = [
                Attribute::Token(true),
                Attribute::Private(true),
                Attribute::Sensitive(true),
                Attribute::Extractable(false),
                Attribute::Sign(true),
                Attribute::KeyType(key_type),
                Attribute::Label(pending.clone()),
                Attribute::Id(usage.to_vec()),
            ];
            let (public, private) = s
                .generate_key_pair(&mechanism, &public_template, &private_template)
                .map_err(call("generating a key pair"))?;
            let key = read_public(s, public, algorithm, &String::from_utf8_lossy(&pending))?;
            let label = key.id().as_str().as_bytes().to_vec();
            for handle in [public, private] {
                s.update_attributes(handle, &[Attribute::Label(label.clone())])
                    .map_err(call("labelling a key"))?;
            }
            Ok(TokenKey {
                public: key,
                algorithm,
                usage: usage.to_vec(),
                private,
            })
        })
    }

    /// The key pair labelled `key_id`, if the token holds it.
    ///
    /// # Errors
    ///
    /// [`TokenError::Call`], or [`TokenError::Unusable`] for a pair signet cannot use
    /// (another key type, a public key that does not match its label).
    pub fn find(&self, key_id: &str) -> Result<Option<TokenKey>, TokenError> {
        self.with_session(|s| {
            let label = key_id.as_bytes().to_vec();
            let private = s
                .find_objects(&[
                    Attribute::Class(ObjectClass::PRIVATE_KEY),
                    Attribute::Label(label.clone()),
                ])
                .map_err(call("finding a private key"))?;
            let Some(&private) = private.first() else {
                return Ok(None);
            };
            let public = s
                .find_objects(&[
                    Attribute::Class(ObjectClass::PUBLIC_KEY),
                    Attribute::Label(label),
                ])
                .map_err(call("finding a public key"))?;
            let Some(&public) = public.first() else {
                return Err(TokenError::Unusable {
                    label: key_id.to_owned(),
                    reason: "no public key with the label",
                });
            };
            Ok(Some(load(s, key_id, private, public)?))
        })
    }

    /// Every key pair on the token labelled with a TUF key ID (64 hex digits).
    ///
    /// # Errors
    ///
    /// [`TokenError::Call`].
    pub fn keys(&self) -> Result<Vec<TokenKey>, TokenError> {
        let labels = self.with_session(|s| {
            let handles = s
                .find_objects(&[Attribute::Class(ObjectClass::PRIVATE_KEY)])
                .map_err(call("listing keys"))?;
            let mut labels = Vec::new();
            for h in handles {
                let attrs = s
                    .get_attributes(h, &[AttributeType::Label])
                    .map_err(call("reading a key label"))?;
                for a in attrs {
                    if let Attribute::Label(l) = a
                        && let Ok(l) = String::from_utf8(l)
                        && l.len() == 64
                        && l.bytes().all(|b| b.is_ascii_hexdigit())
                    {
                        labels.push(l);
                    }
                }
            }
            Ok(labels)
        })?;
        let mut keys = Vec::new();
        for label in labels {
            // Pairs signet cannot use are skipped (another tool's keys).
            if let Ok(Some(k)) = self.find(&label) {
                keys.push(k);
            }
        }
        Ok(keys)
    }

    /// Signs `message` with `key`: ECDSA P-256 over its SHA-256 digest (raw `r‖s`, 64
    /// bytes), Ed25519 over the message, or RSASSA-PSS (SHA-256, MGF1-SHA-256, 32-byte salt;
    /// as many bytes as the modulus).
    ///
    /// # Errors
    ///
    /// [`TokenError::Call`].
    pub fn sign(&self, key: &TokenKey, message: &[u8]) -> Result<Vec<u8>, TokenError> {
        let signature = self.with_session(|s| match key.algorithm {
            TokenAlgorithm::EcdsaP256 => {
                let digest = ring::digest::digest(&ring::digest::SHA256, message);
                s.sign(&Mechanism::Ecdsa, key.private, digest.as_ref())
                    .map_err(call("signing"))
            }
            TokenAlgorithm::Ed25519 => s
                .sign(
                    &Mechanism::Eddsa(EddsaParams::new(EddsaSignatureScheme::Pure)),
                    key.private,
                    message,
                )
                .map_err(call("signing")),
            TokenAlgorithm::Rsa => s
                .sign(
                    &Mechanism::Sha256RsaPkcsPss(PkcsPssParams {
                        hash_alg: MechanismType::SHA256,
                        mgf: PkcsMgfType::MGF1_SHA256,
                        s_len: 32_u64.into(),
                    }),
                    key.private,
                    message,
                )
                .map_err(call("signing")),
        })?;
        let expected = match key.algorithm {
            TokenAlgorithm::EcdsaP256 | TokenAlgorithm::Ed25519 => 64,
            TokenAlgorithm::Rsa => key.modulus_bytes(),
        };
        if signature.len() != expected {
            return Err(TokenError::Unusable {
                label: key.key_id().to_owned(),
                reason: "the token returned a signature of the wrong length",
            });
        }
        Ok(signature)
    }

    /// Whether the token keeps `key`'s private half in: sensitive, never extractable, never
    /// extractable in its history (`CKA_SENSITIVE`, not `CKA_EXTRACTABLE`,
    /// `CKA_NEVER_EXTRACTABLE`).
    ///
    /// # Errors
    ///
    /// [`TokenError::Call`].
    pub fn keeps_private(&self, key: &TokenKey) -> Result<bool, TokenError> {
        self.with_session(|s| {
            let attrs = s
                .get_attributes(
                    key.private,
                    &[
                        AttributeType::Sensitive,
                        AttributeType::Extractable,
                        AttributeType::NeverExtractable,
                    ],
                )
                .map_err(call("reading a private key"))?;
            let (mut sensitive, mut extractable, mut never) = (false, true, false);
            for a in attrs {
                match a {
                    Attribute::Sensitive(v) => sensitive = v,
                    Attribute::Extractable(v) => extractable = v,
                    Attribute::NeverExtractable(v) => never = v,
                    _ => {}
                }
            }
            Ok(sensitive && !extractable && never)
        })
    }

    /// Destroys the key pair labelled `key_id`; whether there was one.
    ///
    /// # Errors
    ///
    /// [`TokenError::Call`].
    pub fn delete(&self, key_id: &str) -> Result<bool, TokenError> {
        self.with_session(|s| {
            let handles = s
                .find_objects(&[Attribute::Label(key_id.as_bytes().to_vec())])
                .map_err(call("finding a key"))?;
            let found = !handles.is_empty();
            for h in handles {
                s.destroy_object(h).map_err(call("destroying a key"))?;
            }
            Ok(found)
        })
    }
}

/// A key pair from its two halves; the public key's ID must be the label.
fn load(
    s: &Session,
    label: &str,
    private: ObjectHandle,
    public: ObjectHandle,
) -> Result<TokenKey, TokenError> {
    let unusable = |reason| TokenError::Unusable {
        label: label.to_owned(),
        reason,
    };
    let attrs = s
        .get_attributes(private, &[AttributeType::KeyType, AttributeType::Id])
        .map_err(call("reading a private key"))?;
    let mut key_type = None;
    let mut usage = Vec::new();
    for a in attrs {
        match a {
            Attribute::KeyType(t) => key_type = Some(t),
            Attribute::Id(id) => usage = id,
            _ => {}
        }
    }
    let algorithm = match key_type {
        Some(t) if t == CkKeyType::EC => TokenAlgorithm::EcdsaP256,
        Some(t) if t == CkKeyType::EC_EDWARDS => TokenAlgorithm::Ed25519,
        Some(t) if t == CkKeyType::RSA => TokenAlgorithm::Rsa,
        _ => return Err(unusable("not an EC, Ed25519 or RSA key")),
    };
    let key = read_public(s, public, algorithm, label)?;
    if key.id().as_str() != label {
        return Err(unusable("the public key's ID is not the label"));
    }
    Ok(TokenKey {
        public: key,
        algorithm,
        usage,
        private,
    })
}

/// The TUF public key of a public-key object: a P-256 key's SubjectPublicKeyInfo DER
/// (`ecdsa`), or an Ed25519 key's 32 bytes (`ed25519`).
fn read_public(
    s: &Session,
    public: ObjectHandle,
    algorithm: TokenAlgorithm,
    label: &str,
) -> Result<PublicKey, TokenError> {
    let unusable = |reason| TokenError::Unusable {
        label: label.to_owned(),
        reason,
    };
    if algorithm == TokenAlgorithm::Rsa {
        return read_rsa_public(s, public, label);
    }
    let attrs = s
        .get_attributes(public, &[AttributeType::EcPoint, AttributeType::EcParams])
        .map_err(call("reading a public key"))?;
    let mut point = None;
    let mut params = None;
    for a in attrs {
        match a {
            Attribute::EcPoint(p) => point = Some(p),
            Attribute::EcParams(p) => params = Some(p),
            _ => {}
        }
    }
    let raw = point.ok_or_else(|| unusable("no EC point"))?;
    let point = match algorithm {
        TokenAlgorithm::Ed25519 => unwrap_octet_string(&raw, 32),
        _ => unwrap_octet_string(&raw, 65),
    };
    match algorithm {
        TokenAlgorithm::EcdsaP256 => {
            if params.as_deref() != Some(P256_PARAMS) {
                return Err(unusable("not a P-256 key"));
            }
            if point.len() != 65 || point[0] != 0x04 {
                return Err(unusable("not an uncompressed P-256 point"));
            }
            let mut spki = P256_SPKI_PREFIX.to_vec();
            spki.extend_from_slice(&point);
            Ok(PublicKey::new(KeyType::Ecdsa, spki))
        }
        TokenAlgorithm::Ed25519 => {
            if point.len() != 32 {
                return Err(unusable("not a 32-byte Ed25519 key"));
            }
            Ok(PublicKey::new(KeyType::Ed25519, point))
        }
        TokenAlgorithm::Rsa => Err(unusable("not an EC key")),
    }
}

/// The TUF public key of an RSA public-key object: the PKIX SubjectPublicKeyInfo DER of its
/// modulus and exponent (`rsa`), as Go's `x509.MarshalPKIXPublicKey` writes it.
fn read_rsa_public(
    s: &Session,
    public: ObjectHandle,
    label: &str,
) -> Result<PublicKey, TokenError> {
    let unusable = |reason| TokenError::Unusable {
        label: label.to_owned(),
        reason,
    };
    let attrs = s
        .get_attributes(
            public,
            &[AttributeType::Modulus, AttributeType::PublicExponent],
        )
        .map_err(call("reading a public key"))?;
    let (mut modulus, mut exponent) = (None, None);
    for a in attrs {
        match a {
            Attribute::Modulus(m) => modulus = Some(m),
            Attribute::PublicExponent(e) => exponent = Some(e),
            _ => {}
        }
    }
    let modulus = modulus.ok_or_else(|| unusable("no RSA modulus"))?;
    let exponent = exponent.ok_or_else(|| unusable("no RSA public exponent"))?;
    let bits = significant_bits(&modulus);
    if !(2048..=8192).contains(&bits) {
        return Err(unusable("the RSA modulus is not 2048 to 8192 bits"));
    }
    Ok(PublicKey::new(KeyType::Rsa, rsa_spki(&modulus, &exponent)))
}

/// Bits of a big-endian unsigned integer, leading zeros not counted.
fn significant_bits(n: &[u8]) -> usize {
    let n = strip_zeros(n);
    match n.first() {
        None => 0,
        Some(b) => (n.len() - 1) * 8 + (8 - b.leading_zeros() as usize),
    }
}

fn strip_zeros(n: &[u8]) -> &[u8] {
    let zeros = n.iter().take_while(|b| **b == 0).count();
    &n[zeros..]
}

/// DER: `tag`, the definite length of `body`, `body`.
fn der(tag: u8, body: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let len = body.len();
    if len < 0x80 {
        out.push(u8::try_from(len).unwrap_or(0));
    } else {
        let bytes: Vec<u8> = len
            .to_be_bytes()
            .into_iter()
            .skip_while(|b| *b == 0)
            .collect();
        out.push(0x80 | u8::try_from(bytes.len()).unwrap_or(0));
        out.extend(bytes);
    }
    out.extend_from_slice(body);
    out
}

/// DER INTEGER of a big-endian unsigned integer.
fn der_uint(n: &[u8]) -> Vec<u8> {
    let n = strip_zeros(n);
    let mut body = Vec::with_capacity(n.len() + 1);
    if n.first().is_none_or(|b| b & 0x80 != 0) {
        body.push(0);
    }
    body.extend_from_slice(n);
    der(0x02, &body)
}

/// `SubjectPublicKeyInfo { {rsaEncryption, NULL}, BIT STRING RSAPublicKey { n, e } }`.
fn rsa_spki(modulus: &[u8], exponent: &[u8]) -> Vec<u8> {
    let mut key = der_uint(modulus);
    key.extend(der_uint(exponent));
    let key = der(0x30, &key);
    let mut bits = vec![0];
    bits.extend(key);
    let mut spki = RSA_ALGORITHM_ID.to_vec();
    spki.extend(der(0x03, &bits));
    der(0x30, &spki)
}

/// `CKA_EC_POINT` is a DER OCTET STRING holding the point (PKCS#11 2.40); some modules
/// return the bare point. Both are accepted for a point of `len` bytes (< 128).
fn unwrap_octet_string(raw: &[u8], len: usize) -> Vec<u8> {
    match raw {
        [0x04, l, rest @ ..] if usize::from(*l) == len && rest.len() == len => rest.to_vec(),
        _ => raw.to_vec(),
    }
}

fn random_hex() -> Result<String, TokenError> {
    use ring::rand::SecureRandom as _;
    let mut bytes = [0_u8; 8];
    ring::rand::SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| TokenError::Call {
            operation: "drawing random bytes",
            reason: "the system random source failed".to_owned(),
        })?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}
