//! The HTTP API's errors and their one mapping to Notary's wire format.
//!
//! Every error answers with the docker/distribution `errcode` envelope Notary clients
//! parse: `{"errors":[{"code":…,"message":…,"detail":…}]}`. 4xx answers carry a public
//! detail; 5xx answers never carry internal detail (it goes to the log).

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::{Value, json};
use signet_core::UpdateError;

/// An API failure.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ApiError {
    /// A multipart part without a file name.
    #[error("no file name in upload part")]
    NoFilename,
    /// A part named after a role that does not exist.
    #[error("invalid role {0:?}")]
    InvalidRole(String),
    /// A part that is not JSON metadata.
    #[error("malformed JSON in upload")]
    MalformedJson,
    /// A body that is not a multipart form, or too large.
    #[error("malformed upload: {0}")]
    MalformedUpload(String),
    /// The update fails validation.
    #[error(transparent)]
    InvalidUpdate(#[from] UpdateError),
    /// A stored version is at least as new as an uploaded one.
    #[error("a newer version of metadata is already stored")]
    Version,
    /// Nothing stored under that name.
    #[error("metadata not found")]
    NotFound,
    /// Unknown route.
    #[error("no such route")]
    NoRoute,
    /// The GUN is outside the configured prefixes.
    #[error("GUN not allowed: {0}")]
    InvalidGun(String),
    /// Bad query parameters.
    #[error("invalid parameters: {0}")]
    InvalidParameters(String),
    /// Authentication failed; the challenge header value and scope detail.
    #[error("unauthorized")]
    Unauthorized {
        /// `WWW-Authenticate` value.
        challenge: String,
        /// Requested access, for the body.
        detail: Value,
    },
    /// Storing the update failed.
    #[error("update failed: {0}")]
    Updating(String),
    /// Too much work in progress to take this request now; the client may retry.
    #[error("busy: {0}")]
    Busy(String),
    /// Any other server-side failure.
    #[error("internal error: {0}")]
    Internal(String),
}

#[derive(Serialize)]
struct Envelope<'a> {
    errors: [Entry<'a>; 1],
}

#[derive(Serialize)]
struct Entry<'a> {
    code: &'a str,
    message: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    detail: Option<Value>,
}

impl ApiError {
    fn parts(&self) -> (StatusCode, &'static str, &'static str, Option<Value>) {
        use StatusCode as S;
        match self {
            Self::NoFilename => (
                S::BAD_REQUEST,
                "NO_FILENAME",
                "No file/role name provided.",
                None,
            ),
            Self::InvalidRole(r) => (
                S::BAD_REQUEST,
                "INVALID_ROLE",
                "The role you are attempting to operate on is invalid.",
                Some(json!(r)),
            ),
            Self::MalformedJson => (
                S::BAD_REQUEST,
                "MALFORMED_JSON",
                "JSON sent by the client could not be parsed by the server",
                None,
            ),
            Self::MalformedUpload(why) => (
                S::BAD_REQUEST,
                "MALFORMED_UPLOAD",
                "The body of your request is malformed.",
                Some(json!(why)),
            ),
            Self::InvalidUpdate(e) => {
                let mut err = json!({ "Msg": e.message() });
                if let UpdateError::BadHierarchy { missing, .. } = e {
                    err["Missing"] = json!(missing);
                }
                (
                    S::BAD_REQUEST,
                    "INVALID_UPDATE",
                    "Update sent by the client is invalid.",
                    Some(json!({ "Name": e.notary_name(), "Error": err })),
                )
            }
            Self::Version => (
                S::BAD_REQUEST,
                "VERSION",
                "A newer version of metadata is already available.",
                Some(json!({})),
            ),
            Self::NotFound => (
                S::NOT_FOUND,
                "METADATA_NOT_FOUND",
                "You have requested metadata that does not exist.",
                Some(json!({})),
            ),
            Self::NoRoute => (
                S::NOT_FOUND,
                "METADATA_NOT_FOUND",
                "You have requested metadata that does not exist.",
                None,
            ),
            Self::InvalidGun(d) => (
                S::BAD_REQUEST,
                "INVALID_GUN",
                "The server does not support actions on images of this name.",
                Some(json!(d)),
            ),
            Self::InvalidParameters(d) => (
                S::BAD_REQUEST,
                "INVALID_PARAMETERS",
                "The parameters provided are not valid.",
                Some(json!(d)),
            ),
            Self::Unauthorized { detail, .. } => (
                S::UNAUTHORIZED,
                "UNAUTHORIZED",
                "authentication required",
                Some(detail.clone()),
            ),
            Self::Updating(_) => (
                S::INTERNAL_SERVER_ERROR,
                "UPDATING",
                "An error has occurred while updating the TUF repository.",
                None,
            ),
            Self::Busy(why) => (
                S::SERVICE_UNAVAILABLE,
                "UNAVAILABLE",
                "service unavailable",
                Some(json!(why)),
            ),
            Self::Internal(_) => (S::INTERNAL_SERVER_ERROR, "UNKNOWN", "unknown error", None),
        }
    }
}

impl IntoResponse for ApiError {
    // The error envelope is a response body, not signed data.
    #[allow(clippy::disallowed_methods)]
    fn into_response(self) -> Response {
        let (status, code, message, detail) = self.parts();
        if status.is_server_error() {
            tracing::error!(error = %self, "request failed");
        }
        let mut body = serde_json::to_vec(&Envelope {
            errors: [Entry {
                code,
                message,
                detail,
            }],
        })
        .unwrap_or_default();
        body.push(b'\n');
        let mut resp = (status, body).into_response();
        resp.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json; charset=utf-8"),
        );
        if let Self::Unauthorized { challenge, .. } = &self
            && let Ok(v) = HeaderValue::from_str(challenge)
        {
            resp.headers_mut().insert(header::WWW_AUTHENTICATE, v);
        }
        resp
    }
}
