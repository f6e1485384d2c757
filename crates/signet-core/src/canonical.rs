//! Canonical JSON, byte-identical to the encoding Go Notary signs
//! (`github.com/docker/go/canonical/json`, `MarshalCanonical`).
//!
//! Rules: object keys sorted bytewise, no whitespace, strings escape only `"` and `\`
//! (every other byte, control characters included, is written raw), and numbers must be
//! integral and are printed as integers. Go verifies by decoding `signed` into a generic
//! value (numbers become `float64`) and re-encoding it; [`to_canonical`] does the same, so
//! integers beyond 2^53 are rounded exactly as Go rounds them.
//!
//! Key order is decided here, never by `serde_json::Map`: Go sorts map keys with `<` on
//! the raw (unescaped) key strings, i.e. by their UTF-8 bytes, before escaping them, so a
//! key that is a prefix of another comes first (`"a"`, `"a b"`, `"a!"`). `Map` iterates in
//! that order only while serde_json's `preserve_order` feature is off, and any crate in a
//! build can turn it on (feature unification), so objects are sorted explicitly. Duplicate
//! keys in the input keep the last value, as Go's `json.Unmarshal` into a map does.
//!
//! Every signed byte and every hashed ID in this crate comes from [`to_canonical`]:
//! `Signed::from_bytes` re-encodes the parsed `signed` value, `Unsigned::new` encodes the
//! `serde_json::to_value` of the role struct (so struct field declaration order does not
//! matter), and key IDs encode a `json!` value. Never hash or sign `serde_json::to_vec`
//! output.

use core::fmt;
use std::borrow::Cow;

use serde_json::Value;

/// Encodes a JSON value canonically.
pub fn to_canonical(value: &Value) -> Result<Vec<u8>, CanonicalError> {
    to_canonical_sized(value, 256)
}

/// [`to_canonical`] into a buffer of `capacity` bytes to start with: the size of the text
/// `value` was parsed from is a tight upper bound, and spares a large document the copies
/// of a growing buffer.
pub(crate) fn to_canonical_sized(
    value: &Value,
    capacity: usize,
) -> Result<Vec<u8>, CanonicalError> {
    let mut out = Vec::with_capacity(capacity);
    write_value(value, &mut out)?;
    Ok(out)
}

/// Parses JSON text and encodes it canonically: the bytes a signature over it covers.
pub fn canonicalize(json: &[u8]) -> Result<Vec<u8>, CanonicalError> {
    let value: Value =
        serde_json::from_slice(json).map_err(|e| CanonicalError::Syntax(e.to_string()))?;
    to_canonical(&value)
}

/// Whether `text` is already in canonical form, i.e. [`canonicalize`] would return it
/// byte for byte: no whitespace outside strings; object keys unique and in ascending
/// bytewise order of their unescaped form; strings with no escapes but `\"` and `\\` (so
/// no control characters); numbers plain integers (`-?(0|[1-9][0-9]*)`, not `-0`) of at
/// most 2^53 in magnitude, which Go's float64 path leaves unchanged.
///
/// Conservative: `false` whenever in doubt (any other escape, deep nesting), and the
/// caller falls back to [`canonicalize`]. Go notary writes `signed` exactly like this unless
/// it had to HTML-escape a string (`<`, `>`, `&`), so for almost every document the bytes a
/// signature covers are the text itself, without a parse and re-encode.
pub fn is_canonical(text: &str) -> bool {
    let mut c = Checker {
        s: text.as_bytes(),
        i: 0,
    };
    c.value(0) && c.i == c.s.len()
}

/// Nesting deeper than this is left to the full parser (serde_json's own limit is 128).
const MAX_CHECK_DEPTH: usize = 128;

/// The prefix of serde_json's private marker keys (e.g. its raw-value token).
const SERDE_JSON_PRIVATE: &[u8] = b"$serde_json::private::";

/// The scanner behind [`is_canonical`]: `i` is the next byte of `s`.
struct Checker<'a> {
    s: &'a [u8],
    i: usize,
}

impl<'a> Checker<'a> {
    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }

    fn value(&mut self, depth: usize) -> bool {
        if depth > MAX_CHECK_DEPTH {
            return false;
        }
        match self.peek() {
            Some(b'{') => self.object(depth),
            Some(b'[') => self.array(depth),
            Some(b'"') => self.string().is_some(),
            Some(b'n') => self.literal(b"null"),
            Some(b't') => self.literal(b"true"),
            Some(b'f') => self.literal(b"false"),
            Some(b'-' | b'0'..=b'9') => self.number(),
            _ => false,
        }
    }

    fn literal(&mut self, lit: &[u8]) -> bool {
        let ok = self.s[self.i..].starts_with(lit);
        if ok {
            self.i += lit.len();
        }
        ok
    }

    /// An integer; a fraction or exponent after it is not a separator, so the caller
    /// refuses it.
    fn number(&mut self) -> bool {
        let negative = self.peek() == Some(b'-');
        if negative {
            self.i += 1;
        }
        let start = self.i;
        while matches!(self.peek(), Some(b'0'..=b'9')) {
            self.i += 1;
        }
        let digits = &self.s[start..self.i];
        match digits {
            [] => false,
            // `0` alone; never `-0` (canonical form prints 0) nor a leading zero.
            [b'0'] => !negative,
            [b'0', ..] => false,
            _ if digits.len() > 16 => false,
            _ => {
                let v = digits
                    .iter()
                    .fold(0_u64, |v, d| v * 10 + u64::from(d - b'0'));
                v <= EXACT_F64
            }
        }
    }

    /// A string starting at its opening quote: its unescaped bytes, if canonical.
    fn string(&mut self) -> Option<Cow<'a, [u8]>> {
        self.i += 1;
        let start = self.i;
        let mut escaped = false;
        loop {
            match self.peek()? {
                b'"' => break,
                b'\\' => match self.s.get(self.i + 1)? {
                    b'"' | b'\\' => {
                        escaped = true;
                        self.i += 2;
                    }
                    _ => return None,
                },
                0x00..=0x1F => return None,
                _ => self.i += 1,
            }
        }
        let raw = &self.s[start..self.i];
        self.i += 1;
        if !escaped {
            return Some(Cow::Borrowed(raw));
        }
        let mut out = Vec::with_capacity(raw.len());
        let mut bytes = raw.iter();
        while let Some(&b) = bytes.next() {
            // Only `\"` and `\\` got here: the escaped byte is the next one.
            out.push(if b == b'\\' { *bytes.next()? } else { b });
        }
        Some(Cow::Owned(out))
    }

    fn array(&mut self, depth: usize) -> bool {
        self.i += 1;
        if self.peek() == Some(b']') {
            self.i += 1;
            return true;
        }
        loop {
            if !self.value(depth + 1) {
                return false;
            }
            match self.peek() {
                Some(b',') => self.i += 1,
                Some(b']') => {
                    self.i += 1;
                    return true;
                }
                _ => return false,
            }
        }
    }

    fn object(&mut self, depth: usize) -> bool {
        self.i += 1;
        if self.peek() == Some(b'}') {
            self.i += 1;
            return true;
        }
        let mut prev: Option<Cow<'a, [u8]>> = None;
        loop {
            if self.peek() != Some(b'"') {
                return false;
            }
            let Some(key) = self.string() else {
                return false;
            };
            // serde_json gives keys of this prefix a meaning of its own (its raw-value token
            // makes `canonicalize` refuse the object), so they are not plain canonical text.
            if key.starts_with(SERDE_JSON_PRIVATE) {
                return false;
            }
            // Strictly ascending: Go's order, and no duplicates.
            if prev.as_deref().is_some_and(|p| p >= key.as_ref()) {
                return false;
            }
            if self.peek() != Some(b':') {
                return false;
            }
            self.i += 1;
            if !self.value(depth + 1) {
                return false;
            }
            prev = Some(key);
            match self.peek() {
                Some(b',') => self.i += 1,
                Some(b'}') => {
                    self.i += 1;
                    return true;
                }
                _ => return false,
            }
        }
    }
}

/// Escapes canonical bytes the way Go's `json.Marshal` does when it embeds them as a
/// `json.RawMessage`: `<`, `>`, `&`, U+2028 and U+2029 become `\u003c`, `\u003e`,
/// `\u0026`, `\u2028`, `\u2029`. The result parses to the same value.
///
/// Control characters (which canonical form writes raw inside strings, and which JSON
/// does not allow raw) become `\u00XX`, so the result is always valid JSON. Go's
/// `json.Marshal` refuses such a `RawMessage` instead; for everything Go can embed the
/// output is identical.
pub fn go_html_escape(canonical: &[u8]) -> Vec<u8> {
    let needs = canonical
        .iter()
        .any(|b| matches!(b, b'<' | b'>' | b'&' | 0xE2 | 0x00..=0x1F));
    if !needs {
        return canonical.to_vec();
    }
    let mut out = Vec::with_capacity(canonical.len() + 16);
    let mut i = 0;
    while i < canonical.len() {
        match canonical[i] {
            b'<' => out.extend_from_slice(b"\\u003c"),
            b'>' => out.extend_from_slice(b"\\u003e"),
            b'&' => out.extend_from_slice(b"\\u0026"),
            // Canonical output has no whitespace outside strings: these are in strings.
            b @ 0x00..=0x1F => {
                const HEX: &[u8; 16] = b"0123456789abcdef";
                out.extend_from_slice(b"\\u00");
                out.push(HEX[usize::from(b >> 4)]);
                out.push(HEX[usize::from(b & 15)]);
            }
            0xE2 if canonical.get(i + 1) == Some(&0x80)
                && matches!(canonical.get(i + 2), Some(0xA8 | 0xA9)) =>
            {
                let last = if canonical[i + 2] == 0xA8 { b'8' } else { b'9' };
                out.extend_from_slice(b"\\u202");
                out.push(last);
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    out
}

/// Why a value has no canonical encoding.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum CanonicalError {
    /// The input is not JSON.
    Syntax(String),
    /// A number with a fraction, or out of the 64-bit range: Go refuses to encode it.
    NonIntegralNumber(String),
}

impl fmt::Display for CanonicalError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Syntax(e) => write!(f, "invalid JSON: {e}"),
            Self::NonIntegralNumber(n) => {
                write!(f, "number {n} has no canonical form (not an integer)")
            }
        }
    }
}

impl std::error::Error for CanonicalError {}

/// 2^53: the largest range in which every integer is exact as an `f64`.
const EXACT_F64: u64 = 1 << 53;

fn write_value(v: &Value, out: &mut Vec<u8>) -> Result<(), CanonicalError> {
    match v {
        Value::Null => out.extend_from_slice(b"null"),
        Value::Bool(true) => out.extend_from_slice(b"true"),
        Value::Bool(false) => out.extend_from_slice(b"false"),
        Value::Number(n) => write_number(n, out)?,
        Value::String(s) => write_str(s, out),
        Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_value(item, out)?;
            }
            out.push(b']');
        }
        Value::Object(map) => {
            out.push(b'{');
            for (i, (k, item)) in sorted_entries(map).into_iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_str(k, out);
                out.push(b':');
                write_value(item, out)?;
            }
            out.push(b'}');
        }
    }
    Ok(())
}

/// The entries of `map` in Go's order: by the UTF-8 bytes of the unescaped key. Keys are
/// unique, so an unstable sort is deterministic; on an already sorted map (the default
/// `BTreeMap` backing) the sort is a linear scan.
fn sorted_entries(map: &serde_json::Map<String, Value>) -> Vec<(&String, &Value)> {
    let mut entries: Vec<(&String, &Value)> = map.iter().collect();
    entries.sort_unstable_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
    entries
}

fn write_number(n: &serde_json::Number, out: &mut Vec<u8>) -> Result<(), CanonicalError> {
    // Go decoded the number into a float64 and prints int64(f).
    let as_int = if let Some(u) = n.as_u64() {
        if u <= EXACT_F64 {
            Some(u as i128)
        } else {
            from_f64(u as f64)
        }
    } else if let Some(i) = n.as_i64() {
        if i.unsigned_abs() <= EXACT_F64 {
            Some(i128::from(i))
        } else {
            from_f64(i as f64)
        }
    } else {
        n.as_f64().and_then(from_f64)
    };
    match as_int {
        Some(i) => {
            out.extend_from_slice(i.to_string().as_bytes());
            Ok(())
        }
        None => Err(CanonicalError::NonIntegralNumber(n.to_string())),
    }
}

fn from_f64(f: f64) -> Option<i128> {
    // 2^63 as f64 is exact; i64::MAX as f64 rounds up to it, so the range is half-open.
    const TWO_POW_63: f64 = 9_223_372_036_854_775_808.0;
    if f.is_finite() && f.fract() == 0.0 && (-TWO_POW_63..TWO_POW_63).contains(&f) {
        Some(f as i128)
    } else {
        None
    }
}

fn write_str(s: &str, out: &mut Vec<u8>) {
    out.push(b'"');
    for &b in s.as_bytes() {
        if b == b'"' || b == b'\\' {
            out.push(b'\\');
        }
        out.push(b);
    }
    out.push(b'"');
}

#[cfg(test)]
mod tests {
    use super::*;

    fn canon(s: &str) -> String {
        String::from_utf8(canonicalize(s.as_bytes()).unwrap()).unwrap()
    }

    #[test]
    fn sorts_keys_bytewise_not_by_escaped_form() {
        assert_eq!(
            canon(r#"{"a!":3,"a b":2,"a":1}"#),
            r#"{"a":1,"a b":2,"a!":3}"#
        );
        assert_eq!(
            canon(r#"{"b":{"z":1,"a":[3,2]},"a":null}"#),
            r#"{"a":null,"b":{"a":[3,2],"z":1}}"#
        );
    }

    #[test]
    fn escapes_only_quote_and_backslash() {
        assert_eq!(
            canon(r#"["a\"b\\c\n\u0001<>&é\u2028"]"#),
            "[\"a\\\"b\\\\c\n\u{1}<>&é\u{2028}\"]"
        );
        // decomposed characters are not normalised
        assert_eq!(canon("[\"e\u{301}\"]"), "[\"e\u{301}\"]");
    }

    #[test]
    fn numbers_follow_go_float64_path() {
        assert_eq!(canon("[1.0,1e3,-0,0,-5]"), "[1,1000,0,0,-5]");
        assert_eq!(canon("[9007199254740993]"), "[9007199254740992]");
        assert!(matches!(
            canonicalize(b"[1.5]"),
            Err(CanonicalError::NonIntegralNumber(_))
        ));
        assert!(matches!(
            canonicalize(b"[1e300]"),
            Err(CanonicalError::NonIntegralNumber(_))
        ));
        assert!(matches!(canonicalize(b"{"), Err(CanonicalError::Syntax(_))));
    }

    #[test]
    fn html_escape_matches_go_marshal() {
        let raw = "{\"a\":\"<x>&\u{2028}\u{2029}é\"}".as_bytes();
        let escaped = go_html_escape(raw);
        assert_eq!(
            String::from_utf8(escaped.clone()).unwrap(),
            r#"{"a":"\u003cx\u003e\u0026\u2028\u2029é"}"#
        );
        assert_eq!(canonicalize(&escaped).unwrap(), raw);
    }

    #[test]
    fn html_escape_escapes_raw_control_characters() {
        // Found by fuzzing (fuzz/canonical_json): canonical form keeps control characters
        // raw, and embedding that unescaped produced files no JSON parser accepts.
        let raw = canonicalize(br#"{"a":"x\u0001\n\u001f\t<"}"#).unwrap();
        assert_eq!(raw, b"{\"a\":\"x\x01\n\x1f\t<\"}");
        let escaped = go_html_escape(&raw);
        assert_eq!(
            String::from_utf8(escaped.clone()).unwrap(),
            r#"{"a":"x\u0001\u000a\u001f\u0009\u003c"}"#
        );
        assert_eq!(canonicalize(&escaped).unwrap(), raw);
    }

    #[test]
    fn is_canonical_accepts_exactly_canonical_text() {
        for ok in [
            r#"{"a":1,"a b":2,"a!":3}"#,
            r#"{"":null,"b":{"a":[3,-2,0,[]],"z":{}},"c":true,"d":false}"#,
            "[\"a\\\"b\\\\c\",\"é<>&\u{2028}\u{7f}\"]",
            r#"{"a\"":1,"a\\":2}"#,
            "9007199254740992",
            "-9007199254740992",
            r#""""#,
        ] {
            assert!(is_canonical(ok), "{ok}");
            assert_eq!(canonicalize(ok.as_bytes()).unwrap(), ok.as_bytes(), "{ok}");
        }
        for bad in [
            r#"{"b":1,"a":2}"#,
            r#"{"a":1,"a":2}"#,
            r#"{"a!":1,"a b":2}"#,
            r#"{"a":1 }"#,
            r#" {"a":1}"#,
            r#"{"a": 1}"#,
            r#"["\n"]"#,
            r#"["\u0041"]"#,
            r#"["\/"]"#,
            r#"["\u003c"]"#,
            "[\"a\nb\"]",
            "[1.0]",
            "[1e3]",
            "[-0]",
            "[01]",
            "[-]",
            "[9007199254740993]",
            "[-9007199254740993]",
            "[12345678901234567]",
            "[1,]",
            "[,1]",
            "{,}",
            r#"{"a"}"#,
            r#"{"a":}"#,
            r#"["a]"#,
            "nul",
            "[true false]",
            "",
            "[]]",
            // serde_json's raw-value token (found by the canonical_json fuzz target)
            r#"{"$serde_json::private::RawValue":1}"#,
        ] {
            assert!(!is_canonical(bad), "{bad}");
        }
        // The order is that of the unescaped keys: `"` (0x22) sorts before `#` (0x23),
        // although its escape starts with `\` (0x5c).
        assert!(is_canonical(r#"{"a\"":1,"a#":2}"#));
        assert!(!is_canonical(r#"{"a#":2,"a\"":1}"#));
        let deep = format!("{}{}", "[".repeat(200), "]".repeat(200));
        assert!(!is_canonical(&deep), "deep nesting is left to the parser");
    }

    #[test]
    fn canonical_is_idempotent() {
        let once = canonicalize(br#"{"z":[{"b":1,"a":"\u00e9<"}],"y":true}"#).unwrap();
        assert_eq!(canonicalize(&once).unwrap(), once);
    }

    #[test]
    fn object_order_does_not_depend_on_map_insertion_order() {
        // Insertion order differs from Go's order; with serde_json's `preserve_order` on,
        // the map iterates in insertion order and only the encoder's sort puts it right.
        let mut map = serde_json::Map::new();
        for k in ["a!", "b", "a b", "a", "\u{e9}", "Z", ""] {
            map.insert(k.to_owned(), Value::from(k.len()));
        }
        assert_eq!(
            to_canonical(&Value::Object(map)).unwrap(),
            "{\"\":0,\"Z\":1,\"a\":1,\"a b\":3,\"a!\":2,\"b\":1,\"\u{e9}\":2}".as_bytes()
        );
    }

    mod properties {
        use proptest::collection::{btree_map, vec};
        use proptest::prelude::*;
        use serde_json::{Map, Number, Value};

        use super::super::{canonicalize, go_html_escape, is_canonical, to_canonical};

        /// Modest case counts: the suite runs on two cores.
        fn config() -> ProptestConfig {
            ProptestConfig {
                cases: 128,
                ..ProptestConfig::default()
            }
        }

        /// Strings over a small alphabet that hits every escaping and ordering rule:
        /// quote, backslash, control characters, `<>&`, U+2028, non-ASCII, and bytes just
        /// around `"` (0x22) so prefix keys are common.
        fn text() -> impl Strategy<Value = String> {
            vec(
                prop::sample::select(vec![
                    'a',
                    'b',
                    ' ',
                    '!',
                    '"',
                    '#',
                    '\\',
                    '/',
                    '\u{0}',
                    '\u{1}',
                    '\n',
                    '\u{1f}',
                    '<',
                    '>',
                    '&',
                    '\u{7f}',
                    '\u{e9}',
                    '\u{2028}',
                    '\u{1f600}',
                ]),
                0..6,
            )
            .prop_map(|chars| chars.into_iter().collect())
        }

        /// Numbers that survive Go's float64 path unchanged.
        fn exact_number() -> impl Strategy<Value = Value> {
            const LIMIT: i64 = 1 << 53;
            (-LIMIT..=LIMIT).prop_map(|i| Value::Number(Number::from(i)))
        }

        fn json() -> impl Strategy<Value = Value> {
            let leaf = prop_oneof![
                Just(Value::Null),
                any::<bool>().prop_map(Value::Bool),
                exact_number(),
                text().prop_map(Value::String),
            ];
            leaf.prop_recursive(4, 48, 6, |inner| {
                prop_oneof![
                    vec(inner.clone(), 0..6).prop_map(Value::Array),
                    btree_map(text(), inner, 0..6)
                        .prop_map(|m| Value::Object(m.into_iter().collect())),
                ]
            })
        }

        /// `v` with the entries of every object re-inserted in the order `order` picks.
        fn reinsert(v: &Value, order: &mut impl FnMut(usize) -> Vec<usize>) -> Value {
            match v {
                Value::Array(items) => {
                    Value::Array(items.iter().map(|i| reinsert(i, order)).collect())
                }
                Value::Object(map) => {
                    let entries: Vec<(&String, &Value)> = map.iter().collect();
                    let mut out = Map::new();
                    for i in order(entries.len()) {
                        let (k, item) = entries[i];
                        out.insert(k.clone(), reinsert(item, order));
                    }
                    Value::Object(out)
                }
                other => other.clone(),
            }
        }

        /// The keys of every object in canonical output appear in bytewise order: checked
        /// by re-parsing and comparing each object's key sequence with its sorted form.
        fn keys_sorted(v: &Value) -> bool {
            match v {
                Value::Array(items) => items.iter().all(keys_sorted),
                Value::Object(map) => {
                    map.keys()
                        .zip(map.keys().skip(1))
                        .all(|(a, b)| a.as_bytes() < b.as_bytes())
                        && map.values().all(keys_sorted)
                }
                _ => true,
            }
        }

        fn has_control(v: &Value) -> bool {
            let ctl = |s: &str| s.bytes().any(|b| b < 0x20);
            match v {
                Value::String(s) => ctl(s),
                Value::Array(items) => items.iter().any(has_control),
                Value::Object(map) => map.iter().any(|(k, v)| ctl(k) || has_control(v)),
                _ => false,
            }
        }

        proptest! {
            #![proptest_config(config())]

            #[test]
            fn shuffled_insertion_order_gives_identical_bytes(
                v in json(),
                seed in any::<u64>(),
            ) {
                let expected = to_canonical(&v).unwrap();
                // Reversed, rotated and seed-shuffled insertion orders.
                let mut state = seed | 1;
                let mut shuffle = |n: usize| {
                    let mut idx: Vec<usize> = (0..n).collect();
                    for i in (1..n).rev() {
                        // xorshift64: deterministic per case, no extra dependency.
                        state ^= state << 13;
                        state ^= state >> 7;
                        state ^= state << 17;
                        idx.swap(i, (state % (i as u64 + 1)) as usize);
                    }
                    idx
                };
                let mut reverse = |n: usize| (0..n).rev().collect::<Vec<_>>();
                prop_assert_eq!(&to_canonical(&reinsert(&v, &mut shuffle)).unwrap(), &expected);
                prop_assert_eq!(&to_canonical(&reinsert(&v, &mut reverse)).unwrap(), &expected);
            }

            #[test]
            fn canonical_is_a_fixed_point(v in json()) {
                let once = to_canonical(&v).unwrap();
                // Raw control characters are not JSON; the embedded (escaped) form is.
                let parsed: Value = serde_json::from_slice(&go_html_escape(&once)).unwrap();
                prop_assert_eq!(&to_canonical(&parsed).unwrap(), &once);
                prop_assert_eq!(&canonicalize(&go_html_escape(&once)).unwrap(), &once);
            }

            #[test]
            fn output_parses_back_to_an_equal_value(v in json()) {
                let once = to_canonical(&v).unwrap();
                let parsed: Value = serde_json::from_slice(&go_html_escape(&once)).unwrap();
                prop_assert_eq!(&parsed, &v);
                prop_assert!(keys_sorted(&parsed));
                if !has_control(&v) {
                    // Without control characters canonical output is itself valid JSON.
                    let direct: Value = serde_json::from_slice(&once).unwrap();
                    prop_assert_eq!(&direct, &v);
                }
            }

            #[test]
            fn strings_escape_only_quote_and_backslash(s in text()) {
                let mut expected = vec![b'"'];
                for b in s.bytes() {
                    if b == b'"' || b == b'\\' {
                        expected.push(b'\\');
                    }
                    expected.push(b);
                }
                expected.push(b'"');
                prop_assert_eq!(&to_canonical(&Value::String(s.clone())).unwrap(), &expected);
                // The same rule applies to keys.
                let mut obj = Map::new();
                obj.insert(s, Value::Null);
                let mut key_expected = vec![b'{'];
                key_expected.extend_from_slice(&expected);
                key_expected.extend_from_slice(b":null}");
                prop_assert_eq!(&to_canonical(&Value::Object(obj)).unwrap(), &key_expected);
            }

            #[test]
            fn html_escape_output_has_no_raw_specials(v in json()) {
                let escaped = go_html_escape(&to_canonical(&v).unwrap());
                prop_assert!(!escaped.iter().any(|b| matches!(b, b'<' | b'>' | b'&' | 0x00..=0x1f)));
                let text = String::from_utf8(escaped).unwrap();
                let separators = ['\u{2028}', '\u{2029}'];
                prop_assert!(!text.contains(separators), "raw line or paragraph separator");
            }

            #[test]
            fn canonical_text_is_recognised(v in json()) {
                let once = to_canonical(&v).unwrap();
                let text = std::str::from_utf8(&once).unwrap();
                // Raw control characters are not JSON, so such output is never accepted.
                prop_assert_eq!(is_canonical(text), !has_control(&v));
            }

            #[test]
            // serde_json's renderings are the non-canonical inputs under test, never signed.
            #[allow(clippy::disallowed_methods)]
            fn recognised_text_is_a_fixed_point(v in json()) {
                // Other renderings of the same value: HTML-escaped, pretty, serde_json's.
                let escaped = String::from_utf8(go_html_escape(&to_canonical(&v).unwrap())).unwrap();
                for text in [escaped, serde_json::to_string_pretty(&v).unwrap(), serde_json::to_string(&v).unwrap()] {
                    if is_canonical(&text) {
                        prop_assert_eq!(canonicalize(text.as_bytes()).unwrap(), text.into_bytes());
                    }
                }
            }

            #[test]
            fn integral_floats_print_as_integers(i in -(1_i64 << 53)..=(1_i64 << 53)) {
                let as_float = Value::from(i as f64);
                prop_assert_eq!(to_canonical(&as_float).unwrap(), i.to_string().into_bytes());
            }
        }
    }
}
