//! The native runner: one interpreter process per test, in its own process group and empty
//! temp directory, watched by the parent for wall-clock time and output size.

use std::io::{Read, Write};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use super::{Limits, Outcome, TestCase, Verdict};
use crate::Language;
use crate::error::{Error, Result};

const PYTHON_HARNESS: &str = include_str!("harness.py");
const JS_HARNESS: &str = include_str!("harness.js");
/// How much of the program's output a verdict keeps.
const KEPT_OUTPUT: usize = 4096;

/// Whether the interpreter for `lang` can be started (`python3` / `node` on PATH).
pub fn interpreter_available(lang: Language) -> bool {
    let Some(bin) = interpreter(lang) else {
        return false;
    };
    Command::new(bin)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn interpreter(lang: Language) -> Option<&'static str> {
    match lang {
        Language::Python => Some("python3"),
        Language::JavaScript => Some("node"),
        _ => None,
    }
}

/// Runs `code` followed by each test, each in a fresh process (see the module docs).
pub fn run_tests(
    code: &str,
    lang: Language,
    tests: &[TestCase],
    limits: &Limits,
) -> Result<Vec<Verdict>> {
    tests
        .iter()
        .map(|t| {
            let program = format!("{code}\n\n{}\n", t.code);
            let mut v = run_program(&program, lang, limits)?;
            v.test = t.name.clone();
            Ok(v)
        })
        .collect()
}

/// Runs one program in the sandbox and classifies how it ended.
pub fn run_program(program: &str, lang: Language, limits: &Limits) -> Result<Verdict> {
    let bin = interpreter(lang).ok_or_else(|| {
        Error::Sandbox(format!(
            "no sandbox for {} (supported: python, javascript)",
            lang.name()
        ))
    })?;
    let dir = TempDir::new()?;
    let nonce = nonce();
    let mut cmd;
    match lang {
        Language::Python => {
            cmd = Command::new(bin);
            cmd.args(["-I", "-c", PYTHON_HARNESS]);
        }
        _ => {
            // Node cannot set its own rlimits: util-linux's prlimit does, then execs node.
            // (CPU soft limit → SIGXCPU; hard = soft + 1 s, else the kernel sends SIGKILL.)
            cmd = Command::new("prlimit");
            cmd.arg(format!(
                "--cpu={}:{}",
                limits.cpu_seconds,
                limits.cpu_seconds + 1
            ))
            .args(["--core=0", "--", bin]);
            let harness = dir.0.join("harness.js");
            std::fs::write(&harness, JS_HARNESS)
                .map_err(|e| Error::Sandbox(format!("writing {}: {e}", harness.display())))?;
            let heap_mb = (limits.memory_bytes >> 20).max(16);
            cmd.arg("--experimental-permission")
                .arg(format!("--allow-fs-read={}", dir.0.display()))
                .arg(format!("--allow-fs-write={}", dir.0.display()))
                .arg(format!("--max-old-space-size={heap_mb}"))
                .arg("--no-warnings")
                .arg(&harness);
        }
    }
    let request = serde_json::json!({
        "nonce": nonce,
        "program": program,
        "workdir": dir.0,
        "limits": {
            "cpu_seconds": limits.cpu_seconds,
            "memory_bytes": limits.memory_bytes,
            "file_bytes": limits.file_bytes,
            "open_files": limits.open_files,
        },
    });
    cmd.current_dir(&dir.0)
        .env_clear()
        .env("PATH", "/usr/local/bin:/usr/bin:/bin")
        .env("HOME", &dir.0)
        .env("TMPDIR", &dir.0)
        .env("LANG", "C.UTF-8")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0);
    let started = Instant::now();
    let mut child = cmd
        .spawn()
        .map_err(|e| Error::Sandbox(format!("cannot start `{bin}`: {e}")))?;
    let group = Group(child.id());
    let too_much = Arc::new(AtomicBool::new(false));
    let total = Arc::new(AtomicU64::new(0));
    let stdin = child.stdin.take();
    let body = request.to_string();
    let feeder = std::thread::spawn(move || {
        if let Some(mut s) = stdin {
            // The child may exit without reading: a broken pipe is not our error.
            let _ = s.write_all(body.as_bytes());
        }
    });
    let readers = [
        child
            .stdout
            .take()
            .map(|s| Box::new(s) as Box<dyn Read + Send>),
        child
            .stderr
            .take()
            .map(|s| Box::new(s) as Box<dyn Read + Send>),
    ]
    .map(|s| {
        let (too_much, total) = (too_much.clone(), total.clone());
        let cap = limits.output_bytes;
        let pgid = group.0;
        std::thread::spawn(move || capture(s, cap, &total, &too_much, pgid))
    });
    let deadline = started + Duration::from_millis(limits.wall_ms);
    let status = wait_until(&mut child, deadline);
    let timed_out = status.is_none();
    group.kill();
    let status = match status {
        Some(s) => Some(s),
        None => child.wait().ok(),
    };
    let wall_ms = started.elapsed().as_millis() as u64;
    let _ = feeder.join();
    let [out, err] = readers.map(|h| h.join().unwrap_or_default());
    drop(dir);

    let mut v = Verdict {
        test: String::new(),
        outcome: Outcome::Error,
        kind: None,
        message: String::new(),
        line: None,
        output: String::new(),
        wall_ms,
    };
    let marker = format!("KILN-VERDICT-{nonce} ");
    let stdout = String::from_utf8_lossy(&out);
    let stderr = String::from_utf8_lossy(&err);
    let verdict_line = stdout.lines().find_map(|l| l.strip_prefix(&marker));
    let shown: String = stdout
        .lines()
        .filter(|l| !l.starts_with(&marker))
        .map(|l| format!("{l}\n"))
        .chain(std::iter::once(stderr.to_string()))
        .collect();
    v.output = shown.chars().take(KEPT_OUTPUT).collect();
    if too_much.load(Ordering::Relaxed) {
        v.outcome = Outcome::ResourceLimit;
        v.kind = Some("output".into());
        v.message = format!("printed more than {} bytes", limits.output_bytes);
    } else if let Some(line) = verdict_line {
        read_verdict(line, &mut v);
    } else if timed_out {
        v.outcome = Outcome::Timeout;
        v.message = format!("still running after {} ms", limits.wall_ms);
    } else {
        died(
            status.and_then(|s| s.signal()),
            status.and_then(|s| s.code()),
            &stderr,
            &mut v,
        );
    }
    Ok(v)
}

/// Fills `v` from the harness's JSON verdict line.
fn read_verdict(line: &str, v: &mut Verdict) {
    let Ok(j) = serde_json::from_str::<serde_json::Value>(line) else {
        v.message = format!("unreadable verdict from the harness: {line}");
        return;
    };
    let text = |k: &str| j.get(k).and_then(|x| x.as_str()).map(str::to_string);
    v.outcome = match text("verdict").as_deref() {
        Some("pass") => Outcome::Pass,
        Some("fail") => Outcome::Fail,
        Some("forbidden") => Outcome::Forbidden,
        Some("resource") => Outcome::ResourceLimit,
        _ => Outcome::Error,
    };
    v.kind = text("kind");
    v.message = text("message").unwrap_or_default();
    v.line = j.get("line").and_then(|l| l.as_u64()).map(|l| l as usize);
}

/// Classifies a process that ended without a verdict line.
fn died(signal: Option<i32>, code: Option<i32>, stderr: &str, v: &mut Verdict) {
    const SIGABRT: i32 = 6;
    const SIGKILL: i32 = 9;
    const SIGSEGV: i32 = 11;
    const SIGXCPU: i32 = 24;
    const SIGXFSZ: i32 = 25;
    let oom = stderr.contains("heap out of memory") || stderr.contains("MemoryError");
    let (outcome, kind, message) = match signal {
        Some(SIGXCPU) => (
            Outcome::ResourceLimit,
            "cpu",
            "CPU time limit reached".into(),
        ),
        Some(SIGXFSZ) => (
            Outcome::ResourceLimit,
            "file",
            "file size limit reached".into(),
        ),
        Some(SIGSEGV) => (
            Outcome::ResourceLimit,
            "stack",
            "crashed (segmentation fault: stack overflow from deep recursion?)".into(),
        ),
        Some(SIGABRT | SIGKILL) | None if oom => {
            (Outcome::ResourceLimit, "memory", "out of memory".into())
        }
        Some(s) => (Outcome::Error, "", format!("killed by signal {s}")),
        None => (
            Outcome::Error,
            "",
            format!(
                "the interpreter exited with status {} without a verdict: {}",
                code.unwrap_or(-1),
                stderr.lines().last().unwrap_or("")
            ),
        ),
    };
    v.outcome = outcome;
    v.kind = (!kind.is_empty()).then(|| kind.to_string());
    v.message = message;
}

/// Polls until the child exits or the deadline passes.
fn wait_until(child: &mut Child, deadline: Instant) -> Option<std::process::ExitStatus> {
    loop {
        match child.try_wait() {
            Ok(Some(s)) => return Some(s),
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(5)),
            _ => return None,
        }
    }
}

/// Reads a pipe to its end, keeping the first bytes; past `cap` bytes in all (both pipes),
/// flags it and kills the group so the program stops.
fn capture(
    pipe: Option<Box<dyn Read + Send>>,
    cap: u64,
    total: &AtomicU64,
    too_much: &AtomicBool,
    pgid: u32,
) -> Vec<u8> {
    let Some(mut pipe) = pipe else {
        return Vec::new();
    };
    let mut kept = Vec::new();
    let mut buf = [0u8; 16384];
    while let Ok(n) = pipe.read(&mut buf) {
        if n == 0 {
            break;
        }
        // The verdict line comes last, after the program's output: keep the tail too.
        if kept.len() < 1 << 20 {
            kept.extend_from_slice(&buf[..n]);
        }
        if total.fetch_add(n as u64, Ordering::Relaxed) + n as u64 > cap {
            too_much.store(true, Ordering::Relaxed);
            Group(pgid).kill();
        }
    }
    kept
}

/// A process group, killed as a whole.
struct Group(u32);

impl Group {
    fn kill(&self) {
        // `kill -KILL -- -PGID` reaches every process the program started, even ones that
        // escaped the direct child (the workspace forbids `unsafe`, so no libc::killpg).
        let _ = Command::new("kill")
            .args(["-KILL", "--", &format!("-{}", self.0)])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

/// A fresh, empty temp directory, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> Result<Self> {
        let path = std::env::temp_dir().join(format!("kiln-sandbox-{}", nonce()));
        std::fs::create_dir(&path)
            .map_err(|e| Error::Sandbox(format!("creating {}: {e}", path.display())))?;
        Ok(TempDir(path))
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// 32 hex digits no one can guess ahead of time (the std hasher is randomly keyed per process;
/// a counter and the clock vary it per call).
fn nonce() -> String {
    use std::hash::{BuildHasher, Hasher};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let state = std::collections::hash_map::RandomState::new();
    let mut parts = [0u64; 2];
    for (i, p) in parts.iter_mut().enumerate() {
        let mut h = state.build_hasher();
        h.write_u64(n);
        h.write_u128(t);
        h.write_usize(i);
        h.write_u32(std::process::id());
        *p = h.finish();
    }
    format!("{:016x}{:016x}", parts[0], parts[1])
}
