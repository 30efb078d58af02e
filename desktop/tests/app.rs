//! `kiln app` through the real binary and a real X server (Xvfb): the window opens, the UI loads
//! from the embedded assets and connects to the native engine, a greedy generation driven through
//! the UI's own controls (tests/app/drive.js) gives the same text as `kiln generate`, and a
//! screenshot is saved ($KILN_ARTIFACTS, else target/app/); then the page tries to leave the app
//! (fetch, image, new window, navigation to a listening loopback port) and nothing arrives.
//! The native file dialog, answered with xdotool, hands the engine the chosen file. Without a
//! display, `kiln app` says so and offers `kiln serve`.

#![cfg(feature = "app")]
#![allow(clippy::expect_used, clippy::unwrap_used)] // tests stop on a failed step

use std::io::Read;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::Value;

const KILN: &str = env!("CARGO_BIN_EXE_kiln");

/// An Xvfb server on a free display, stopped on drop.
struct Xvfb {
    child: Child,
    display: String,
}

impl Xvfb {
    /// Starts one, or `None` (the reason printed) where Xvfb is not installed — unless
    /// `KILN_REQUIRE_APP=1` (CI), which fails.
    fn start() -> Option<Xvfb> {
        let found = Command::new("Xvfb")
            .arg("-help")
            .stderr(Stdio::null())
            .stdout(Stdio::null())
            .status()
            .is_ok();
        if !found {
            assert!(
                std::env::var_os("KILN_REQUIRE_APP").is_none(),
                "KILN_REQUIRE_APP is set but Xvfb is missing (scripts/setup.sh test installs it)"
            );
            eprintln!("skipped: Xvfb is not installed (scripts/setup.sh test installs it)");
            return None;
        }
        let n = (100..400)
            .map(|k| k + std::process::id() % 300)
            .find(|n| !Path::new(&format!("/tmp/.X11-unix/X{n}")).exists())
            .expect("a free display number");
        let display = format!(":{n}");
        let child = Command::new("Xvfb")
            .args([&display, "-screen", "0", "1280x900x24", "-nolisten", "tcp"])
            .stderr(Stdio::null())
            .stdout(Stdio::null())
            .spawn()
            .expect("start Xvfb");
        let socket = format!("/tmp/.X11-unix/X{n}");
        let t0 = Instant::now();
        while !Path::new(&socket).exists() {
            assert!(t0.elapsed() < Duration::from_secs(30), "Xvfb did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        Some(Xvfb { child, display })
    }
}

impl Drop for Xvfb {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs `cmd`, killing it after `limit`.
fn run_with_limit(mut cmd: Command, limit: Duration) -> Output {
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start kiln");
    let (mut out, mut err) = (child.stdout.take().unwrap(), child.stderr.take().unwrap());
    let out_reader = std::thread::spawn(move || {
        let mut s = Vec::new();
        let _ = out.read_to_end(&mut s);
        s
    });
    let err_reader = std::thread::spawn(move || {
        let mut s = Vec::new();
        let _ = err.read_to_end(&mut s);
        s
    });
    let t0 = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().expect("wait") {
            break s;
        }
        if t0.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            let err = String::from_utf8_lossy(&err_reader.join().unwrap()).into_owned();
            panic!("kiln app did not finish within {limit:?}; stderr:\n{err}");
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    Output {
        status,
        stdout: out_reader.join().unwrap(),
        stderr: err_reader.join().unwrap(),
    }
}

fn artifacts() -> PathBuf {
    let dir = std::env::var_os("KILN_ARTIFACTS")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/app"));
    std::fs::create_dir_all(&dir).expect("artifacts directory");
    dir
}

/// `kiln app` on display `x` with model directory `models`, driven by the script `drive`.
fn app(x: &Xvfb, models: &Path, drive: &Path) -> Command {
    let mut cmd = Command::new(KILN);
    cmd.args(["app", "--device", "cpu", "--drive"])
        .arg(drive)
        .env("DISPLAY", &x.display)
        .env_remove("WAYLAND_DISPLAY")
        .env("KILN_MODEL_DIR", models)
        // No accessibility bus, no GPU compositing, no dconf service under Xvfb.
        .env("NO_AT_BRIDGE", "1")
        .env("WEBKIT_DISABLE_COMPOSITING_MODE", "1")
        .env("GSETTINGS_BACKEND", "memory");
    cmd
}

/// The drive script's report (the last JSON line on stdout) and the app's stderr, once the app
/// has exited successfully.
fn report(out: &Output) -> (Value, String) {
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "kiln app failed: {stderr}\n{stdout}");
    let report: Value = stdout
        .lines()
        .rev()
        .find_map(|l| serde_json::from_str(l).ok())
        .unwrap_or_else(|| panic!("no report from the drive script: {stdout}\n{stderr}"));
    assert_eq!(report["ok"], true, "the page: {report:#}\n{stderr}");
    (report, stderr)
}

/// A fresh directory of symlinks to `model`, under the given names.
fn model_dir(name: &str, model: &Path, links: &[&str]) -> PathBuf {
    let dir = artifacts().join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    for l in links {
        std::os::unix::fs::symlink(model, dir.join(l)).unwrap();
    }
    dir
}

#[test]
fn the_window_generates_what_kiln_generate_does() {
    let Some(model) = kiln_tests::default_model() else {
        return;
    };
    let Some(x) = Xvfb::start() else {
        return;
    };
    // A model directory with the default model and a second name for it, which the UI picks
    // from its list (a load by path, as the file dialog and a drop make).
    let dir = model_dir(
        "models",
        &model,
        &["SmolLM2-135M-Instruct-Q4_1.gguf", "copy-of-default.gguf"],
    );
    let shot = artifacts().join("app.png");
    let _ = std::fs::remove_file(&shot);
    // A loopback port the page will try to reach; every connection to it is counted.
    let probe = TcpListener::bind("127.0.0.1:0").expect("probe port");
    let probe_url = format!("http://{}", probe.local_addr().unwrap());
    let reached = Arc::new(AtomicUsize::new(0));
    {
        let reached = reached.clone();
        std::thread::spawn(move || {
            for c in probe.incoming() {
                reached.fetch_add(1, Ordering::SeqCst);
                drop(c);
            }
        });
    }
    let script = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/app/drive.js"),
    )
    .expect("tests/app/drive.js");
    let drive = artifacts().join("drive.js");
    std::fs::write(&drive, script.replace("__PROBE__", &probe_url)).unwrap();
    let mut cmd = app(&x, &dir, &drive);
    cmd.arg("--screenshot").arg(&shot);
    let (report, stderr) = report(&run_with_limit(cmd, Duration::from_secs(600)));
    assert!(
        stderr.contains("window ready in"),
        "no time to window in: {stderr}"
    );
    let status = report["status"].as_str().unwrap_or_default();
    assert!(
        status.contains("SmolLM2-135M-Instruct-Q4_1.gguf")
            && status.contains("on native CPU,")
            && status.contains("read from disk"),
        "the UI should say it runs natively: {status}"
    );
    let models: Vec<&str> = report["models"]
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    assert_eq!(
        models.get(1..),
        Some(&["SmolLM2-135M-Instruct-Q4_1.gguf", "copy-of-default.gguf"][..]),
        "the model directory's list (after its heading): {report}"
    );
    let picked = report["picked"].as_str().unwrap_or_default();
    assert!(
        picked.starts_with("ready: copy-of-default.gguf"),
        "the model picked from the list: {picked}"
    );
    assert_eq!(
        report["browser_only_controls"], false,
        "the app shows the browser's URL and file inputs"
    );
    let probes = &report["probes"];
    assert!(
        probes["location"]
            .as_str()
            .is_some_and(|l| l.starts_with("kiln://localhost/")),
        "the page navigated away: {probes}"
    );
    assert!(
        probes["fetch"]
            .as_str()
            .is_some_and(|f| f.starts_with("refused")),
        "{probes}"
    );
    assert_eq!(probes["image"], "refused", "{probes}");
    assert_eq!(probes["window_open"], "denied", "{probes}");
    assert_eq!(
        reached.load(Ordering::SeqCst),
        0,
        "the page reached {probe_url}: {probes}"
    );
    assert!(stderr.contains("blocked navigation to"), "{stderr}");
    assert!(
        report["timing"]
            .as_str()
            .is_some_and(|t| t.contains("decode") && t.contains("tok/s")),
        "{report}"
    );

    let native = Command::new(KILN)
        .args(["generate", "--raw", "--chat", "--temp", "0", "-n", "12"])
        .args(["--device", "cpu", "-q", "--model"])
        .arg(&model)
        .arg(report["prompt"].as_str().unwrap())
        .output()
        .expect("kiln generate");
    assert!(native.status.success());
    let native = String::from_utf8_lossy(&native.stdout);
    assert_eq!(
        report["text"].as_str().unwrap(),
        native.strip_suffix('\n').unwrap_or(&native),
        "greedy text in the window vs kiln generate"
    );

    let png = std::fs::read(&shot).expect("the screenshot");
    assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"), "not a PNG");
    // A blank 1280×860 window compresses to a few kB; the UI with text is far larger.
    assert!(png.len() > 20_000, "the screenshot is {} bytes", png.len());
    eprintln!("app: {status}; screenshot {}", shot.display());
}

/// Runs `xdotool` with `args`; its stdout.
fn xdotool(display: &str, args: &[&str]) -> Option<String> {
    let out = Command::new("xdotool")
        .args(args)
        .env("DISPLAY", display)
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

#[test]
fn the_file_dialog_hands_the_engine_a_model() {
    let Some(model) = kiln_tests::default_model() else {
        return;
    };
    if Command::new("xdotool").arg("version").output().is_err() {
        assert!(
            std::env::var_os("KILN_REQUIRE_APP").is_none(),
            "KILN_REQUIRE_APP is set but xdotool is missing (scripts/setup.sh test installs it)"
        );
        eprintln!("skipped: xdotool is not installed (scripts/setup.sh test installs it)");
        return;
    }
    let Some(x) = Xvfb::start() else {
        return;
    };
    // The model directory holds the default model; the dialog picks a file outside it.
    let dir = model_dir(
        "dialog-models",
        &model,
        &["SmolLM2-135M-Instruct-Q4_1.gguf"],
    );
    let pick =
        model_dir("dialog-elsewhere", &model, &["dialog-pick.gguf"]).join("dialog-pick.gguf");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/app/dialog.js");
    let cmd = app(&x, &dir, &script);
    // Answer the dialog as a person would: focus it, type the path, press Enter.
    let display = x.display.clone();
    let path = pick.display().to_string();
    let answer = std::thread::spawn(move || {
        let t0 = Instant::now();
        let window = loop {
            if let Some(w) = xdotool(&display, &["search", "--name", "^Open a model$"])
                .and_then(|o| o.lines().next().map(str::to_string))
            {
                break w;
            }
            if t0.elapsed() > Duration::from_secs(120) {
                return Err("the file dialog never opened".to_string());
            }
            std::thread::sleep(Duration::from_millis(200));
        };
        std::thread::sleep(Duration::from_millis(500));
        for args in [
            vec!["windowfocus", "--sync", window.as_str()],
            vec!["key", "--clearmodifiers", "ctrl+l"],
            vec!["type", "--delay", "10", path.as_str()],
            vec!["key", "Return"],
        ] {
            xdotool(&display, &args).ok_or(format!("xdotool {args:?} failed"))?;
            std::thread::sleep(Duration::from_millis(300));
        }
        Ok(())
    });
    let out = run_with_limit(cmd, Duration::from_secs(600));
    answer.join().unwrap().unwrap();
    let (report, stderr) = report(&out);
    assert!(
        report["status"]
            .as_str()
            .is_some_and(|s| s.starts_with("ready: dialog-pick.gguf") && s.contains("native CPU")),
        "{report}"
    );
    assert!(stderr.contains("dialog-pick.gguf"), "{stderr}");
}

#[test]
fn without_a_display_it_says_so_and_offers_kiln_serve() {
    let out = Command::new(KILN)
        .arg("app")
        .env_remove("DISPLAY")
        .env_remove("WAYLAND_DISPLAY")
        .output()
        .expect("kiln app");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    if err.contains("built without the UI") {
        assert!(
            std::env::var_os("KILN_REQUIRE_APP").is_none(),
            "KILN_REQUIRE_APP is set but this kiln embeds no UI: {err}"
        );
        eprintln!("skipped: this kiln embeds no UI (scripts/web_build.sh before the build)");
        return;
    }
    assert!(
        err.contains("no display") && err.contains("kiln serve"),
        "{err}"
    );
}
