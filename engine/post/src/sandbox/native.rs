//! The native runner: one interpreter process per program, in the operating-system jail
//! ([`super::jail`]), its own process group and an empty temp directory, watched by the parent
//! for wall-clock time and output size.
//!
//! A Python test is a **split run**: the solution runs in one jailed process and the test in
//! another; the test calls the solution's functions through stubs, and only plain data (exact
//! builtin types) crosses between them, relayed by this parent. The verdict is the test
//! process's, which runs no generated code, so nothing the solution can reach (its own memory,
//! frames, files, descriptors, the harness) lets it produce a pass.

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, mpsc};
use std::time::{Duration, Instant};

use super::{Limits, Outcome, TestCase, Verdict, jail};
use crate::Language;
use crate::error::{Error, Result};

const PYTHON_HARNESS: &str = include_str!("harness.py");
const JS_HARNESS: &str = include_str!("harness.js");
/// How much of the program's output a verdict keeps.
const KEPT_OUTPUT: usize = 4096;
/// The longest line of a split run's channel (a call's arguments or an answer).
const MAX_MESSAGE: usize = 16 << 20;

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
            let mut v = if lang == Language::Python {
                run_split(code, &t.code, limits)?
            } else {
                run_program(&format!("{code}\n\n{}\n", t.code), lang, limits)?
            };
            v.test = t.name.clone();
            Ok(v)
        })
        .collect()
}

/// Runs one program in the sandbox and classifies how it ended. The program's own verdict:
/// for Python, [`run_tests`] runs solution and test apart, so that the solution cannot decide it.
pub fn run_program(program: &str, lang: Language, limits: &Limits) -> Result<Verdict> {
    let dir = TempDir::new()?;
    let nonce = nonce();
    let request = request(&nonce, "program", program, &dir, limits);
    let total = Arc::new(AtomicU64::new(0));
    let too_much = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    let mut p = Running::start(lang, &dir, limits, &request, &total, &too_much, false)?;
    let deadline = started + Duration::from_millis(limits.wall_ms);
    let status = wait_until(&mut p.child, deadline);
    let timed_out = status.is_none();
    p.group.kill();
    let status = match status {
        Some(s) => Some(s),
        None => p.child.wait().ok(),
    };
    let wall_ms = started.elapsed().as_millis() as u64;
    let (out, err) = p.finish();
    drop(dir);

    let mut v = verdict(wall_ms);
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
        over_output(&mut v, limits);
    } else if let Some(line) = verdict_line {
        read_verdict(line, &mut v);
    } else if timed_out {
        over_time(&mut v, limits);
    } else {
        died(status, &stderr, &mut v);
    }
    Ok(v)
}

/// One Python test as a split run (see the module docs): the solution's process reports what
/// it defines, the test's process runs the test against stubs of it, and every call and answer
/// passes through here.
fn run_split(code: &str, test: &str, limits: &Limits) -> Result<Verdict> {
    let started = Instant::now();
    let deadline = started + Duration::from_millis(limits.wall_ms);
    let total = Arc::new(AtomicU64::new(0));
    let too_much = Arc::new(AtomicBool::new(false));
    let (s_dir, t_dir) = (TempDir::new()?, TempDir::new()?);
    let nonce = nonce();
    let s_req = request(&nonce, "solution", code, &s_dir, limits);
    let mut s = Running::start(
        Language::Python,
        &s_dir,
        limits,
        &s_req,
        &total,
        &too_much,
        true,
    )?;

    // What decides, in order: the output cap, a non-pass verdict of the solution's own (it
    // can only make things worse for itself), the clock, the solution's process dying, and
    // last the test's verdict.
    let mut s_verdict: Option<serde_json::Value> = None;
    let mut t_verdict: Option<serde_json::Value> = None;
    let mut s_ended = false;
    let mut timed_out = false;
    let mut t: Option<Running> = None;
    match s.next(deadline) {
        Msg::Line(m) if m.get("ready").is_some() => {
            let offset = code.lines().count() + 2;
            let mut t_req = request(&nonce, "test", test, &t_dir, limits);
            t_req["line_offset"] = offset.into();
            t_req["names"] = m["ready"].clone();
            t = Some(Running::start(
                Language::Python,
                &t_dir,
                limits,
                &t_req,
                &total,
                &too_much,
                true,
            )?);
        }
        Msg::Line(m) => s_verdict = Some(m),
        Msg::End => s_ended = true,
        Msg::Timeout => timed_out = true,
    }
    if let Some(t) = t.as_mut() {
        loop {
            match t.next(deadline) {
                Msg::Line(m) if m.get("call").is_some() => {
                    if s_ended {
                        t.close_input();
                        continue;
                    }
                    s.send(&m);
                    match s.next(deadline) {
                        Msg::Line(r) if r.get("verdict").is_some() => {
                            s_verdict = Some(r);
                            break;
                        }
                        Msg::Line(r) => t.send(&r),
                        Msg::End => {
                            // The test sees the end of its channel and ends with an error.
                            s_ended = true;
                            t.close_input();
                        }
                        Msg::Timeout => {
                            timed_out = true;
                            break;
                        }
                    }
                }
                Msg::Line(m) => {
                    t_verdict = Some(m);
                    break;
                }
                Msg::End => break,
                Msg::Timeout => {
                    timed_out = true;
                    break;
                }
            }
        }
    }
    // The solution's status before it is killed (did it end by itself, and how?); with its
    // channel closed a living one flushes what it printed and exits.
    s.close_input();
    let s_status = wait_until(&mut s.child, Instant::now() + Duration::from_millis(500));
    s.group.kill();
    let _ = s.child.wait();
    let t_status = t.as_mut().and_then(|t| {
        let status = wait_until(&mut t.child, Instant::now() + Duration::from_millis(500));
        t.group.kill();
        let _ = t.child.wait();
        status
    });
    let wall_ms = started.elapsed().as_millis() as u64;
    let (_, s_err) = s.finish();
    let t_err = t.map(|t| t.finish().1).unwrap_or_default();
    drop((s_dir, t_dir));

    let mut v = verdict(wall_ms);
    let s_err = String::from_utf8_lossy(&s_err);
    let t_err = String::from_utf8_lossy(&t_err);
    v.output = format!("{s_err}{t_err}")
        .chars()
        .take(KEPT_OUTPUT)
        .collect();
    let solution_verdict = s_verdict.filter(|m| m["verdict"] != "pass");
    if too_much.load(Ordering::Relaxed) {
        over_output(&mut v, limits);
    } else if let Some(m) = solution_verdict {
        read_verdict(&m.to_string(), &mut v);
    } else if timed_out {
        over_time(&mut v, limits);
    } else if s_ended {
        died(s_status, &s_err, &mut v);
        if v.outcome == Outcome::Error && s_status.is_some_and(|s| s.code() == Some(0)) {
            v.message = "the solution's process exited before the test ended".into();
        }
    } else if let Some(m) = t_verdict {
        read_verdict(&m.to_string(), &mut v);
    } else {
        died(t_status, &t_err, &mut v);
    }
    Ok(v)
}

/// The harness's request: what to run, where, under which limits.
fn request(
    nonce: &str,
    role: &str,
    program: &str,
    dir: &TempDir,
    limits: &Limits,
) -> serde_json::Value {
    serde_json::json!({
        "role": role,
        "nonce": nonce,
        "program": program,
        "workdir": dir.0,
        "limits": {
            "cpu_seconds": limits.cpu_seconds,
            "memory_bytes": limits.memory_bytes,
            "file_bytes": limits.file_bytes,
            "open_files": limits.open_files,
        },
    })
}

fn verdict(wall_ms: u64) -> Verdict {
    Verdict {
        test: String::new(),
        outcome: Outcome::Error,
        kind: None,
        message: String::new(),
        line: None,
        output: String::new(),
        wall_ms,
    }
}

fn over_output(v: &mut Verdict, limits: &Limits) {
    v.outcome = Outcome::ResourceLimit;
    v.kind = Some("output".into());
    v.message = format!("printed more than {} bytes", limits.output_bytes);
}

fn over_time(v: &mut Verdict, limits: &Limits) {
    v.outcome = Outcome::Timeout;
    v.message = format!("still running after {} ms", limits.wall_ms);
}

/// What a split run's channel delivered.
enum Msg {
    Line(serde_json::Value),
    End,
    Timeout,
}

/// One sandboxed interpreter: its process group, its input, its output being read.
struct Running {
    child: Child,
    group: Group,
    stdin: Option<std::process::ChildStdin>,
    /// A split run's channel: stdout line by line (bounded, so a flood blocks the writer).
    lines: Option<mpsc::Receiver<Option<serde_json::Value>>>,
    readers: Vec<std::thread::JoinHandle<Vec<u8>>>,
}

impl Running {
    /// Starts the interpreter for `lang` on `dir` and hands it `request` (one line). `split`:
    /// its stdout is a channel of JSON lines, kept open for calls; otherwise stdin is closed
    /// after the request and stdout is captured like stderr.
    fn start(
        lang: Language,
        dir: &TempDir,
        limits: &Limits,
        request: &serde_json::Value,
        total: &Arc<AtomicU64>,
        too_much: &Arc<AtomicBool>,
        split: bool,
    ) -> Result<Running> {
        let mut cmd = interpreter_command(lang, dir, limits)?;
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
        let mut child = cmd.spawn().map_err(|e| {
            Error::Sandbox(format!("cannot start the {} sandbox: {e}", lang.name()))
        })?;
        let group = Group(child.id());
        let stdout = child.stdout.take();
        let stderr = child.stderr.take();
        let cap = limits.output_bytes;
        let mut readers = Vec::new();
        let mut lines = None;
        let capture_of = |s: Option<Box<dyn Read + Send>>| {
            let (too_much, total) = (too_much.clone(), total.clone());
            let pgid = group.0;
            std::thread::spawn(move || capture(s, cap, &total, &too_much, pgid))
        };
        if split {
            let (tx, rx) = mpsc::sync_channel(4);
            let pgid = group.0;
            let too_much = too_much.clone();
            std::thread::spawn(move || channel(stdout, &tx, &too_much, pgid));
            lines = Some(rx);
        } else {
            readers.push(capture_of(
                stdout.map(|s| Box::new(s) as Box<dyn Read + Send>),
            ));
        }
        readers.push(capture_of(
            stderr.map(|s| Box::new(s) as Box<dyn Read + Send>),
        ));
        let mut stdin = child.stdin.take();
        if let Some(s) = stdin.as_mut() {
            // The harness reads its request before anything else; a child that died at once
            // leaves a broken pipe, which is not our error.
            let _ = s.write_all(format!("{request}\n").as_bytes());
        }
        if !split {
            stdin = None;
        }
        Ok(Running {
            child,
            group,
            stdin,
            lines,
            readers,
        })
    }

    fn next(&mut self, deadline: Instant) -> Msg {
        let Some(rx) = self.lines.as_ref() else {
            return Msg::End;
        };
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(Some(m)) => Msg::Line(m),
            Ok(None) | Err(mpsc::RecvTimeoutError::Disconnected) => Msg::End,
            Err(mpsc::RecvTimeoutError::Timeout) => Msg::Timeout,
        }
    }

    fn send(&mut self, m: &serde_json::Value) {
        if let Some(s) = self.stdin.as_mut()
            && s.write_all(format!("{m}\n").as_bytes()).is_err()
        {
            self.stdin = None;
        }
    }

    fn close_input(&mut self) {
        self.stdin = None;
    }

    /// Waits for the readers (the process group is dead by now): (stdout, stderr).
    fn finish(mut self) -> (Vec<u8>, Vec<u8>) {
        self.stdin = None;
        self.lines = None;
        let mut got: Vec<Vec<u8>> = self
            .readers
            .drain(..)
            .map(|h| h.join().unwrap_or_default())
            .collect();
        let err = got.pop().unwrap_or_default();
        let out = got.pop().unwrap_or_default();
        (out, err)
    }
}

/// The command that starts `lang`'s harness in `dir`: in the jail, or (with `limits.jail`
/// off) with the harness alone, said once per process.
fn interpreter_command(lang: Language, dir: &TempDir, limits: &Limits) -> Result<Command> {
    let jail = if limits.jail {
        Some(jail::status().map_err(|why| {
            Error::Sandbox(format!(
                "no operating-system jail for generated code: {why}. Install it, or run with \
                 --no-jail to rely on the harness alone (not a security boundary)"
            ))
        })?)
    } else {
        static SAID: AtomicBool = AtomicBool::new(false);
        if !SAID.swap(true, Ordering::Relaxed) {
            eprintln!(
                "kiln: generated code runs WITHOUT the operating-system jail (--no-jail): only \
                 the harness's audit hook and resource limits contain it"
            );
        }
        None
    };
    let mut argv: Vec<std::ffi::OsString> = Vec::new();
    let mut roots = Vec::new();
    match lang {
        Language::Python => {
            argv.push(match jail {
                Some(j) => j.python().into(),
                None => "python3".into(),
            });
            argv.extend(["-I".into(), "-c".into(), PYTHON_HARNESS.into()]);
        }
        Language::JavaScript => {
            // Node cannot set its own rlimits: util-linux's prlimit does, then execs node.
            // (CPU soft limit → SIGXCPU; hard = soft + 1 s, else the kernel sends SIGKILL.)
            let (prlimit, node) = match jail {
                Some(_) => {
                    let find = |name: &str| {
                        jail::on_path(name)
                            .ok_or_else(|| Error::Sandbox(format!("`{name}` is not on PATH")))
                    };
                    let node = find("node")?;
                    roots.extend(jail::prefix_of(&node));
                    (find("prlimit")?.into_os_string(), node.into_os_string())
                }
                None => ("prlimit".into(), "node".into()),
            };
            let harness = dir.0.join("harness.js");
            std::fs::write(&harness, JS_HARNESS)
                .map_err(|e| Error::Sandbox(format!("writing {}: {e}", harness.display())))?;
            let heap_mb = (limits.memory_bytes >> 20).max(16);
            argv.push(prlimit);
            argv.extend([
                format!("--cpu={}:{}", limits.cpu_seconds, limits.cpu_seconds + 1).into(),
                "--core=0".into(),
                "--".into(),
                node,
                "--experimental-permission".into(),
                format!("--allow-fs-read={}", dir.0.display()).into(),
                format!("--allow-fs-write={}", dir.0.display()).into(),
                format!("--max-old-space-size={heap_mb}").into(),
                "--no-warnings".into(),
                harness.into_os_string(),
            ]);
        }
        _ => {
            return Err(Error::Sandbox(format!(
                "no sandbox for {} (supported: python, javascript)",
                lang.name()
            )));
        }
    }
    Ok(match jail {
        Some(j) => j.command(&dir.0, &roots, argv, false),
        None => {
            let mut cmd = Command::new(&argv[0]);
            cmd.args(&argv[1..]);
            cmd
        }
    })
}

/// Reads a split run's channel: one JSON value per line (blank lines skipped), `None` at the
/// end or on a line that is not JSON. A line longer than [`MAX_MESSAGE`] ends the run as over
/// its output.
fn channel(
    pipe: Option<std::process::ChildStdout>,
    tx: &mpsc::SyncSender<Option<serde_json::Value>>,
    too_much: &AtomicBool,
    pgid: u32,
) {
    let Some(pipe) = pipe else {
        let _ = tx.send(None);
        return;
    };
    let mut reader = BufReader::new(pipe);
    let mut line = Vec::new();
    loop {
        line.clear();
        match (&mut reader)
            .take(MAX_MESSAGE as u64 + 1)
            .read_until(b'\n', &mut line)
        {
            Ok(0) | Err(_) => break,
            Ok(_) if line.len() > MAX_MESSAGE => {
                too_much.store(true, Ordering::Relaxed);
                Group(pgid).kill();
                break;
            }
            Ok(_) => {}
        }
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        match serde_json::from_slice::<serde_json::Value>(&line) {
            Ok(v) if v.is_object() => {
                if tx.send(Some(v)).is_err() {
                    return;
                }
            }
            _ => break,
        }
    }
    let _ = tx.send(None);
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

/// The signal that ended a process: its own, or, through the jail, bubblewrap's report of it
/// (bwrap exits with 128 + the signal of the program it ran, as a shell does).
fn signal_of(status: std::process::ExitStatus) -> Option<i32> {
    status.signal().or_else(|| {
        status
            .code()
            .filter(|c| (129..=192).contains(c))
            .map(|c| c - 128)
    })
}

/// Classifies a process that ended without a verdict line.
fn died(status: Option<std::process::ExitStatus>, stderr: &str, v: &mut Verdict) {
    let signal = status.and_then(signal_of);
    let code = status.and_then(|s| s.code());
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
