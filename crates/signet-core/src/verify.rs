//! Signature thresholds and the key rings roles are checked against.

use std::collections::BTreeSet;

use crate::crypto::Verifier;
use crate::error::VerifyError;
use crate::key::{KeyId, KeyRing, PublicKey};
use crate::metadata::{Role, RoleName, Root, Signed, Targets};
use crate::time::UnixTime;

/// Counts the distinct keys of `ring` with a valid signature on `doc` and requires at
/// least `ring.threshold`.
///
/// "Distinct" means distinct public keys: a key listed twice (say as a certificate and as
/// a bare key) counts once. Signatures by keys outside the ring are ignored. A ring key
/// listed under an ID other than its own is a hard error, as in Notary.
pub fn verify_threshold<T: Role>(
    doc: &Signed<T>,
    role: &RoleName,
    ring: &KeyRing<'_>,
    verifier: &dyn Verifier,
) -> Result<usize, VerifyError> {
    if ring.threshold < 1 {
        return Err(VerifyError::Structure {
            role: role.clone(),
            reason: "threshold must be at least 1".to_owned(),
        });
    }
    let mut signers: BTreeSet<&KeyId> = BTreeSet::new();
    for sig in &doc.signatures {
        let Some((listed, key)) = ring.keys.iter().find(|(id, _)| **id == sig.keyid) else {
            continue;
        };
        if key.id() != *listed {
            return Err(VerifyError::KeyIdMismatch {
                role: role.clone(),
                listed: (*listed).clone(),
                actual: key.id().clone(),
            });
        }
        if verifier
            .verify(key, &sig.method, doc.canonical(), &sig.sig.0)
            .is_ok()
        {
            signers.insert(key.canonical_id());
        }
    }
    let valid = signers.len();
    if i64::try_from(valid).unwrap_or(i64::MAX) < ring.threshold {
        return Err(VerifyError::ThresholdNotMet {
            role: role.clone(),
            threshold: ring.threshold,
            valid,
        });
    }
    Ok(valid)
}

/// Fails if `doc` is expired at `now`.
pub fn check_expiry<T: Role>(
    doc: &Signed<T>,
    role: &RoleName,
    now: UnixTime,
) -> Result<(), VerifyError> {
    if doc.expires().is_expired(now) {
        return Err(VerifyError::Expired {
            role: role.clone(),
            expires: doc.expires().instant(),
        });
    }
    Ok(())
}

/// Root's structural rules: all four base roles present, thresholds ≥ 1, every listed key
/// present and stored under its own ID.
pub fn check_root_structure(root: &Root) -> Result<(), VerifyError> {
    let err = |reason: String| VerifyError::Structure {
        role: RoleName::root(),
        reason,
    };
    for name in ["root", "targets", "snapshot", "timestamp"] {
        let keys = root
            .roles
            .get(name)
            .ok_or_else(|| err(format!("missing {name} role")))?;
        if keys.threshold < 1 {
            return Err(err(format!("{name} threshold must be at least 1")));
        }
        if keys.keyids.is_empty() {
            return Err(err(format!("{name} role lists no keys")));
        }
        for id in &keys.keyids {
            let key = root
                .keys
                .get(id)
                .ok_or_else(|| err(format!("{name} role key {id} is not in keys")))?;
            if key.id() != id {
                return Err(err(format!("key {id} has ID {}", key.id())));
            }
        }
    }
    Ok(())
}

/// The ring root defines for a base role (`targets`, `snapshot`, `timestamp`, or `root`
/// taken at face value, without certificate rules).
pub fn base_role_ring<'a>(root: &'a Root, role: &str) -> Result<KeyRing<'a>, VerifyError> {
    let name = RoleName::parse(role).map_err(|e| VerifyError::Structure {
        role: RoleName::root(),
        reason: e.to_string(),
    })?;
    let keys = root.roles.get(role).ok_or_else(|| VerifyError::Structure {
        role: name.clone(),
        reason: format!("root does not define the {role} role"),
    })?;
    let mut ring = Vec::with_capacity(keys.keyids.len());
    for id in &keys.keyids {
        let key = root.keys.get(id).ok_or_else(|| VerifyError::Structure {
            role: name.clone(),
            reason: format!("key {id} is not in root keys"),
        })?;
        ring.push((id, key));
    }
    Ok(KeyRing {
        keys: ring,
        threshold: keys.threshold,
    })
}

/// The keys that may sign root for `gun`, under Notary's certificate rules: each root key
/// must be a certificate bundle with exactly one non-CA leaf, first; the leaf's CN must be
/// the GUN (or `prefix*` with the GUN starting with `prefix`); the leaf must pass
/// Notary's certificate checks (expiry only when `now` is given). Intermediates must be
/// CAs that pass the same checks. Each surviving bundle is re-encoded exactly as Go does
/// and keyed by the ID of that encoding, so a root listing a key under any other encoding
/// does not verify, as with Notary.
pub fn root_cert_keys(root: &Root, gun: &str, now: Option<UnixTime>) -> Vec<(KeyId, PublicKey)> {
    let Some(role) = root.roles.get("root") else {
        return vec![];
    };
    let mut out = Vec::new();
    for id in &role.keyids {
        let Some(key) = root.keys.get(id) else {
            continue;
        };
        let certs = key.certificates();
        let Some(leaf) = certs.first() else { continue };
        if leaf.is_ca || certs.iter().filter(|c| !c.is_ca).count() != 1 {
            continue;
        }
        let cn = leaf.common_name.as_deref().unwrap_or("");
        let cn_ok = cn == gun || cn.strip_suffix('*').is_some_and(|p| gun.starts_with(p));
        if !cn_ok || leaf.validate(now).is_err() {
            continue;
        }
        let mut chain = vec![leaf.der.clone()];
        chain.extend(
            certs[1..]
                .iter()
                .filter(|c| c.validate(now).is_ok())
                .map(|c| c.der.clone()),
        );
        let rebuilt = PublicKey::from_cert_chain(&chain);
        out.push((rebuilt.id().clone(), rebuilt));
    }
    out
}

/// Verifies `doc` as root for `gun` against `trusted`'s root role: its certificate keys and
/// threshold.
pub fn verify_root_signed_by(
    doc: &Signed<Root>,
    trusted: &Root,
    gun: &str,
    now: Option<UnixTime>,
    verifier: &dyn Verifier,
) -> Result<usize, VerifyError> {
    let keys = root_cert_keys(trusted, gun, now);
    let threshold = trusted.roles.get("root").map_or(0, |r| r.threshold);
    if keys.is_empty() {
        return Err(VerifyError::Structure {
            role: RoleName::root(),
            reason: "unable to retrieve valid leaf certificates".to_owned(),
        });
    }
    let ring = KeyRing {
        keys: keys.iter().map(|(id, k)| (id, k)).collect(),
        threshold,
    };
    verify_threshold(doc, &RoleName::root(), &ring, verifier)
}

/// The ring a delegating `parent` defines for `child`, or `None` if it does not delegate
/// to it. X.509 delegation keys whose certificates fail Notary's checks (expiry ignored)
/// are left out.
pub fn delegation_ring<'a>(parent: &'a Targets, child: &RoleName) -> Option<KeyRing<'a>> {
    let entry = parent
        .delegations
        .roles
        .iter()
        .find(|r| r.name == child.as_str())?;
    let keys = entry
        .keyids
        .iter()
        .filter_map(|id| parent.delegations.keys.get_key_value(id))
        .filter(|(_, k)| {
            !k.keytype().is_x509()
                || k.certificates()
                    .first()
                    .is_some_and(|c| c.validate(None).is_ok())
        })
        .collect();
    Some(KeyRing {
        keys,
        threshold: entry.threshold,
    })
}

/// A targets role's delegation rules: every delegated role is a direct child of `role`,
/// has a threshold ≥ 1, and lists only keys present in `delegations.keys`.
pub fn check_delegations(targets: &Targets, role: &RoleName) -> Result<(), VerifyError> {
    let err = |reason: String| VerifyError::Structure {
        role: role.clone(),
        reason,
    };
    for (id, key) in &targets.delegations.keys {
        if key.id() != id {
            return Err(err(format!("delegation key {id} has ID {}", key.id())));
        }
    }
    for d in &targets.delegations.roles {
        let name = RoleName::parse(&d.name).map_err(|e| err(e.to_string()))?;
        if name.parent().as_ref() != Some(role) {
            return Err(err(format!("{} is not a direct child of {role}", d.name)));
        }
        if d.threshold < 1 {
            return Err(err(format!("{} threshold must be at least 1", d.name)));
        }
        for id in &d.keyids {
            if !targets.delegations.keys.contains_key(id) {
                return Err(err(format!(
                    "{} lists key {id} not found in delegations",
                    d.name
                )));
            }
        }
    }
    Ok(())
}

/// Whether the certificate `leaf_der` chains to one of the CA certificates in `cas`, directly
/// or through `intermediates` (as Notary's `ca` trust pinning checks with Go's
/// `x509.Certificate.Verify`): every link's signature verifies under its issuer's key, the
/// issuer's subject is the child's issuer name, issuers are CAs, and every certificate on
/// the path passes [`crate::key::CertFacts::validate`] at `now`. Extended key usages are
/// not checked. At most 8 links are followed.
pub fn chains_to_ca(
    leaf_der: &[u8],
    intermediates: &[Vec<u8>],
    cas: &[Vec<u8>],
    now: UnixTime,
) -> bool {
    fn walk(
        child: &[u8],
        intermediates: &[Vec<u8>],
        cas: &[Vec<u8>],
        now: UnixTime,
        depth: usize,
    ) -> bool {
        if depth > 8 {
            return false;
        }
        if cas.iter().any(|ca| issued_by(child, ca, now).is_ok()) {
            return true;
        }
        intermediates.iter().any(|int| {
            int.as_slice() != child
                && issued_by(child, int, now).is_ok()
                && walk(int, intermediates, cas, now, depth + 1)
        })
    }
    let Ok(leaf) = crate::key::parse_cert(leaf_der) else {
        return false;
    };
    leaf.validate(Some(now)).is_ok() && walk(leaf_der, intermediates, cas, now, 0)
}

/// Checks that `issuer_der` (a valid CA certificate at `now`) issued and signed
/// `child_der`.
pub fn issued_by(child_der: &[u8], issuer_der: &[u8], now: UnixTime) -> Result<(), String> {
    use der::{Decode, Encode};
    use ring::signature as sig;
    use x509_cert::Certificate;

    let child =
        Certificate::from_der(child_der).map_err(|e| format!("invalid certificate: {e}"))?;
    let issuer =
        Certificate::from_der(issuer_der).map_err(|e| format!("invalid certificate: {e}"))?;
    let facts = crate::key::parse_cert(issuer_der)?;
    if !facts.is_ca {
        return Err("issuer is not a CA".to_owned());
    }
    facts.validate(Some(now))?;
    let child_issuer = child
        .tbs_certificate()
        .issuer()
        .to_der()
        .map_err(|e| e.to_string())?;
    let issuer_subject = issuer
        .tbs_certificate()
        .subject()
        .to_der()
        .map_err(|e| e.to_string())?;
    if child_issuer != issuer_subject {
        return Err("issuer name does not match".to_owned());
    }
    let tbs = child
        .tbs_certificate()
        .to_der()
        .map_err(|e| e.to_string())?;
    let signature = child
        .signature()
        .as_bytes()
        .ok_or("signature is not a whole number of bytes")?;
    let spki = spki::SubjectPublicKeyInfoRef::try_from(facts.spki_der.as_slice())
        .map_err(|e| e.to_string())?;
    let key = spki.subject_public_key.raw_bytes();
    let oid = child.signature_algorithm().oid.to_string();
    let alg: &'static dyn sig::VerificationAlgorithm = match (oid.as_str(), key.len()) {
        ("1.2.840.10045.4.3.2", 65) => &sig::ECDSA_P256_SHA256_ASN1,
        ("1.2.840.10045.4.3.3", 65) => &sig::ECDSA_P256_SHA384_ASN1,
        ("1.2.840.10045.4.3.2", 97) => &sig::ECDSA_P384_SHA256_ASN1,
        ("1.2.840.10045.4.3.3", 97) => &sig::ECDSA_P384_SHA384_ASN1,
        ("1.2.840.113549.1.1.11", _) => &sig::RSA_PKCS1_2048_8192_SHA256,
        ("1.2.840.113549.1.1.12", _) => &sig::RSA_PKCS1_2048_8192_SHA384,
        ("1.2.840.113549.1.1.13", _) => &sig::RSA_PKCS1_2048_8192_SHA512,
        ("1.3.101.112", _) => &sig::ED25519,
        _ => return Err(format!("unsupported certificate signature algorithm {oid}")),
    };
    sig::UnparsedPublicKey::new(alg, key)
        .verify(&tbs, signature)
        .map_err(|_| "certificate signature is invalid".to_owned())
}
