//! Reporting errors: the whole cause, not just the outermost message.
//!
//! Library errors in Signet keep the underlying error as their `source` and leave it out of
//! their own `Display` (so it is not printed twice). A log line must therefore walk the
//! chain, or the cause (`database or disk is full`, `connection refused`) is lost.

/// `err` and every error in its source chain, joined by `": "`. A source whose text the
/// line already ends with (some libraries repeat their inner error's message) is skipped.
///
/// ```
/// let io = std::io::Error::other("disk full");
/// let outer = std::io::Error::new(std::io::ErrorKind::Other, Wrapped(io));
/// # #[derive(Debug)] struct Wrapped(std::io::Error);
/// # impl std::fmt::Display for Wrapped {
/// #     fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result { f.write_str("write failed") }
/// # }
/// # impl std::error::Error for Wrapped {
/// #     fn source(&self) -> Option<&(dyn std::error::Error + 'static)> { Some(&self.0) }
/// # }
/// assert_eq!(signet_service::errors::chain(&outer), "write failed: disk full");
/// ```
pub fn chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut out = err.to_string();
    let mut next = err.source();
    while let Some(e) = next {
        let text = e.to_string();
        if !text.is_empty() && !out.ends_with(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        next = e.source();
    }
    out
}
