//! The page around the app: its URL (query values, the app's base), timers, the colour theme,
//! and files the user saves or opens.

use js_sys::Array;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{Blob, BlobPropertyBag, File, HtmlAnchorElement, Url};

use crate::protocol::StoreChoice;
use kiln_engine::DeviceChoice;

/// The app's URL up to its last `/` (Pyodide is served in `pyodide/` beside it).
pub fn app_base() -> String {
    let href = web_sys::window()
        .and_then(|w| w.location().href().ok())
        .unwrap_or_default();
    let path = href.split(['?', '#']).next().unwrap_or_default();
    match path.rfind('/') {
        Some(i) => path[..=i].to_string(),
        None => path.to_string(),
    }
}

/// The page URL's query, with its `?`.
pub fn location_search() -> String {
    web_sys::window()
        .and_then(|w| w.location().search().ok())
        .unwrap_or_default()
}

/// The value of `name` in the page URL's query, if present.
pub fn query_param(name: &str) -> Option<String> {
    let search = location_search();
    search
        .trim_start_matches('?')
        .split('&')
        .find_map(|p| p.strip_prefix(name)?.strip_prefix('='))
        .map(str::to_string)
}

/// `?device=cpu|gpu|auto` picks the backend (default auto: WebGPU when there is an adapter).
pub fn device_from_url() -> DeviceChoice {
    query_param("device")
        .and_then(|d| d.parse().ok())
        .unwrap_or_default()
}

/// `?store=auto|cache-api|memory`: where downloaded models are kept (default: OPFS, else the
/// Cache API, else memory).
pub fn store_from_url() -> StoreChoice {
    query_param("store")
        .and_then(|s| StoreChoice::from_query(&s))
        .unwrap_or_default()
}

/// Puts `query` (with its `?`) in the address bar without reloading, so that the link
/// reproduces the run.
pub fn replace_query(query: &str) {
    if let Some(w) = web_sys::window()
        && let Ok(h) = w.history()
    {
        let _ = h.replace_state_with_url(&JsValue::NULL, "", Some(query));
    }
}

/// Runs `f` after `ms` milliseconds.
pub fn set_timeout(ms: i32, f: impl FnOnce() + 'static) {
    let f = wasm_bindgen::closure::Closure::once_into_js(f);
    if let Some(w) = web_sys::window() {
        let _ = w.set_timeout_with_callback_and_timeout_and_arguments_0(f.unchecked_ref(), ms);
    }
}

/// Sets the colour theme ("auto", "dark" or "light").
pub fn set_theme(theme: &str) {
    if let Some(root) = web_sys::window()
        .and_then(|w| w.document())
        .and_then(|d| d.document_element())
    {
        let _ = root.set_attribute("data-theme", theme);
    }
}

/// Offers `text` as a download named `name`.
pub fn save_text(name: &str, mime: &str, text: &str) -> Result<(), String> {
    let opts = BlobPropertyBag::new();
    opts.set_type(mime);
    let parts = Array::of1(&JsValue::from_str(text));
    let blob = Blob::new_with_str_sequence_and_options(&parts, &opts)
        .map_err(|e| format!("cannot make the file: {e:?}"))?;
    let url = Url::create_object_url_with_blob(&blob)
        .map_err(|e| format!("cannot make the file's URL: {e:?}"))?;
    let a: HtmlAnchorElement = web_sys::window()
        .and_then(|w| w.document())
        .and_then(|d| d.create_element("a").ok())
        .and_then(|e| e.dyn_into().ok())
        .ok_or("cannot make a download link")?;
    a.set_href(&url);
    a.set_download(name);
    a.click();
    let _ = Url::revoke_object_url(&url);
    Ok(())
}

/// The text of a file the user opened.
pub async fn read_text(file: &File) -> Result<String, String> {
    let text = JsFuture::from(file.text())
        .await
        .map_err(|e| format!("cannot read {}: {e:?}", file.name()))?;
    text.as_string()
        .ok_or_else(|| format!("{} is not text", file.name()))
}
