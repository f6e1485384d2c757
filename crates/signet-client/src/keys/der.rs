//! The few DER shapes notary writes that the standard decoders reject (crates-and-limits
//! §A4): a lenient reader for notary's PKCS#8 `PrivateKeyInfo` and writers for the exact
//! bytes Go produces. Everything else goes through the RustCrypto crates.

use zeroize::Zeroizing;

/// id-ecPublicKey, 1.2.840.10045.2.1.
pub(crate) const OID_EC_PUBLIC_KEY: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01];
/// prime256v1, 1.2.840.10045.3.1.7.
pub(crate) const OID_P256: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];
/// rsaEncryption, 1.2.840.113549.1.1.1.
pub(crate) const OID_RSA: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01];
/// notary's Ed25519 OID, 1.3.6.1.4.1.11591.15.1 (not RFC 8410's).
pub(crate) const OID_NOTARY_ED25519: &[u8] =
    &[0x2b, 0x06, 0x01, 0x04, 0x01, 0xda, 0x47, 0x0f, 0x01];
/// RFC 8410 Ed25519, 1.3.101.112.
pub(crate) const OID_ED25519: &[u8] = &[0x2b, 0x65, 0x70];

const SEQUENCE: u8 = 0x30;
const INTEGER: u8 = 0x02;
const OCTET_STRING: u8 = 0x04;
const OID: u8 = 0x06;
const NULL: u8 = 0x05;
const BIT_STRING: u8 = 0x03;

/// One DER element: tag and contents.
struct Tlv<'a> {
    tag: u8,
    value: &'a [u8],
}

/// Reads one element from the front of `input`; definite lengths only, as DER requires.
fn read_tlv(input: &[u8]) -> Option<(Tlv<'_>, &[u8])> {
    let (&tag, rest) = input.split_first()?;
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 || rest.len() < n {
            return None;
        }
        let len = rest[..n]
            .iter()
            .fold(0usize, |acc, &b| (acc << 8) | usize::from(b));
        (len, &rest[n..])
    };
    if rest.len() < len {
        return None;
    }
    let (value, rest) = rest.split_at(len);
    Some((Tlv { tag, value }, rest))
}

/// The parts of a PKCS#8 `PrivateKeyInfo` that notary's reader uses.
pub(crate) struct PrivateKeyInfo<'a> {
    /// The algorithm OID (contents bytes).
    pub(crate) algorithm: &'a [u8],
    /// The algorithm parameter when it is an OID (the EC named curve).
    pub(crate) curve: Option<&'a [u8]>,
    /// The `privateKey` OCTET STRING contents.
    pub(crate) key: &'a [u8],
}

/// Parses `SEQUENCE { INTEGER version, SEQUENCE { OID, params? }, OCTET STRING key, ... }`
/// leniently, as Go's `asn1.Unmarshal` into notary's struct does: version 0 or 1, any or no
/// parameter, trailing attributes ignored.
pub(crate) fn parse_private_key_info(der: &[u8]) -> Option<PrivateKeyInfo<'_>> {
    let (outer, trailing) = read_tlv(der)?;
    if outer.tag != SEQUENCE || !trailing.is_empty() {
        return None;
    }
    let (version, rest) = read_tlv(outer.value)?;
    if version.tag != INTEGER || !matches!(version.value, [0] | [1]) {
        return None;
    }
    let (alg, rest) = read_tlv(rest)?;
    if alg.tag != SEQUENCE {
        return None;
    }
    let (oid, params) = read_tlv(alg.value)?;
    if oid.tag != OID {
        return None;
    }
    let curve = match read_tlv(params) {
        Some((p, _)) if p.tag == OID => Some(p.value),
        _ => None,
    };
    let (key, _attributes) = read_tlv(rest)?;
    if key.tag != OCTET_STRING {
        return None;
    }
    Some(PrivateKeyInfo {
        algorithm: oid.value,
        curve,
        key: key.value,
    })
}

/// Unwraps an OCTET STRING (RFC 8410's `CurvePrivateKey`).
pub(crate) fn parse_octet_string(der: &[u8]) -> Option<&[u8]> {
    match read_tlv(der)? {
        (t, []) if t.tag == OCTET_STRING => Some(t.value),
        _ => None,
    }
}

fn push_len(out: &mut Vec<u8>, len: usize) {
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes = len.to_be_bytes();
        let skip = bytes.iter().take_while(|&&b| b == 0).count();
        out.push(0x80 | (bytes.len() - skip) as u8);
        out.extend_from_slice(&bytes[skip..]);
    }
}

fn tlv(tag: u8, parts: &[&[u8]]) -> Zeroizing<Vec<u8>> {
    let len: usize = parts.iter().map(|p| p.len()).sum();
    let mut out = Zeroizing::new(Vec::with_capacity(len + 6));
    out.push(tag);
    push_len(&mut out, len);
    for p in parts {
        out.extend_from_slice(p);
    }
    out
}

/// notary's PKCS#8: `SEQUENCE { INTEGER version, SEQUENCE { OIDs… }, OCTET STRING key }`
/// (no NULL parameter for RSA, version 1 for ECDSA), as `convertTUFKeyToPKCS8` writes it.
pub(crate) fn notary_pkcs8(version: u8, oids: &[&[u8]], key: &[u8]) -> Zeroizing<Vec<u8>> {
    let oids: Vec<Zeroizing<Vec<u8>>> = oids.iter().map(|o| tlv(OID, &[o])).collect();
    let oid_refs: Vec<&[u8]> = oids.iter().map(|o| o.as_slice()).collect();
    let alg = tlv(SEQUENCE, &oid_refs);
    let version = tlv(INTEGER, &[&[version]]);
    let key = tlv(OCTET_STRING, &[key]);
    tlv(SEQUENCE, &[&version, &alg, &key])
}

/// `SubjectPublicKeyInfo` as Go's `x509.MarshalPKIXPublicKey` writes it.
pub(crate) fn spki(algorithm: &[u8], param: Option<&[u8]>, public: &[u8]) -> Vec<u8> {
    let oid = tlv(OID, &[algorithm]);
    let param = match param {
        Some(curve) => tlv(OID, &[curve]),
        None => tlv(NULL, &[]),
    };
    let alg = tlv(SEQUENCE, &[&oid, &param]);
    let bits = tlv(BIT_STRING, &[&[0], public]);
    tlv(SEQUENCE, &[&alg, &bits]).to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_notary_shape() {
        let der = notary_pkcs8(1, &[OID_EC_PUBLIC_KEY, OID_P256], &[0xAA; 200]);
        let info = parse_private_key_info(&der).expect("parses");
        assert_eq!(info.algorithm, OID_EC_PUBLIC_KEY);
        assert_eq!(info.curve, Some(OID_P256));
        assert_eq!(info.key, &[0xAA; 200][..]);
    }

    #[test]
    fn rejects_truncated_and_trailing() {
        let der = notary_pkcs8(0, &[OID_RSA], &[1, 2, 3]);
        assert!(parse_private_key_info(&der[..der.len() - 1]).is_none());
        let mut long = der.to_vec();
        long.push(0);
        assert!(parse_private_key_info(&long).is_none());
        assert!(parse_private_key_info(&[0x30, 0x84, 0xff, 0xff, 0xff, 0xff]).is_none());
    }
}
