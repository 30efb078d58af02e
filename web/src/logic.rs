//! The playground's view logic that needs no browser: the texts of status and progress lines, stop
//! strings as typed, the raw ↔ cleaned diff, syntax errors placed on their lines, test blocks and
//! the script that runs one JavaScript test in a throwaway worker. Tested natively.

use kiln_engine::post::{Diagnostic, Language};
use similar::{ChangeTag, TextDiff};

use crate::protocol::{EngineHost, LoadedModel};

/// The languages the selector offers.
pub const LANGUAGES: [Language; 8] = [
    Language::Python,
    Language::JavaScript,
    Language::TypeScript,
    Language::Rust,
    Language::Go,
    Language::C,
    Language::Json,
    Language::Other,
];

/// "download: 42% (41.3 / 98.4 MB)", "load: 12 / 30".
pub fn progress_text(stage: &str, done: u64, total: Option<u64>) -> String {
    let bytes = matches!(stage, "download" | "read" | "cache");
    let amount = |n: u64| {
        if bytes {
            format!("{:.1}", n as f64 / 1e6)
        } else {
            n.to_string()
        }
    };
    let unit = if bytes { " MB" } else { "" };
    match total {
        Some(t) if t > 0 => format!(
            "{stage}: {:.0}% ({} / {}{unit})",
            done as f64 * 100.0 / t as f64,
            amount(done),
            amount(t)
        ),
        _ => format!("{stage}: {}{unit}", amount(done)),
    }
}

/// The one-line summary of a loaded model.
pub fn status_line(m: &LoadedModel) -> String {
    let whence = if m.from_cache {
        "from the browser cache"
    } else if m.storage == "memory" {
        "read into memory"
    } else if m.storage == "disk" {
        "read from disk"
    } else {
        "downloaded"
    };
    format!(
        "ready: {} ({}, {:.0} M params) on {} — {whence} in {:.1} s",
        m.file,
        m.arch,
        m.n_params as f64 / 1e6,
        device_name(m),
        m.load_ms / 1000.0
    )
}

/// "WebGPU: google swiftshader" or "CPU (wasm, Flex)" in the browser; "native CPU, 8 threads"
/// or "native GPU: <adapter> (<type>)" in the desktop app.
pub fn device_name(m: &LoadedModel) -> String {
    match (m.device.backend.as_str(), m.engine) {
        ("cpu", EngineHost::Worker) => return "CPU (wasm, Flex)".into(),
        ("cpu", EngineHost::Native { cpu_threads }) => {
            return format!("native CPU, {cpu_threads} threads");
        }
        (_, EngineHost::Native { .. }) => {
            return format!("native GPU: {} ({})", m.device.name, m.device.adapter_type);
        }
        _ => {}
    }
    match &m.webgpu {
        Some(a) => {
            let name = [&a.vendor, &a.architecture, &a.description]
                .iter()
                .filter(|s| !s.is_empty())
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join(" ");
            format!(
                "WebGPU: {}",
                if name.is_empty() {
                    "unnamed adapter"
                } else {
                    &name
                }
            )
        }
        None => format!("WebGPU: {}", m.device.name),
    }
}

/// The device panel's lines: adapter, f16, limits, and why the CPU was used if it was.
pub fn device_details(m: &LoadedModel) -> Vec<String> {
    let mut lines = vec![format!("backend: {}", device_name(m))];
    if let Some(a) = &m.webgpu {
        lines.push(format!(
            "adapter: vendor {:?}, architecture {:?}, description {:?}{}",
            a.vendor,
            a.architecture,
            a.description,
            if a.is_fallback {
                ", fallback adapter"
            } else {
                ""
            }
        ));
        lines.push(format!(
            "shader-f16: {}; maxBufferSize {:.0} MiB; maxStorageBufferBindingSize {:.0} MiB",
            if a.shader_f16 { "yes" } else { "no" },
            a.max_buffer_size as f64 / 1048576.0,
            a.max_storage_buffer_binding_size as f64 / 1048576.0
        ));
    }
    let whence = if m.storage == "disk" {
        "read from disk".to_string()
    } else {
        format!("cache: {}", m.storage)
    };
    lines.push(format!(
        "largest weight matrix: {:.0} MiB (f32); {whence}",
        m.largest_tensor_bytes as f64 / 1048576.0,
    ));
    if let Some(note) = &m.device.note {
        lines.push(format!("note: {note}"));
    }
    lines
}

/// Stop strings as typed in one field: separated by commas (`\,` for a comma), each with the
/// escapes the CLI's `--stop` takes (`\n`, `\t`, `\r`, `\\`: [`kiln_engine::unescape`]).
/// Empty entries are dropped.
pub fn parse_stops(field: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut chars = field.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some(',') => cur.push(','),
                Some(other) => {
                    cur.push('\\');
                    cur.push(other);
                }
                None => cur.push('\\'),
            },
            ',' => out.push(std::mem::take(&mut cur)),
            c => cur.push(c),
        }
    }
    out.push(cur);
    out.retain(|s| !s.is_empty());
    out.iter().map(|s| kiln_engine::unescape(s)).collect()
}

/// Inverse of [`parse_stops`].
pub fn format_stops(stops: &[String]) -> String {
    stops
        .iter()
        .map(|s| kiln_engine::escape(s).replace(',', "\\,"))
        .collect::<Vec<_>>()
        .join(",")
}

/// One line of a unified diff.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiffLine {
    /// '+', '-' or ' '.
    pub sign: char,
    /// The line, without its newline.
    pub text: String,
}

/// Line diff from the raw model output to the cleaned code.
pub fn diff_lines(raw: &str, cleaned: &str) -> Vec<DiffLine> {
    TextDiff::from_lines(raw, cleaned)
        .iter_all_changes()
        .map(|c| DiffLine {
            sign: match c.tag() {
                ChangeTag::Delete => '-',
                ChangeTag::Insert => '+',
                ChangeTag::Equal => ' ',
            },
            text: c.value().trim_end_matches(['\n', '\r']).to_string(),
        })
        .collect()
}

/// A line of code with the syntax errors that point into it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CodeLine {
    /// 1-based.
    pub number: usize,
    /// The text.
    pub text: String,
    /// (1-based column, message) of each error on this line.
    pub errors: Vec<(usize, String)>,
}

/// Splits `code` into numbered lines and places each diagnostic on its line. One that points past
/// the end (an unexpected end of input) goes on the last line.
pub fn annotate(code: &str, diagnostics: &[Diagnostic]) -> Vec<CodeLine> {
    let code = code.strip_suffix('\n').unwrap_or(code);
    let mut lines: Vec<CodeLine> = code
        .split('\n')
        .enumerate()
        .map(|(i, t)| CodeLine {
            number: i + 1,
            text: t.to_string(),
            errors: Vec::new(),
        })
        .collect();
    for d in diagnostics {
        let at = d.line.clamp(1, lines.len()) - 1;
        if let Some(l) = lines.get_mut(at) {
            l.errors.push((d.column.max(1), d.message.clone()));
        }
    }
    lines
}

/// Tests as typed: blocks separated by blank lines, each one test.
pub fn split_tests(field: &str) -> Vec<String> {
    field
        .replace("\r\n", "\n")
        .split("\n\n")
        .map(|b| b.trim_matches('\n').to_string())
        .filter(|b| !b.trim().is_empty())
        .collect()
}

/// Globals a test worker loses before the code under test runs: network, storage, workers.
const CUT_GLOBALS: &str = r#"for (const name of ["fetch", "XMLHttpRequest", "WebSocket", "EventSource", "importScripts",
    "indexedDB", "caches", "Worker", "SharedWorker", "BroadcastChannel", "WebTransport"]) {
  try { Object.defineProperty(self, name, { value: undefined, configurable: false }); } catch (e) {}
}
try { Object.defineProperty(self.navigator, "storage", { value: undefined }); } catch (e) {}"#;

/// The script of a (classic) worker that runs `code` and then one `test`. It posts
/// `{phase: "ready"}` when the code is about to run (the page's time limit starts then), then
/// `{verdict: "pass"|"fail"|"error", message}`. Network, storage and nested workers are removed
/// from the worker's global scope first; the page enforces the time limit with `terminate()`.
/// `assert` (with Node's `equal`/`strictEqual`/`deepStrictEqual`) and `require('assert')` exist.
pub fn js_test_script(code: &str, test: &str) -> String {
    // serde_json's string literal is a valid JavaScript string literal.
    let source = serde_json::to_string(&format!("{code}\n;\n{test}\n")).unwrap_or_default();
    format!(
        r#""use strict";
const post = self.postMessage.bind(self);
{CUT_GLOBALS}
class AssertionError extends Error {{ constructor(m) {{ super(m); this.name = "AssertionError"; }} }}
const show = (v) => {{ try {{ return JSON.stringify(v); }} catch (e) {{ return String(v); }} }};
function assert(ok, message) {{ if (!ok) throw new AssertionError(message || "assertion failed"); }}
assert.ok = assert;
assert.equal = (a, b, m) => {{ if (a != b) throw new AssertionError(m || `${{show(a)}} != ${{show(b)}}`); }};
assert.strictEqual = (a, b, m) => {{ if (!Object.is(a, b)) throw new AssertionError(m || `${{show(a)}} !== ${{show(b)}}`); }};
assert.deepStrictEqual = assert.deepEqual = (a, b, m) => {{
  if (show(a) !== show(b)) throw new AssertionError(m || `${{show(a)}} is not ${{show(b)}}`); }};
const module = {{ exports: {{}} }};
const require = (name) => {{
  if (name === "assert" || name === "node:assert") return assert;
  throw new Error(`require(${{show(name)}}) is not available in the browser sandbox`);
}};
post({{ phase: "ready" }});
try {{
  new Function("assert", "require", "module", "exports", {source})(assert, require, module, module.exports);
  post({{ verdict: "pass", message: "" }});
}} catch (e) {{
  const message = e instanceof Error ? `${{e.name}}: ${{e.message}}` : String(e);
  post({{ verdict: e instanceof AssertionError ? "fail" : "error", message }});
}}
"#
    )
}

/// The Python side of a browser test: runs the solution and then the test, each compiled under
/// its own file name, in a fresh namespace; returns `(verdict, message)`. A failed `assert`
/// is "fail" with its line; anything else raised (SyntaxError, NameError, RecursionError,
/// MemoryError, SystemExit, …) is "error".
const PY_RUNNER: &str = r#"
import linecache, sys, traceback
def _kiln_run(code, test):
    ns = {"__name__": "__main__"}
    for name, src in (("solution.py", code), ("test.py", test)):
        linecache.cache[name] = (len(src), None, src.splitlines(True), name)
    try:
        exec(compile(code, "solution.py", "exec"), ns)
        exec(compile(test, "test.py", "exec"), ns)
        return ("pass", "")
    except AssertionError as e:
        at = traceback.extract_tb(sys.exc_info()[2])[-1]
        what = f"AssertionError: {e}" if str(e) else "AssertionError"
        return ("fail", f"{what} at {at.filename}:{at.lineno}: {at.line}")
    except BaseException as e:
        tb = traceback.extract_tb(sys.exc_info()[2])
        at = f" at {tb[-1].filename}:{tb[-1].lineno}" if len(tb) > 1 else ""
        return ("error", f"{type(e).__name__}: {e}{at}")
_kiln_run(_kiln_code, _kiln_test)
"#;

/// The script of a module worker that loads Pyodide from `base` (the app's URL, ending in `/`;
/// Pyodide lives in `pyodide/` beside the app), removes network, storage and nested workers from
/// the worker's global scope, posts `{phase: "ready"}`, runs `code` and then `test` with
/// [`PY_RUNNER`], and posts `{verdict, message}`.
pub fn py_test_script(base: &str, code: &str, test: &str) -> String {
    let lit = |s: &str| serde_json::to_string(s).unwrap_or_default();
    let pyodide = lit(&format!("{base}pyodide/"));
    format!(
        r#"const post = self.postMessage.bind(self);
try {{
  const {{ loadPyodide }} = await import({pyodide} + "pyodide.mjs");
  const py = await loadPyodide({{ indexURL: {pyodide} }});
  {CUT_GLOBALS}
  py.globals.set("_kiln_code", {code});
  py.globals.set("_kiln_test", {test});
  post({{ phase: "ready" }});
  const [verdict, message] = py.runPython({runner}).toJs();
  post({{ verdict, message }});
}} catch (e) {{
  post({{ verdict: "error", message: String((e && e.message) || e) }});
}}
"#,
        code = lit(code),
        test = lit(test),
        runner = lit(PY_RUNNER),
    )
}

/// wasm32 addresses 4 GiB, and a tab may get less.
const WASM_MEMORY: u64 = 4 << 30;

/// Whether a model can be loaded in a wasm32 worker: while loading, the file's bytes and the
/// weights as the engine holds them (`weight_bytes`: the blocks themselves on the CPU path,
/// f32 on WebGPU, built on the CPU side first) are both in memory. `Err` explains it in GiB.
pub fn fits_wasm_memory(weight_bytes: u64, file_bytes: u64) -> Result<(), String> {
    let need = weight_bytes + file_bytes;
    if need <= WASM_MEMORY * 7 / 8 {
        return Ok(());
    }
    let gib = |b: u64| b as f64 / (1u64 << 30) as f64;
    Err(format!(
        "this model needs about {:.1} GiB while loading ({:.1} GiB of weights as loaded + the {:.1} GiB file), \
         more than a browser tab's wasm memory ({:.0} GiB at most): use a smaller model, or the native `kiln`",
        gib(need),
        gib(weight_bytes),
        gib(file_bytes),
        gib(WASM_MEMORY)
    ))
}

/// Tokens per second over `n` tokens in `ms` milliseconds (0 when no time has passed).
pub fn rate(n: usize, ms: f64) -> f64 {
    if ms > 0.0 {
        n as f64 * 1000.0 / ms
    } else {
        0.0
    }
}

/// The token view's hover text: the token, its probability and the alternatives.
pub fn token_title(piece: &str, prob: f32, top: &[(String, f32)]) -> String {
    let mut s = format!("{piece:?}  p = {prob:.3}");
    for (text, p) in top {
        s.push_str(&format!("\n  {text:?}  {p:.3}"));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::WebGpuAdapter;
    use kiln_engine::DeviceInfo;

    fn model(backend: &str, webgpu: Option<WebGpuAdapter>) -> LoadedModel {
        LoadedModel {
            file: "m.gguf".into(),
            arch: "llama".into(),
            n_params: 134_515_008,
            vocab_size: 49152,
            has_chat_template: true,
            sha256: "ab".into(),
            from_cache: false,
            storage: "opfs".into(),
            device: DeviceInfo {
                backend: backend.into(),
                name: if backend == "cpu" {
                    "Flex"
                } else {
                    " (BrowserWebGpu)"
                }
                .into(),
                adapter_type: "Cpu".into(),
                note: (backend == "cpu").then(|| "WebGPU is not available".into()),
            },
            webgpu,
            largest_tensor_bytes: 113_246_208,
            load_ms: 2500.0,
            engine: EngineHost::Worker,
        }
    }

    #[test]
    fn progress_reads_in_megabytes_or_units() {
        assert_eq!(
            progress_text("download", 49_181_216, Some(98_362_432)),
            "download: 50% (49.2 / 98.4 MB)"
        );
        assert_eq!(progress_text("load", 3, Some(30)), "load: 10% (3 / 30)");
        assert_eq!(
            progress_text("download", 1_000_000, None),
            "download: 1.0 MB"
        );
    }

    #[test]
    fn status_and_device_say_what_runs_and_why() {
        let m = model("cpu", None);
        assert_eq!(
            status_line(&m),
            "ready: m.gguf (llama, 135 M params) on CPU (wasm, Flex) — downloaded in 2.5 s"
        );
        let d = device_details(&m);
        assert_eq!(d.last().unwrap(), "note: WebGPU is not available");
        let gpu = WebGpuAdapter {
            vendor: "google".into(),
            architecture: "swiftshader".into(),
            shader_f16: true,
            max_buffer_size: 1 << 30,
            max_storage_buffer_binding_size: 128 << 20,
            ..WebGpuAdapter::default()
        };
        let m = model("wgpu", Some(gpu));
        assert_eq!(device_name(&m), "WebGPU: google swiftshader");
        let d = device_details(&m).join("\n");
        assert!(d.contains("shader-f16: yes; maxBufferSize 1024 MiB"), "{d}");
        assert!(d.contains("largest weight matrix: 108 MiB"), "{d}");
    }

    #[test]
    fn the_desktop_app_says_it_runs_natively() {
        let mut m = model("cpu", None);
        m.engine = EngineHost::Native { cpu_threads: 8 };
        m.storage = "disk".into();
        assert_eq!(
            status_line(&m),
            "ready: m.gguf (llama, 135 M params) on native CPU, 8 threads — read from disk in 2.5 s"
        );
        let mut m = model("wgpu", None);
        m.engine = EngineHost::Native { cpu_threads: 8 };
        m.device.name = "llvmpipe (LLVM 15.0.6, 256 bits)".into();
        assert_eq!(
            device_name(&m),
            "native GPU: llvmpipe (LLVM 15.0.6, 256 bits) (Cpu)"
        );
    }

    #[test]
    fn stop_strings_round_trip_through_the_field() {
        let stops = vec![
            "\n\n".to_string(),
            "a,b".into(),
            "c\\d".into(),
            "```".into(),
            "\r\n".into(),
        ];
        let field = format_stops(&stops);
        assert_eq!(field, "\\n\\n,a\\,b,c\\\\d,```,\\r\\n");
        assert_eq!(parse_stops(&field), stops);
        assert_eq!(parse_stops(" ,,x"), vec![" ".to_string(), "x".into()]);
        assert!(parse_stops("").is_empty());
        // The CLI's escapes, the same way (an unknown one keeps its backslash).
        assert_eq!(parse_stops("\\d,\\t"), vec!["\\d".to_string(), "\t".into()]);
    }

    #[test]
    fn the_diff_shows_what_cleaning_removed_and_added() {
        let raw = "Here you go:\n```python\ndef f(x):\n  return x\n```\n";
        let cleaned = "def f(x):\n    return x\n";
        let d = diff_lines(raw, cleaned);
        let signs: String = d.iter().map(|l| l.sign).collect();
        assert_eq!(signs, "-- --+");
        assert_eq!(d[2].text, "def f(x):");
        assert_eq!(d[3].text, "  return x");
        assert_eq!(d[5].text, "    return x");
    }

    #[test]
    fn errors_land_on_their_lines() {
        let diag = |line, column| Diagnostic {
            line,
            column,
            start: 0,
            end: 0,
            message: "expected ')'".into(),
        };
        let lines = annotate("def f(:\n    pass\n", &[diag(1, 7), diag(9, 1)]);
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0].errors, vec![(7, "expected ')'".to_string())]);
        assert_eq!(
            lines[1].errors.len(),
            1,
            "past the end goes on the last line"
        );
    }

    #[test]
    fn models_too_big_for_wasm_memory_are_refused_up_front() {
        assert_eq!(fits_wasm_memory(134_515_008 * 4, 98_362_432), Ok(()));
        // A 1.5 B model in Q4_1 (a 1 GB file) fits on the CPU path, where its blocks stay
        // blocks, and not as 6 GiB of f32 weights.
        assert_eq!(fits_wasm_memory(1_000_000_000, 1_000_000_000), Ok(()));
        let e = fits_wasm_memory(1_540_000_000 * 4, 1_000_000_000).unwrap_err();
        assert!(
            e.contains("about 6.7 GiB") && e.contains("4 GiB at most"),
            "{e}"
        );
    }

    #[test]
    fn tests_are_blocks_separated_by_blank_lines() {
        let t =
            split_tests("assert(f(1) === 1);\r\n\r\n\nconst x = f(2);\nassert(x === 4);\n\n  \n");
        assert_eq!(
            t,
            vec!["assert(f(1) === 1);", "const x = f(2);\nassert(x === 4);"]
        );
    }

    #[test]
    fn the_test_script_embeds_the_code_as_a_string() {
        let s = js_test_script(
            "const a = \"</script>\";\nfunction f() {}",
            "assert(f() === undefined)",
        );
        assert!(s.contains(
            r#"const a = \"</script>\";\nfunction f() {}\n;\nassert(f() === undefined)"#
        ));
        assert!(s.contains("\"fetch\""));
        assert!(s.find("phase: \"ready\"") < s.find("new Function"));
        let p = py_test_script(
            "http://127.0.0.1:8080/",
            "def f():\n    return '\"'",
            "assert f() == '\"'",
        );
        assert!(
            p.contains(r#"import("http://127.0.0.1:8080/pyodide/" + "pyodide.mjs")"#),
            "{p}"
        );
        assert!(
            p.contains(r#"py.globals.set("_kiln_code", "def f():\n    return '\"'");"#),
            "{p}"
        );
        assert!(
            p.find("\"fetch\"") < p.find("phase: \"ready\""),
            "network goes before the code runs"
        );
        assert_eq!(rate(30, 1500.0), 20.0);
        assert_eq!(rate(3, 0.0), 0.0);
    }
}
