//! Private-key PEM files as notary 0.7 and the docker CLI read and write them (spec §6.2).
//!
//! Written: `ENCRYPTED PRIVATE KEY`, PKCS#8 `EncryptedPrivateKeyInfo` with PBES2, PBKDF2
//! (HMAC-SHA1, the DER default, so no PRF field; 8-byte salt; 2048 iterations) and
//! AES-256-CBC, around notary's own `PrivateKeyInfo` shapes; headers `gun:` and `role:`,
//! sorted, as Go's `pem.Encode` writes them.
//!
//! Read: that; unencrypted `PRIVATE KEY`; and the legacy `EC PRIVATE KEY`, `RSA PRIVATE KEY`
//! and `ED25519 PRIVATE KEY` blocks, plain or RFC 1423-encrypted (`Proc-Type: 4,ENCRYPTED`,
//! `DEK-Info: AES-{128,192,256}-CBC,<iv>`), as notary still reads them outside FIPS mode.

use aes::cipher::{BlockModeDecrypt as _, KeyIvInit as _, block_padding::Pkcs7};
use md5::Digest as _;
use ring::rand::{SecureRandom as _, SystemRandom};
use signet_core::encoding::{PemBlock, pem_decode_all, pem_encode};
use zeroize::{Zeroize as _, Zeroizing};

use super::{KeyError, PrivateKey};

/// PBKDF2 iterations notary writes.
pub const NOTARY_PBKDF2_ITERATIONS: u32 = 2048;
/// PBKDF2 salt length notary writes.
pub const NOTARY_SALT_LEN: usize = 8;
/// The most PBKDF2 iterations Signet will run for one decryption attempt, so that a hostile
/// key file cannot stall the process (notary writes 2048; OpenSSL's default is 2048).
pub const MAX_PBKDF2_ITERATIONS: u32 = 10_000_000;

/// How the key inside a PEM block is stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum KeyEncoding {
    /// `ENCRYPTED PRIVATE KEY` (PKCS#8 PBES2).
    EncryptedPkcs8,
    /// `PRIVATE KEY` (unencrypted PKCS#8).
    Pkcs8,
    /// `EC PRIVATE KEY`, `RSA PRIVATE KEY` or `ED25519 PRIVATE KEY`, with RFC 1423
    /// encryption when `encrypted`.
    Legacy {
        /// Whether `Proc-Type: 4,ENCRYPTED` is set.
        encrypted: bool,
    },
}

/// One private-key PEM block and its headers. The body is wiped on drop.
#[derive(Clone)]
pub struct KeyPem {
    block: PemBlock,
    encoding: KeyEncoding,
}

impl core::fmt::Debug for KeyPem {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("KeyPem")
            .field("label", &self.block.label)
            .field("headers", &self.block.headers)
            .finish_non_exhaustive()
    }
}

impl Drop for KeyPem {
    fn drop(&mut self) {
        self.block.contents.zeroize();
    }
}

impl KeyPem {
    /// The first PEM block of `bytes`, as Go's `pem.Decode` takes it; the type must be one
    /// notary reads.
    pub fn parse(bytes: &[u8]) -> Result<Self, KeyError> {
        Self::parse_all(bytes)?
            .into_iter()
            .next()
            .ok_or(KeyError::NoPem { file: None })
    }

    /// Every PEM block of `bytes` (an export bundle holds several).
    pub fn parse_all(bytes: &[u8]) -> Result<Vec<Self>, KeyError> {
        let blocks = pem_decode_all(bytes).ok_or(KeyError::NoPem { file: None })?;
        blocks
            .into_iter()
            .map(|mut block| {
                let encoding = match block.label.as_str() {
                    "ENCRYPTED PRIVATE KEY" => KeyEncoding::EncryptedPkcs8,
                    "PRIVATE KEY" => KeyEncoding::Pkcs8,
                    "EC PRIVATE KEY" | "RSA PRIVATE KEY" | "ED25519 PRIVATE KEY" => {
                        KeyEncoding::Legacy {
                            encrypted: block
                                .headers
                                .iter()
                                .any(|(k, v)| k == "Proc-Type" && v.contains("ENCRYPTED")),
                        }
                    }
                    _ => {
                        block.contents.zeroize();
                        return Err(KeyError::UnsupportedPemType {
                            label: block.label.clone(),
                            file: None,
                        });
                    }
                };
                Ok(Self { block, encoding })
            })
            .collect()
    }

    /// Encrypts `key` as notary does, with `role` and `gun` headers (each only if not empty).
    pub fn encrypt(
        key: &PrivateKey,
        role: &str,
        gun: &str,
        passphrase: &str,
    ) -> Result<Self, KeyError> {
        if passphrase.is_empty() {
            return Err(KeyError::Invalid(
                "refusing to store a private key without a passphrase".to_owned(),
            ));
        }
        let plain = key.notary_pkcs8_der();
        let rng = SystemRandom::new();
        let mut salt = [0u8; NOTARY_SALT_LEN];
        let mut iv = [0u8; 16];
        rng.fill(&mut salt)
            .and_then(|()| rng.fill(&mut iv))
            .map_err(|_| KeyError::Generate("salt and IV".to_owned()))?;
        let params = pkcs5::pbes2::Parameters {
            kdf: pkcs5::pbes2::Kdf::Pbkdf2(pkcs5::pbes2::Pbkdf2Params {
                salt: pkcs5::pbes2::Salt::new(salt)
                    .map_err(|e| KeyError::Generate(e.to_string()))?,
                iteration_count: NOTARY_PBKDF2_ITERATIONS,
                key_length: None,
                prf: pkcs5::pbes2::Pbkdf2Prf::HmacWithSha1,
            }),
            encryption: pkcs5::pbes2::EncryptionScheme::Aes256Cbc { iv },
        };
        let encrypted = params
            .encrypt(passphrase.as_bytes(), &plain)
            .map_err(|e| KeyError::Generate(format!("encrypting the key: {e}")))?;
        let info = pkcs8::EncryptedPrivateKeyInfo {
            encryption_algorithm: pkcs5::EncryptionScheme::Pbes2(params),
            encrypted_data: ::der::asn1::OctetString::new(encrypted)
                .map_err(|e| KeyError::Generate(e.to_string()))?,
        };
        let der = ::der::Encode::to_der(&info)
            .map_err(|e| KeyError::Generate(format!("encoding the key: {e}")))?;
        let mut headers = Vec::new();
        if !gun.is_empty() {
            headers.push(("gun".to_owned(), gun.to_owned()));
        }
        if !role.is_empty() {
            headers.push(("role".to_owned(), role.to_owned()));
        }
        Ok(Self {
            block: PemBlock {
                label: "ENCRYPTED PRIVATE KEY".to_owned(),
                headers,
                contents: der,
            },
            encoding: KeyEncoding::EncryptedPkcs8,
        })
    }

    /// How the key is stored.
    pub fn encoding(&self) -> KeyEncoding {
        self.encoding
    }

    /// The PEM type label.
    pub fn label(&self) -> &str {
        &self.block.label
    }

    /// Whether a passphrase is needed to read the key.
    pub fn is_encrypted(&self) -> bool {
        matches!(
            self.encoding,
            KeyEncoding::EncryptedPkcs8 | KeyEncoding::Legacy { encrypted: true }
        )
    }

    /// A header's value (Go keeps the last of duplicates).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.block
            .headers
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The `role` header, or empty.
    pub fn role(&self) -> &str {
        self.header("role").unwrap_or_default()
    }

    /// The `gun` header, or empty.
    pub fn gun(&self) -> &str {
        self.header("gun").unwrap_or_default()
    }

    /// Sets (or, with an empty value, removes) a header.
    pub fn set_header(&mut self, name: &str, value: &str) {
        self.block.headers.retain(|(k, _)| k != name);
        if !value.is_empty() {
            self.block.headers.push((name.to_owned(), value.to_owned()));
        }
    }

    /// The block as Go's `pem.Encode` writes it (headers sorted, 64-column lines).
    pub fn to_pem(&self) -> Zeroizing<String> {
        Zeroizing::new(pem_encode(&self.block))
    }

    /// Decrypts (or, for an unencrypted block, just reads) the key. `passphrase` is ignored
    /// for unencrypted blocks; an encrypted one without a passphrase is
    /// [`KeyError::WrongPassphrase`].
    pub fn decrypt(&self, passphrase: Option<&str>) -> Result<PrivateKey, KeyError> {
        let wrong = || KeyError::WrongPassphrase {
            key: self.header("path").unwrap_or("in the PEM block").to_owned(),
        };
        match self.encoding {
            KeyEncoding::Pkcs8 => PrivateKey::from_pkcs8_der(&self.block.contents),
            KeyEncoding::EncryptedPkcs8 => {
                let passphrase = passphrase.ok_or_else(wrong)?;
                let plain = decrypt_pkcs8(&self.block.contents, passphrase)?;
                // A wrong passphrase almost always fails the padding check; the rest of the
                // time it yields garbage that is not a key.
                let plain = plain.ok_or_else(wrong)?;
                PrivateKey::from_pkcs8_der(&plain).map_err(|_| wrong())
            }
            KeyEncoding::Legacy { encrypted } => {
                let der = if encrypted {
                    let passphrase = passphrase.ok_or_else(wrong)?;
                    decrypt_rfc1423(&self.block, passphrase)?.ok_or_else(wrong)?
                } else {
                    Zeroizing::new(self.block.contents.clone())
                };
                let parsed = match self.block.label.as_str() {
                    "EC PRIVATE KEY" => PrivateKey::from_sec1_der(&der),
                    "RSA PRIVATE KEY" => PrivateKey::from_pkcs1_der(&der),
                    _ => PrivateKey::from_ed25519_blob(&der),
                };
                if encrypted {
                    parsed.map_err(|_| wrong())
                } else {
                    parsed
                }
            }
        }
    }
}

/// PBES2 decryption; `Ok(None)` when the passphrase is wrong (bad padding).
fn decrypt_pkcs8(der: &[u8], passphrase: &str) -> Result<Option<Zeroizing<Vec<u8>>>, KeyError> {
    let info = pkcs8::EncryptedPrivateKeyInfoRef::try_from(der)
        .map_err(|e| KeyError::malformed(format!("encrypted private key: {e}")))?;
    let pkcs5::EncryptionScheme::Pbes2(params) = &info.encryption_algorithm else {
        return Err(KeyError::UnsupportedEncryption {
            reason: "only PBES2 is supported".to_owned(),
        });
    };
    let Some(kdf) = params.kdf.pbkdf2() else {
        return Err(KeyError::UnsupportedEncryption {
            reason: "only PBKDF2 is supported".to_owned(),
        });
    };
    if kdf.iteration_count > MAX_PBKDF2_ITERATIONS || kdf.iteration_count == 0 {
        return Err(KeyError::UnsupportedEncryption {
            reason: format!(
                "PBKDF2 iteration count {} outside 1..={MAX_PBKDF2_ITERATIONS}",
                kdf.iteration_count
            ),
        });
    }
    if !matches!(
        params.encryption,
        pkcs5::pbes2::EncryptionScheme::Aes128Cbc { .. }
            | pkcs5::pbes2::EncryptionScheme::Aes192Cbc { .. }
            | pkcs5::pbes2::EncryptionScheme::Aes256Cbc { .. }
    ) {
        return Err(KeyError::UnsupportedEncryption {
            reason: "only AES-CBC is supported".to_owned(),
        });
    }
    match params.decrypt(passphrase.as_bytes(), info.encrypted_data.as_bytes()) {
        Ok(plain) => Ok(Some(Zeroizing::new(plain))),
        Err(pkcs5::Error::DecryptFailed) => Ok(None),
        Err(e) => Err(KeyError::UnsupportedEncryption {
            reason: e.to_string(),
        }),
    }
}

/// RFC 1423 decryption as Go's `x509.DecryptPEMBlock`: key = OpenSSL `EVP_BytesToKey`
/// (MD5, one iteration, salt = first 8 bytes of the IV); `Ok(None)` on bad padding.
fn decrypt_rfc1423(
    block: &PemBlock,
    passphrase: &str,
) -> Result<Option<Zeroizing<Vec<u8>>>, KeyError> {
    let dek = block
        .headers
        .iter()
        .find(|(k, _)| k == "DEK-Info")
        .map(|(_, v)| v.as_str())
        .ok_or_else(|| KeyError::malformed("encrypted PEM block without DEK-Info"))?;
    let (cipher, iv_hex) = dek
        .split_once(',')
        .ok_or_else(|| KeyError::malformed("malformed DEK-Info"))?;
    let key_len = match cipher.trim() {
        "AES-128-CBC" => 16,
        "AES-192-CBC" => 24,
        "AES-256-CBC" => 32,
        other => {
            return Err(KeyError::UnsupportedEncryption {
                reason: format!("legacy PEM cipher {other}"),
            });
        }
    };
    let iv = decode_hex(iv_hex.trim())
        .filter(|iv| iv.len() == 16)
        .ok_or_else(|| KeyError::malformed("malformed DEK-Info IV"))?;
    if block.contents.is_empty() || !block.contents.len().is_multiple_of(16) {
        return Err(KeyError::malformed(
            "encrypted PEM block is not a whole number of blocks",
        ));
    }
    let mut key = Zeroizing::new(Vec::with_capacity(48));
    let mut prev: Vec<u8> = Vec::new();
    while key.len() < key_len {
        let mut h = md5::Md5::new();
        h.update(&prev);
        h.update(passphrase.as_bytes());
        h.update(&iv[..8]);
        prev = h.finalize().to_vec();
        key.extend_from_slice(&prev);
    }
    prev.zeroize();
    key.truncate(key_len);
    let mut buf = Zeroizing::new(block.contents.clone());
    let plain_len = match key_len {
        16 => cbc::Decryptor::<aes::Aes128>::new_from_slices(&key, &iv)
            .map_err(|_| KeyError::malformed("legacy PEM key setup"))?
            .decrypt_padded::<Pkcs7>(&mut buf)
            .map(<[u8]>::len),
        24 => cbc::Decryptor::<aes::Aes192>::new_from_slices(&key, &iv)
            .map_err(|_| KeyError::malformed("legacy PEM key setup"))?
            .decrypt_padded::<Pkcs7>(&mut buf)
            .map(<[u8]>::len),
        _ => cbc::Decryptor::<aes::Aes256>::new_from_slices(&key, &iv)
            .map_err(|_| KeyError::malformed("legacy PEM key setup"))?
            .decrypt_padded::<Pkcs7>(&mut buf)
            .map(<[u8]>::len),
    };
    match plain_len {
        Ok(n) => {
            buf.truncate(n);
            Ok(Some(buf))
        }
        Err(_) => Ok(None),
    }
}

fn decode_hex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}
