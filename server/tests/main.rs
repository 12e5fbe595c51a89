//! The server's tests over real sockets on 127.0.0.1 (one test binary, several modules).
#![allow(
    unreachable_pub,
    reason = "test helpers are shared between modules of one test binary"
)]

mod support;

mod api;
mod bad_input;
mod conn;
mod headers;
mod healthcheck;
mod http_close;
mod infra;
mod lifecycle;
mod limits;
mod metrics;
mod ranges;
mod report;
mod router;
mod scale;
mod security_txt;
mod sweeper;
mod tls;
mod upload_auth;
mod web;
mod ws_close;
