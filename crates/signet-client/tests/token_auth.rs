//! Token authentication as a registry's token service does it: a `401` with a `Bearer`
//! challenge, a token fetched from the realm with notary's `NOTARY_AUTH` credentials and
//! the GUN's scope, the request repeated with the token.

use std::sync::{Arc, Mutex};

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use signet_client::{
    Client, ClientError, Credentials, MemoryCache, Pinning, Transport, TransportConfig,
};

/// One token request: `service|scope` and the Authorization header sent.
type TokenQuery = (String, Option<String>);

#[derive(Clone, Default)]
struct Seen {
    token_queries: Arc<Mutex<Vec<TokenQuery>>>,
    base: Arc<Mutex<String>>,
}

async fn metadata(State(s): State<Seen>, headers: HeaderMap) -> impl IntoResponse {
    let auth = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    if auth == Some("Bearer good-token") {
        return (
            StatusCode::NOT_FOUND,
            HeaderMap::new(),
            "no such repository",
        )
            .into_response();
    }
    let realm = format!("{}/token", s.base.lock().unwrap());
    let mut h = HeaderMap::new();
    h.insert(
        header::WWW_AUTHENTICATE,
        format!(r#"Bearer realm="{realm}",service="notary-test""#)
            .parse()
            .unwrap(),
    );
    (StatusCode::UNAUTHORIZED, h, "").into_response()
}

async fn token(
    State(s): State<Seen>,
    Query(q): Query<std::collections::HashMap<String, String>>,
    headers: HeaderMap,
) -> impl IntoResponse {
    let basic = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    s.token_queries.lock().unwrap().push((
        format!(
            "{}|{}",
            q.get("service").cloned().unwrap_or_default(),
            q.get("scope").cloned().unwrap_or_default()
        ),
        basic.clone(),
    ));
    // base64("alice:secret")
    if basic.as_deref() == Some("Basic YWxpY2U6c2VjcmV0") {
        (StatusCode::OK, r#"{"token":"good-token"}"#).into_response()
    } else {
        (StatusCode::UNAUTHORIZED, "bad credentials").into_response()
    }
}

#[tokio::test]
async fn bearer_challenge_is_answered_with_a_token_from_the_realm() {
    let seen = Seen::default();
    let app = axum::Router::new()
        .route("/token", get(token))
        .route("/v2/{*rest}", get(metadata))
        .with_state(seen.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    *seen.base.lock().unwrap() = base.clone();
    tokio::spawn(async move { axum::serve(listener, app).await });

    let client = |creds: Option<Credentials>| {
        let mut tc = TransportConfig::new(base.clone(), None);
        tc.credentials = creds;
        Client::new(
            Transport::new(&tc).unwrap(),
            Pinning::Tofu,
            Arc::new(MemoryCache::new()),
        )
    };
    let gun = "example.com/app";

    // without credentials the token service refuses: the 401 is what the caller sees
    let err = client(None).verify_gun(gun).await.unwrap_err();
    assert!(
        matches!(err, ClientError::Status { status: 401, .. }),
        "{err}"
    );

    // with NOTARY_AUTH credentials the request goes through (here to a 404)
    let creds = Credentials::from_notary_auth("YWxpY2U6c2VjcmV0").unwrap();
    let err = client(Some(creds)).verify_gun(gun).await.unwrap_err();
    assert!(
        matches!(err, ClientError::RepositoryNotFound { .. }),
        "{err}"
    );

    let q = seen.token_queries.lock().unwrap();
    assert_eq!(q.len(), 2);
    assert_eq!(q[1].0, format!("notary-test|repository:{gun}:pull"));
    assert_eq!(q[0].1, None, "no credentials were sent without NOTARY_AUTH");
}
