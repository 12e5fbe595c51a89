//! Routing and error shapes without a socket (`Router::oneshot`).

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use tower::ServiceExt;

async fn app() -> (axum::Router, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let config = sealdrop_server::Config::with_data_dir(dir.path().join("data"));
    let state = sealdrop_server::open_state(config, Arc::new(sealdrop_server::clock::SystemClock))
        .await
        .unwrap();
    (sealdrop_server::app(state), dir)
}

async fn call(router: &axum::Router, req: Request<Body>) -> (StatusCode, serde_json::Value) {
    let resp = router.clone().oneshot(req).await.unwrap();
    let status = resp.status();
    let body = axum::body::to_bytes(resp.into_body(), 1 << 20)
        .await
        .unwrap();
    (
        status,
        serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null),
    )
}

#[tokio::test]
async fn every_error_is_json_with_a_stable_code() {
    let (router, _dir) = app().await;
    let cases = [
        (
            Request::get("/nope").body(Body::empty()).unwrap(),
            404,
            "not_found",
        ),
        (
            Request::get("/api/exists/xyz").body(Body::empty()).unwrap(),
            404,
            "not_found",
        ),
        (
            Request::post("/api/info/0123456789abcdef")
                .body(Body::from("{"))
                .unwrap(),
            400,
            "bad_request",
        ),
        (
            Request::post("/api/upload").body(Body::from("x")).unwrap(),
            400,
            "bad_request",
        ),
    ];
    for (req, status, code) in cases {
        let uri = req.uri().clone();
        let (s, body) = call(&router, req).await;
        assert_eq!(s.as_u16(), status, "{uri}");
        assert_eq!(body["error"], code, "{uri}");
        assert!(
            body["message"].as_str().is_some_and(|m| !m.is_empty()),
            "{uri}"
        );
    }
}

#[tokio::test]
async fn a_websocket_route_without_upgrade_is_a_client_error() {
    let (router, _dir) = app().await;
    let resp = router
        .oneshot(Request::get("/api/ws").body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert!(resp.status().is_client_error());
}
