//! What every request passes before a handler sees it, in this order:
//!
//! 1. **Host** must be exactly one of the names the server answers to (`127.0.0.1:PORT`,
//!    `localhost:PORT`, the bound address, and `--allow-host` names), compared whole: no
//!    suffix or subdomain wildcard, so a DNS-rebinding page (`evil.com` resolving to
//!    127.0.0.1) is refused — the class of Ollama's CVE-2024-28224. Missing Host: 400.
//! 2. **Origin**, when a browser sends one, must be `http://` + one of those names; anything
//!    else (another site, `null`), preflight included, gets 403 and no CORS headers are ever
//!    sent, so no other page can read an answer.
//! 3. **Authorization: Bearer KEY**, compared in constant time (`subtle`); the key is never
//!    logged. `/health` needs no key.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use subtle::ConstantTimeEq;

use super::error::ApiError;

/// The rules of one server.
#[derive(Debug)]
pub struct Guard {
    /// Host header values accepted (lower case, with the port).
    pub hosts: Vec<String>,
    /// The API key.
    pub key: String,
}

impl Guard {
    fn host_ok(&self, host: &str) -> bool {
        let host = host.to_ascii_lowercase();
        self.hosts.contains(&host)
    }

    fn origin_ok(&self, origin: &str) -> bool {
        origin
            .strip_prefix("http://")
            .is_some_and(|rest| self.host_ok(rest))
    }

    fn key_ok(&self, auth: Option<&str>) -> bool {
        let Some(given) = auth.and_then(|a| a.strip_prefix("Bearer ")) else {
            return false;
        };
        bool::from(given.trim().as_bytes().ct_eq(self.key.as_bytes()))
    }

    /// The checks, as a response when one fails.
    fn check(&self, req: &Request) -> Result<(), ApiError> {
        let h = req.headers();
        let header_str = |name| h.get(name).map(|v| v.to_str().unwrap_or("\u{fffd}"));
        let Some(host) = header_str(header::HOST) else {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "the request has no Host header",
            ));
        };
        if !self.host_ok(host) {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "this server answers only to its own address (Host header refused); \
                 start it with --allow-host NAME:PORT to add a name",
            ));
        }
        if let Some(origin) = header_str(header::ORIGIN)
            && !self.origin_ok(origin)
        {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "requests from other origins are refused",
            ));
        }
        if req.method() == Method::OPTIONS || req.uri().path() == "/health" {
            return Ok(());
        }
        if !self.key_ok(header_str(header::AUTHORIZATION)) {
            return Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                "missing or wrong API key: send Authorization: Bearer KEY (the key kiln serve \
                 printed at start, or the one in --api-key-file / KILN_API_KEY)",
            ));
        }
        Ok(())
    }
}

/// The middleware.
pub async fn guard(State(g): State<Arc<Guard>>, req: Request, next: Next) -> Response {
    match g.check(&req) {
        Err(e) => e.into_response(),
        // A same-origin preflight needs no CORS headers; none are sent.
        Ok(()) if req.method() == Method::OPTIONS => StatusCode::NO_CONTENT.into_response(),
        Ok(()) => next.run(req).await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn guard() -> Guard {
        Guard {
            hosts: vec!["127.0.0.1:8088".into(), "localhost:8088".into()],
            key: "k3y".into(),
        }
    }

    #[test]
    fn hosts_are_compared_whole() {
        let g = guard();
        for ok in ["127.0.0.1:8088", "localhost:8088", "LOCALHOST:8088"] {
            assert!(g.host_ok(ok), "{ok}");
        }
        for bad in [
            "evil.com",
            "localhost.evil.com:8088",
            "x.localhost:8088",
            "localhost",
            "127.0.0.1:8089",
            "kiln.local:8088",
            "127.0.0.1:8088.evil.com",
        ] {
            assert!(!g.host_ok(bad), "{bad}");
        }
        assert!(g.origin_ok("http://localhost:8088"));
        assert!(!g.origin_ok("https://localhost:8088.evil.com"));
        assert!(!g.origin_ok("null"));
    }

    #[test]
    fn keys_must_match_exactly() {
        let g = guard();
        assert!(g.key_ok(Some("Bearer k3y")));
        for bad in [
            None,
            Some("k3y"),
            Some("Bearer k3"),
            Some("Bearer k3yy"),
            Some("Basic k3y"),
        ] {
            assert!(!g.key_ok(bad), "{bad:?}");
        }
    }
}
