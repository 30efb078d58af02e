//! The UI's files, embedded at build time (build.rs, from scripts/web_build.sh's `dist/`), served
//! on the app's own scheme `kiln://localhost/` with their MIME types and a Content-Security-Policy;
//! and the one test of whether a URL is the app's own, which navigation and IPC both use.

use std::borrow::Cow;

use wry::http::{Response, StatusCode, Uri, header};

include!(concat!(env!("OUT_DIR"), "/app_assets.rs"));

/// The scheme the UI is served on.
pub const SCHEME: &str = "kiln";
/// The page the window opens.
pub const START: &str = "kiln://localhost/index.html";

/// What the page may do. Scripts, styles, wasm, workers and fetches come from the app itself
/// only — no network at all (`connect-src 'self'`), so neither the UI nor generated code under
/// test can reach a server; no plugins, frames, forms or `<base>`. `'wasm-unsafe-eval'` compiles
/// the UI's wasm and Pyodide; `'unsafe-eval'` is there because the test sandbox compiles
/// generated JavaScript with `new Function` inside a throwaway worker, and a `blob:` worker
/// inherits the page's policy; `blob:` workers are how test runs start. Inline style attributes
/// (the charts' SVG) are allowed; inline scripts are not.
pub const CSP: &str = "default-src 'self'; \
     script-src 'self' 'wasm-unsafe-eval' 'unsafe-eval' blob:; \
     worker-src 'self' blob:; connect-src 'self'; img-src 'self' data: blob:; \
     style-src 'self' 'unsafe-inline'; object-src 'none'; frame-src 'none'; \
     base-uri 'none'; form-action 'none'";

/// Whether the UI was embedded in this binary.
pub fn embedded() -> bool {
    ASSETS.iter().any(|(p, _)| *p == "index.html")
}

/// The bytes of the asset at `path` ("index.html", "pyodide/pyodide.mjs"), if there is one.
pub fn get(path: &str) -> Option<&'static [u8]> {
    ASSETS.iter().find(|(p, _)| *p == path).map(|(_, b)| *b)
}

/// The MIME type of an asset, by its extension (modules and wasm are refused by WebKit without
/// the right one).
pub fn mime(path: &str) -> &'static str {
    match path.rsplit('.').next().unwrap_or_default() {
        "html" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "wasm" => "application/wasm",
        "css" => "text/css; charset=utf-8",
        "json" => "application/json",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "zip" => "application/zip",
        _ => "application/octet-stream",
    }
}

/// Whether `url` is one of the app's pages or its `blob:` URLs: scheme `kiln`, host exactly
/// `localhost`. Anything else (another scheme, `kiln://localhost.evil/`, `http://localhost/`,
/// a `data:` URL) is not.
pub fn is_app_url(url: &str) -> bool {
    let url = url.strip_prefix("blob:").unwrap_or(url);
    url.parse::<Uri>()
        .is_ok_and(|u| u.scheme_str() == Some(SCHEME) && u.host() == Some("localhost"))
}

/// The answer to a request on the app's scheme: the asset with its type and the policy, 404 for
/// a path that is not there, 403 for a request that is not the app's own.
pub fn respond(uri: &Uri) -> Response<Cow<'static, [u8]>> {
    let build = |status: StatusCode, mime: &str, body: Cow<'static, [u8]>| {
        Response::builder()
            .status(status)
            .header(header::CONTENT_TYPE, mime)
            .header(header::CONTENT_SECURITY_POLICY, CSP)
            .header("X-Content-Type-Options", "nosniff")
            .header(header::CACHE_CONTROL, "no-store")
            .body(body)
            .unwrap_or_else(|_| Response::new(Cow::Borrowed(&[][..])))
    };
    if !is_app_url(&uri.to_string()) {
        return build(
            StatusCode::FORBIDDEN,
            "text/plain",
            Cow::Borrowed(b"forbidden"),
        );
    }
    let path = uri.path().trim_start_matches('/');
    let path = if path.is_empty() { "index.html" } else { path };
    match get(path) {
        Some(bytes) => build(StatusCode::OK, mime(path), Cow::Borrowed(bytes)),
        None => build(
            StatusCode::NOT_FOUND,
            "text/plain",
            Cow::Owned(format!("{path}: not in this build of kiln app").into_bytes()),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_apps_own_urls_are_its_own() {
        for ok in [
            "kiln://localhost/index.html",
            "kiln://localhost/",
            "kiln://localhost/pyodide/pyodide.mjs?x=1",
            "blob:kiln://localhost/3f1c9a2e-0000-4000-8000-000000000000",
        ] {
            assert!(is_app_url(ok), "{ok}");
        }
        for bad in [
            "http://localhost/index.html",
            "https://localhost/",
            "kiln://localhost.evil.com/index.html",
            "kiln://evil.com/index.html",
            "kiln://x.localhost/",
            "kiln://localhost:8080@evil.com/",
            "blob:https://evil.com/3f1c",
            "data:text/html,<script>1</script>",
            "about:blank",
            "file:///etc/passwd",
            "",
        ] {
            assert!(!is_app_url(bad), "{bad}");
        }
    }

    #[test]
    fn assets_have_their_types_and_the_policy() {
        assert_eq!(mime("kiln-web_bg.wasm"), "application/wasm");
        assert_eq!(
            mime("pyodide/pyodide.mjs"),
            "text/javascript; charset=utf-8"
        );
        assert_eq!(mime("index.html"), "text/html; charset=utf-8");
        assert_eq!(mime("pyodide/python_stdlib.zip"), "application/zip");
        let missing = respond(&Uri::from_static("kiln://localhost/nothing.js"));
        assert_eq!(missing.status(), StatusCode::NOT_FOUND);
        assert_eq!(
            missing.headers()[header::CONTENT_SECURITY_POLICY]
                .to_str()
                .ok(),
            Some(CSP)
        );
        let foreign = respond(&Uri::from_static("kiln://evil.com/index.html"));
        assert_eq!(foreign.status(), StatusCode::FORBIDDEN);
        assert!(CSP.contains("connect-src 'self'") && CSP.contains("object-src 'none'"));
        let script_src = CSP.split(';').find(|d| d.trim().starts_with("script-src"));
        assert!(
            script_src.is_some_and(|d| !d.contains("unsafe-inline")),
            "{script_src:?}"
        );
    }

    #[test]
    fn the_embedded_ui_is_served_whole_when_there_is_one() {
        if !embedded() {
            assert!(
                std::env::var_os("KILN_REQUIRE_APP").is_none(),
                "KILN_REQUIRE_APP is set but this build embeds no UI: run scripts/web_build.sh first"
            );
            eprintln!("skipped: this build embeds no UI (no dist/ when it was compiled)");
            return;
        }
        for p in [
            "index.html",
            "kiln-start.js",
            "kiln-web.js",
            "kiln-web_bg.wasm",
            "style.css",
        ] {
            let r = respond(&format!("kiln://localhost/{p}").parse().unwrap_or_default());
            assert_eq!(r.status(), StatusCode::OK, "{p}");
            assert_eq!(
                r.headers()[header::CONTENT_TYPE].to_str().ok(),
                Some(mime(p))
            );
            assert!(!r.body().is_empty(), "{p}");
        }
        assert!(
            get("kiln-worker_bg.wasm").is_none(),
            "the worker is not embedded"
        );
        assert!(ASSETS.iter().all(|(p, _)| !p.starts_with("models/")));
    }
}
