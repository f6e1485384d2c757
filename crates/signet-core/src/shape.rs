//! A cheap first look at an uploaded metadata file, before anything is built from it.
//!
//! [`check_shape`] walks the JSON once without building it (no tree, no copies of
//! strings) and answers two questions:
//!
//! * Is it metadata at all, as far as notary-server checks before validating: an object
//!   whose `signed` is an object with an integral `version` (if any)? Unlike Go, a file
//!   without `signed` is refused too: it can never be valid metadata.
//! * Does it stay within [`ShapeLimits`]: nesting depth and the number of JSON values? A
//!   file that passes can then be parsed into the typed model with memory proportional to
//!   its size; one that does not (64 MiB of `[0,0,0,…]` is 32 million values, about 1 GiB
//!   as a `serde_json::Value`) is refused after reading only as far as the limit.
//!
//! The default limits are far beyond what Notary produces. Notary's deepest structure is
//! six levels (`signed.delegations.roles[i].paths[j]`), and a target costs about six values
//! (its entry, `hashes`, one or two digests, `length`, optional `custom`), so
//! [`ShapeLimits::default`] — depth 32, 500,000 values — admits a single targets file of
//! some 80,000 targets with room for custom data, while Notary clients split large
//! repositories into delegations long before that.

use core::cell::Cell;
use core::fmt;

use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};

/// Bounds on one metadata file's structure.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ShapeLimits {
    /// Deepest nesting of arrays and objects (the outermost object is depth 1).
    pub max_depth: usize,
    /// Most JSON values (objects, arrays, strings, numbers, booleans, nulls) in the file.
    pub max_values: u64,
}

impl Default for ShapeLimits {
    /// Depth 32, 500,000 values.
    fn default() -> Self {
        Self {
            max_depth: 32,
            max_values: 500_000,
        }
    }
}

/// Why [`check_shape`] refused a file.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ShapeError {
    /// Not JSON, or not an object whose `signed` is an object with an integral `version`.
    NotMetadata(String),
    /// Nested deeper than [`ShapeLimits::max_depth`].
    TooDeep {
        /// The limit.
        max_depth: usize,
    },
    /// More values than [`ShapeLimits::max_values`].
    TooManyValues {
        /// The limit.
        max_values: u64,
    },
}

impl fmt::Display for ShapeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotMetadata(why) => write!(f, "not metadata: {why}"),
            Self::TooDeep { max_depth } => {
                write!(f, "JSON nested deeper than {max_depth} levels")
            }
            Self::TooManyValues { max_values } => {
                write!(f, "more than {max_values} JSON values")
            }
        }
    }
}

impl std::error::Error for ShapeError {}

/// Checks that `bytes` is one JSON document shaped like metadata and within `limits`,
/// without building it. See the [module docs](self).
///
/// ```
/// use signet_core::shape::{ShapeError, ShapeLimits, check_shape};
/// let limits = ShapeLimits { max_depth: 4, max_values: 100 };
/// assert!(check_shape(br#"{"signed":{"version":1},"signatures":[]}"#, &limits).is_ok());
/// assert!(matches!(check_shape(b"[0,0,0]", &limits), Err(ShapeError::NotMetadata(_))));
/// let zeros = format!(r#"{{"signed":{{"x":[{}0]}}}}"#, "0,".repeat(200));
/// assert_eq!(
///     check_shape(zeros.as_bytes(), &limits),
///     Err(ShapeError::TooManyValues { max_values: 100 })
/// );
/// ```
pub fn check_shape(bytes: &[u8], limits: &ShapeLimits) -> Result<(), ShapeError> {
    let state = State {
        limits: *limits,
        values: Cell::new(0),
        failure: Cell::new(None),
    };
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let outcome = Node {
        state: &state,
        depth: 1,
        level: Level::Top,
    }
    .deserialize(&mut de)
    .and_then(|_| de.end());
    match (state.failure.take(), outcome) {
        (Some(limit), _) => Err(limit),
        (None, Ok(())) => Ok(()),
        (None, Err(e)) => Err(ShapeError::NotMetadata(e.to_string())),
    }
}

struct State {
    limits: ShapeLimits,
    values: Cell<u64>,
    /// A limit that was hit (reported instead of serde's error text).
    failure: Cell<Option<ShapeError>>,
}

impl State {
    fn count<E: de::Error>(&self) -> Result<(), E> {
        let n = self.values.get() + 1;
        self.values.set(n);
        if n > self.limits.max_values {
            return Err(self.fail(ShapeError::TooManyValues {
                max_values: self.limits.max_values,
            }));
        }
        Ok(())
    }

    fn enter<E: de::Error>(&self, depth: usize) -> Result<(), E> {
        if depth > self.limits.max_depth {
            return Err(self.fail(ShapeError::TooDeep {
                max_depth: self.limits.max_depth,
            }));
        }
        Ok(())
    }

    fn fail<E: de::Error>(&self, why: ShapeError) -> E {
        let text = why.to_string();
        self.failure.set(Some(why));
        E::custom(text)
    }
}

/// What the value at hand must be.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Level {
    /// The document: an object with `signed`.
    Top,
    /// `signed`: an object.
    Signed,
    /// `signed.version`: an integer.
    Version,
    /// Anything.
    Any,
}

struct Node<'s> {
    state: &'s State,
    depth: usize,
    level: Level,
}

impl<'de> DeserializeSeed<'de> for Node<'_> {
    type Value = ();

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl Node<'_> {
    fn scalar<E: de::Error>(&self, integral: bool, what: &str) -> Result<(), E> {
        self.state.count()?;
        match self.level {
            Level::Any => Ok(()),
            Level::Version if integral => Ok(()),
            Level::Version => Err(E::custom(format!("version is {what}, not an integer"))),
            Level::Top => Err(E::custom(format!("the document is {what}, not an object"))),
            Level::Signed => Err(E::custom(format!("signed is {what}, not an object"))),
        }
    }

    fn child(&self, level: Level) -> Node<'_> {
        Node {
            state: self.state,
            depth: self.depth + 1,
            level,
        }
    }
}

impl<'de> Visitor<'de> for Node<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("JSON metadata")
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<(), E> {
        self.scalar(false, "a boolean")
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> Result<(), E> {
        self.scalar(true, "a number")
    }

    fn visit_u64<E: de::Error>(self, _: u64) -> Result<(), E> {
        self.scalar(true, "a number")
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<(), E> {
        self.scalar(false, "a fractional number")
    }

    fn visit_str<E: de::Error>(self, _: &str) -> Result<(), E> {
        self.scalar(false, "a string")
    }

    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        self.scalar(false, "null")
    }

    fn visit_none<E: de::Error>(self) -> Result<(), E> {
        self.scalar(false, "null")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        // Refused before a single element is read.
        self.scalar::<A::Error>(false, "an array")?;
        self.state.enter(self.depth)?;
        while seq.next_element_seed(self.child(Level::Any))?.is_some() {}
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        match self.level {
            Level::Top | Level::Signed | Level::Any => self.state.count()?,
            Level::Version => {
                return Err(de::Error::custom("version is an object, not an integer"));
            }
        }
        self.state.enter(self.depth)?;
        let mut has_signed = false;
        while let Some(key) = map.next_key_seed(KeyName)? {
            let level = match (self.level, key) {
                (Level::Top, Key::Signed) => {
                    has_signed = true;
                    Level::Signed
                }
                (Level::Signed, Key::Version) => Level::Version,
                _ => Level::Any,
            };
            // Keys are strings: one value each.
            self.state.count()?;
            map.next_value_seed(self.child(level))?;
        }
        if self.level == Level::Top && !has_signed {
            return Err(de::Error::custom("no signed object"));
        }
        Ok(())
    }
}

/// A key of interest, compared without allocating.
enum Key {
    Signed,
    Version,
    Other,
}

struct KeyName;

impl<'de> DeserializeSeed<'de> for KeyName {
    type Value = Key;

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Key, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for KeyName {
    type Value = Key;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object key")
    }

    fn visit_str<E: de::Error>(self, key: &str) -> Result<Key, E> {
        Ok(match key {
            "signed" => Key::Signed,
            "version" => Key::Version,
            _ => Key::Other,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(json: &str) -> Result<(), ShapeError> {
        check_shape(json.as_bytes(), &ShapeLimits::default())
    }

    #[test]
    fn metadata_shape_matches_what_notary_server_decodes() {
        check(r#"{"signed":{"version":3},"signatures":[]}"#).unwrap();
        check(r#"{"signed":{}}"#).unwrap();
        check(r#"{"signatures":null,"signed":{"_type":"Targets","version":18446744073709551615}}"#)
            .unwrap();
        // Go decodes `signed` into a struct: an array or a fractional version is malformed.
        for bad in [
            r#"{"signed":[1,2]}"#,
            r#"{"signed":null}"#,
            r#"{"signed":{"version":1.5}}"#,
            r#"{"signed":{"version":"1"}}"#,
            r#"{"signed":{"version":{}}}"#,
            r#"{"signed":{"version":[]}}"#,
            r#"{"signatures":[]}"#,
            "[]",
            "[0,0,0]",
            "0",
            "null",
            "",
            "not json",
            r#"{"signed":{}} trailing"#,
            r#"{"signed":{}"#,
        ] {
            assert!(
                matches!(check(bad), Err(ShapeError::NotMetadata(_))),
                "{bad}: {:?}",
                check(bad)
            );
        }
        // `version` only matters directly under `signed`.
        check(r#"{"signed":{"x":{"version":"any"}},"version":[]}"#).unwrap();
    }

    #[test]
    fn depth_is_bounded() {
        let limits = ShapeLimits {
            max_depth: 5,
            max_values: 1_000,
        };
        // {"signed":{"a":[[ 1 ]]}}: object, object, array, array = depth 4.
        let ok = r#"{"signed":{"a":[[[1]]]}}"#;
        check_shape(ok.as_bytes(), &limits).unwrap();
        let deep = r#"{"signed":{"a":[[[[1]]]]}}"#;
        assert_eq!(
            check_shape(deep.as_bytes(), &limits),
            Err(ShapeError::TooDeep { max_depth: 5 })
        );
        // Far deeper than serde_json's own recursion limit still fails cleanly.
        let abyss = format!(
            r#"{{"signed":{{"a":{}{}}}}}"#,
            "[".repeat(100_000),
            "]".repeat(100_000)
        );
        assert_eq!(check(&abyss), Err(ShapeError::TooDeep { max_depth: 32 }));
    }

    #[test]
    fn values_are_counted_and_bounded() {
        let limits = ShapeLimits {
            max_depth: 32,
            max_values: 10,
        };
        // object, "signed", object, "version", 1, "x", array, 0, 0 = 9 values.
        check_shape(br#"{"signed":{"version":1,"x":[0,0]}}"#, &limits).unwrap();
        check_shape(br#"{"signed":{"version":1,"x":[0,0,0]}}"#, &limits).unwrap();
        assert_eq!(
            check_shape(br#"{"signed":{"version":1,"x":[0,0,0,0]}}"#, &limits),
            Err(ShapeError::TooManyValues { max_values: 10 })
        );
        // The limit stops the walk: the rest of a huge document is never read, so even
        // invalid JSON after the limit reports the limit.
        let mut huge = br#"{"signed":{"x":["#.to_vec();
        huge.extend(std::iter::repeat_n(&b"0,"[..], 1_000_000).flatten());
        huge.extend_from_slice(b"oops");
        assert_eq!(
            check_shape(&huge, &ShapeLimits::default()),
            Err(ShapeError::TooManyValues {
                max_values: 500_000
            })
        );
    }
}
