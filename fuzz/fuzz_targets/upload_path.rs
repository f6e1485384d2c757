//! The multipart upload path (`signet_server::http::parse_uploads`, what
//! `POST /v2/{gun}/_trust/tuf/` runs once the body is read), on a single-threaded tokio
//! runtime.
//!
//! Properties: an accepted upload has valid, distinct role names and every part is JSON
//! with a non-null `signed`; a well-formed body (token boundary, parts named after
//! distinct roles holding pool documents) is accepted, part for part, in order.
#![no_main]

use std::collections::BTreeSet;
use std::sync::OnceLock;

use arbitrary::Arbitrary;
use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use serde_json::Value;
use signet_core::RoleName;
use signet_fuzz::POOL;
use signet_server::http::parse_uploads;
use tokio::runtime::{Builder, Runtime};

#[derive(Arbitrary, Debug)]
struct Input {
    boundary: String,
    content_type: ContentType,
    body: Body,
}

#[derive(Arbitrary, Debug)]
enum ContentType {
    Plain,
    Quoted,
    WithCharset,
    Raw(String),
}

#[derive(Arbitrary, Debug)]
enum Body {
    Raw(Vec<u8>),
    Parts {
        parts: Vec<Part>,
        preamble: Vec<u8>,
        close: bool,
        epilogue: Vec<u8>,
    },
}

#[derive(Arbitrary, Debug)]
struct Part {
    file_name: FileName,
    content: Content,
    extra_header: Option<(String, String)>,
}

#[derive(Arbitrary, Debug)]
enum FileName {
    Missing,
    Role(u8, bool),
    Raw(String),
}

#[derive(Arbitrary, Debug)]
enum Content {
    Pool(u8),
    Raw(Vec<u8>),
}

const ROLES: [&str; 7] = [
    "root",
    "targets",
    "snapshot",
    "timestamp",
    "targets/releases",
    "targets/releases/sub",
    "targets/a-b_c/0",
];

fn runtime() -> &'static Runtime {
    static RT: OnceLock<Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        Builder::new_current_thread()
            .build()
            .expect("tokio runtime")
    })
}

fuzz_target!(|input: Input| {
    let token: String = input
        .boundary
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .take(70)
        .collect();
    let boundary = if token.is_empty() {
        "B".to_owned()
    } else {
        token
    };
    let (content_type, well_formed_ct) = match &input.content_type {
        ContentType::Plain => (format!("multipart/form-data; boundary={boundary}"), true),
        ContentType::Quoted => (
            format!("multipart/form-data; boundary=\"{boundary}\""),
            true,
        ),
        ContentType::WithCharset => (
            format!("multipart/form-data; charset=utf-8; boundary={boundary}"),
            true,
        ),
        ContentType::Raw(s) => (s.clone(), false),
    };

    // Build the body, and the uploads a correct parser must return if it is well formed.
    let mut expected: Option<Vec<(String, Vec<u8>)>> = Some(Vec::new());
    let body: Vec<u8> = match &input.body {
        Body::Raw(b) => {
            expected = None;
            b.clone()
        }
        Body::Parts {
            parts,
            preamble,
            close,
            epilogue,
        } => {
            let mut out = Vec::new();
            // A preamble is ignored by multipart parsers unless it looks like a boundary.
            if !preamble.is_empty() {
                expected = None;
                out.extend_from_slice(preamble);
                out.extend_from_slice(b"\r\n");
            }
            for part in parts.iter().take(8) {
                out.extend_from_slice(format!("--{boundary}\r\n").as_bytes());
                let disposition = match &part.file_name {
                    FileName::Missing => {
                        expected = None;
                        "form-data; name=\"files\"".to_owned()
                    }
                    FileName::Role(i, ext) => {
                        let role = ROLES[usize::from(*i) % ROLES.len()];
                        let suffix = if *ext { ".json" } else { "" };
                        format!("form-data; name=\"files\"; filename=\"{role}{suffix}\"")
                    }
                    FileName::Raw(s) => {
                        expected = None;
                        format!("form-data; name=\"files\"; filename=\"{s}\"")
                    }
                };
                out.extend_from_slice(b"Content-Disposition: ");
                out.extend_from_slice(disposition.as_bytes());
                out.extend_from_slice(b"\r\n");
                if let Some((k, v)) = &part.extra_header {
                    expected = None;
                    out.extend_from_slice(format!("{k}: {v}\r\n").as_bytes());
                }
                out.extend_from_slice(b"\r\n");
                let content: Vec<u8> = match &part.content {
                    Content::Pool(i) => POOL[usize::from(*i) % POOL.len()].1.to_vec(),
                    Content::Raw(b) => {
                        expected = None;
                        b.clone()
                    }
                };
                out.extend_from_slice(&content);
                out.extend_from_slice(b"\r\n");
                if let (Some(exp), FileName::Role(i, _)) = (expected.as_mut(), &part.file_name) {
                    exp.push((ROLES[usize::from(*i) % ROLES.len()].to_owned(), content));
                }
            }
            if *close {
                out.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
                out.extend_from_slice(epilogue);
            } else {
                expected = None;
            }
            out
        }
    };
    if !well_formed_ct {
        expected = None;
    }
    // Duplicate roles are rejected by design.
    if let Some(exp) = &expected {
        let distinct: BTreeSet<&str> = exp.iter().map(|(r, _)| r.as_str()).collect();
        if distinct.len() != exp.len() {
            expected = None;
        }
    }

    let result = runtime().block_on(parse_uploads(&content_type, Bytes::from(body)));

    if let Ok(uploads) = &result {
        let mut seen = BTreeSet::new();
        for u in uploads {
            assert_eq!(RoleName::parse(u.role.as_str()).as_ref(), Ok(&u.role));
            assert!(
                seen.insert(u.role.clone()),
                "role {} accepted twice",
                u.role
            );
            let v: Value = serde_json::from_slice(&u.bytes).expect("accepted part is not JSON");
            let signed = v.get("signed").expect("accepted part has no `signed`");
            assert!(!signed.is_null(), "accepted part has `signed: null`");
        }
    }
    if let Some(exp) = expected {
        let uploads = result.unwrap_or_else(|e| panic!("well-formed upload rejected: {e}"));
        let got: Vec<(String, Vec<u8>)> = uploads
            .into_iter()
            .map(|u| (u.role.as_str().to_owned(), u.bytes))
            .collect();
        assert_eq!(got, exp);
    }
});
