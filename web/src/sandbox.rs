//! Test runs in the browser: each test block runs with the code in a throwaway worker (a fresh
//! Pyodide — CPython in wasm — for Python, a classic worker for JavaScript) with no network or
//! storage, under a wall-clock limit enforced by `terminate()`. The scripts are
//! [`crate::logic::js_test_script`] and [`crate::logic::py_test_script`].

use std::cell::RefCell;
use std::rc::Rc;

use js_sys::{Array, Function, Promise, Reflect};
use kiln_engine::post::Language;
use kiln_engine::post::sandbox::{Outcome, Verdict};
use wasm_bindgen::closure::Closure;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{Blob, BlobPropertyBag, MessageEvent, Url, Worker, WorkerOptions, WorkerType};

use crate::logic::{js_test_script, py_test_script};
use crate::page::{app_base, set_timeout};

/// Wall-clock limit of one browser test run, from the moment its runtime is ready.
pub const TEST_TIMEOUT_MS: i32 = 3_000;
/// How long a test worker may take to get ready (Pyodide loads ~13 MB).
const START_TIMEOUT_MS: i32 = 60_000;

/// Whether the browser can run tests for code in `lang`.
pub fn can_test(lang: Language) -> bool {
    matches!(lang, Language::Python | Language::JavaScript)
}

/// Runs one test block against `code`: `(verdict, message)` with the verdict "pass", "fail",
/// "timeout" or "error".
pub async fn run_one(lang: Language, code: &str, test: &str) -> (String, String) {
    if lang == Language::Python {
        run_test(py_test_script(&app_base(), code, test), true).await
    } else {
        run_test(js_test_script(code, test), false).await
    }
}

/// A browser verdict as the engine's sandbox reports one, so that the lab classifies samples the
/// same way natively and here.
pub fn to_verdict(test: &str, verdict: &str, message: &str, wall_ms: u64) -> Verdict {
    Verdict {
        test: test.to_string(),
        outcome: match verdict {
            "pass" => Outcome::Pass,
            "fail" => Outcome::Fail,
            "timeout" => Outcome::Timeout,
            _ => Outcome::Error,
        },
        kind: None,
        message: message.to_string(),
        line: None,
        output: String::new(),
        wall_ms,
    }
}

/// A verdict object, as a test worker would post it.
fn verdict(verdict: &str, message: &str) -> JsValue {
    let o = js_sys::Object::new();
    let _ = Reflect::set(&o, &"verdict".into(), &verdict.into());
    let _ = Reflect::set(&o, &"message".into(), &message.into());
    o.into()
}

/// Runs one test script (see `logic::js_test_script`, `logic::py_test_script`) in a throwaway
/// worker, a module worker when `module`; `(verdict, message)`. The time limit starts when the
/// worker says it is ready (Pyodide takes seconds to load); the worker is always terminated.
async fn run_test(script: String, module: bool) -> (String, String) {
    let opts = BlobPropertyBag::new();
    opts.set_type("text/javascript");
    let parts = Array::of1(&JsValue::from_str(&script));
    let Ok(blob) = Blob::new_with_str_sequence_and_options(&parts, &opts) else {
        return ("error".into(), "cannot make the test script".into());
    };
    let Ok(url) = Url::create_object_url_with_blob(&blob) else {
        return ("error".into(), "cannot make the test script's URL".into());
    };
    let worker_opts = WorkerOptions::new();
    if module {
        worker_opts.set_type(WorkerType::Module);
    }
    let worker = match Worker::new_with_options(&url, &worker_opts) {
        Ok(w) => w,
        Err(e) => return ("error".into(), format!("cannot start a test worker: {e:?}")),
    };
    let resolve: Rc<RefCell<Option<Function>>> = Rc::default();
    let settle = {
        let resolve = resolve.clone();
        move |v: JsValue| {
            if let Some(r) = resolve.borrow_mut().take() {
                let _ = r.call1(&JsValue::UNDEFINED, &v);
            }
        }
    };
    let on_message = {
        let settle = settle.clone();
        Closure::<dyn FnMut(MessageEvent)>::new(move |ev: MessageEvent| {
            let data = ev.data();
            let phase = Reflect::get(&data, &"phase".into())
                .ok()
                .and_then(|p| p.as_string());
            if phase.as_deref() == Some("ready") {
                let settle = settle.clone();
                set_timeout(TEST_TIMEOUT_MS, move || {
                    let why = format!("no result within {} s", TEST_TIMEOUT_MS / 1000);
                    settle(verdict("timeout", &why));
                });
            } else {
                settle(data);
            }
        })
    };
    let on_error = {
        let settle = settle.clone();
        Closure::<dyn FnMut(JsValue)>::new(move |ev: JsValue| {
            let message = Reflect::get(&ev, &"message".into())
                .ok()
                .and_then(|m| m.as_string())
                .unwrap_or_else(|| "the test worker failed".into());
            settle(verdict("error", &message));
        })
    };
    worker.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
    worker.set_onerror(Some(on_error.as_ref().unchecked_ref()));
    let done = Promise::new(&mut |r: Function, _reject: Function| {
        *resolve.borrow_mut() = Some(r);
    });
    {
        let settle = settle.clone();
        set_timeout(START_TIMEOUT_MS, move || {
            let why = format!(
                "the test runtime did not start within {} s",
                START_TIMEOUT_MS / 1000
            );
            settle(verdict("timeout", &why));
        });
    }
    let result = JsFuture::from(done).await.unwrap_or_default();
    worker.terminate();
    // The handlers are dropped below: detach them first.
    worker.set_onmessage(None);
    worker.set_onerror(None);
    let _ = Url::revoke_object_url(&url);
    let field = |k: &str| {
        Reflect::get(&result, &JsValue::from_str(k))
            .ok()
            .and_then(|v| v.as_string())
            .unwrap_or_default()
    };
    (field("verdict"), field("message"))
}
