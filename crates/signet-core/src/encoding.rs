//! Byte encodings Notary uses: standard padded base64, lowercase hex, and PEM as Go's
//! `encoding/pem` writes it.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

/// Standard base64 with padding, as Go's `[]byte` JSON encoding.
pub fn b64_encode(bytes: &[u8]) -> String {
    STANDARD.encode(bytes)
}

/// Decodes standard padded base64.
pub fn b64_decode(text: &str) -> Option<Vec<u8>> {
    STANDARD.decode(text).ok()
}

/// Lowercase hex.
pub fn hex_encode(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(char::from(DIGITS[usize::from(b >> 4)]));
        s.push(char::from(DIGITS[usize::from(b & 15)]));
    }
    s
}

/// True for a string of lowercase hex digits of the given length.
pub fn is_lower_hex(s: &str, len: usize) -> bool {
    s.len() == len && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// SHA-256 of `bytes`.
pub fn sha256(bytes: &[u8]) -> [u8; 32] {
    let d = ring::digest::digest(&ring::digest::SHA256, bytes);
    let mut out = [0u8; 32];
    out.copy_from_slice(d.as_ref());
    out
}

/// SHA-512 of `bytes`.
pub fn sha512(bytes: &[u8]) -> [u8; 64] {
    let d = ring::digest::digest(&ring::digest::SHA512, bytes);
    let mut out = [0u8; 64];
    out.copy_from_slice(d.as_ref());
    out
}

/// One PEM block: its type label, headers in file order, and the decoded body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PemBlock {
    /// The label after `BEGIN ` (`CERTIFICATE`, `PUBLIC KEY`, …).
    pub label: String,
    /// `Key: value` headers, in the order they appear.
    pub headers: Vec<(String, String)>,
    /// The decoded body.
    pub contents: Vec<u8>,
}

/// Parses every PEM block in `text`, skipping text between blocks as Go does.
/// Returns `None` if a block is malformed.
pub fn pem_decode_all(text: &[u8]) -> Option<Vec<PemBlock>> {
    let text = core::str::from_utf8(text).ok()?;
    let mut blocks = Vec::new();
    let mut lines = text.lines();
    while let Some(line) = lines.next() {
        let Some(label) = line
            .trim_end()
            .strip_prefix("-----BEGIN ")
            .and_then(|l| l.strip_suffix("-----"))
        else {
            continue;
        };
        let end = format!("-----END {label}-----");
        let mut headers = Vec::new();
        let mut body = String::new();
        let mut in_headers = true;
        let mut closed = false;
        for line in lines.by_ref() {
            let line = line.trim_end();
            if line == end {
                closed = true;
                break;
            }
            if in_headers {
                if let Some((k, v)) = line.split_once(':') {
                    headers.push((k.trim().to_owned(), v.trim().to_owned()));
                    continue;
                }
                in_headers = false;
                if line.is_empty() {
                    continue;
                }
            }
            body.push_str(line.trim());
        }
        if !closed {
            return None;
        }
        blocks.push(PemBlock {
            label: label.to_owned(),
            headers,
            contents: STANDARD.decode(body.as_bytes()).ok()?,
        });
    }
    Some(blocks)
}

/// Encodes one PEM block exactly as Go's `pem.Encode`: headers sorted by key (Go sorts
/// them, with `Proc-Type` first), a blank line after headers, 64-column base64 lines, each
/// line ending in `\n`.
pub fn pem_encode(block: &PemBlock) -> String {
    let mut out = format!("-----BEGIN {}-----\n", block.label);
    if !block.headers.is_empty() {
        let mut headers: Vec<&(String, String)> = block.headers.iter().collect();
        headers.sort_by(|a, b| (a.0 != "Proc-Type", &a.0).cmp(&(b.0 != "Proc-Type", &b.0)));
        for (k, v) in headers {
            out.push_str(k);
            out.push_str(": ");
            out.push_str(v);
            out.push('\n');
        }
        out.push('\n');
    }
    let b64 = STANDARD.encode(&block.contents);
    for chunk in b64.as_bytes().chunks(64) {
        // base64 output is ASCII, so every chunk is valid UTF-8
        out.push_str(core::str::from_utf8(chunk).unwrap_or_default());
        out.push('\n');
    }
    out.push_str(&format!("-----END {}-----\n", block.label));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pem_round_trip_go_layout() {
        let block = PemBlock {
            label: "CERTIFICATE".to_owned(),
            headers: vec![],
            contents: (0u8..=200).collect(),
        };
        let text = pem_encode(&block);
        assert!(text.starts_with("-----BEGIN CERTIFICATE-----\n"));
        assert!(text.lines().skip(1).take(4).all(|l| l.len() <= 64));
        assert!(text.ends_with("-----END CERTIFICATE-----\n"));
        assert_eq!(pem_decode_all(text.as_bytes()).unwrap(), vec![block]);
    }

    #[test]
    fn pem_headers_sorted_like_go() {
        let block = PemBlock {
            label: "ENCRYPTED PRIVATE KEY".to_owned(),
            headers: vec![
                ("role".to_owned(), "targets".to_owned()),
                ("gun".to_owned(), "a/b".to_owned()),
            ],
            contents: vec![1, 2, 3],
        };
        let text = pem_encode(&block);
        assert!(text.contains("gun: a/b\nrole: targets\n\nAQID\n"));
        let back = pem_decode_all(text.as_bytes()).unwrap();
        assert_eq!(back[0].headers.len(), 2);
    }

    #[test]
    fn pem_rejects_unterminated() {
        assert!(pem_decode_all(b"-----BEGIN X-----\nAAAA\n").is_none());
        assert_eq!(pem_decode_all(b"no pem here").unwrap(), vec![]);
    }

    #[test]
    fn hex() {
        assert_eq!(hex_encode(&[0, 0xab, 0xff]), "00abff");
        assert!(is_lower_hex("00abff", 6));
        assert!(!is_lower_hex("00ABff", 6));
    }
}
