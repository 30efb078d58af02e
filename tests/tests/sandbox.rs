//! The native sandbox: HumanEval's canonical solutions pass, wrong code fails with its
//! assertion message, and hostile code is contained with the right verdict, leaving no process
//! or file behind.

use std::sync::Mutex;

use kiln_engine::post::Language;
use kiln_engine::post::sandbox::{Limits, Outcome, TestCase, Verdict, run_program, run_tests};
use kiln_tests::{humaneval, interpreter_missing};

/// Tests in this file run one at a time, so the leftover-process scan sees only its own.
static SERIAL: Mutex<()> = Mutex::new(());

fn hostile_limits() -> Limits {
    Limits {
        wall_ms: 5_000,
        cpu_seconds: 2,
        memory_bytes: 256 << 20,
        file_bytes: 1 << 20,
        open_files: 64,
        output_bytes: 256 << 10,
    }
}

/// Processes still running a sandbox harness (their command line names it).
fn leftover_processes() -> Vec<String> {
    let mut out = Vec::new();
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return out;
    };
    for e in dir.flatten() {
        let Ok(cmd) = std::fs::read(e.path().join("cmdline")) else {
            continue;
        };
        let cmd = String::from_utf8_lossy(&cmd).replace('\0', " ");
        if cmd.contains("KILN-VERDICT") || cmd.contains("kiln-sandbox-") {
            out.push(format!(
                "{:?}: {}",
                e.file_name(),
                &cmd[..cmd.len().min(80)]
            ));
        }
    }
    out
}

#[test]
fn humaneval_canonical_solutions_all_pass() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    if interpreter_missing(Language::Python) {
        return;
    }
    let Some(path) = humaneval() else { return };
    let text = std::fs::read_to_string(&path).unwrap();
    let problems: Vec<serde_json::Value> = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(problems.len(), 164);
    let started = std::time::Instant::now();
    let mut bad = Vec::new();
    for p in &problems {
        let s = |k: &str| p[k].as_str().unwrap().to_string();
        let code = format!("{}{}", s("prompt"), s("canonical_solution"));
        let test = TestCase {
            name: s("task_id"),
            code: format!("{}\ncheck({})\n", s("test"), s("entry_point")),
        };
        let v = run_tests(&code, Language::Python, &[test], &Limits::default()).unwrap();
        if v[0].outcome != Outcome::Pass {
            bad.push(format!("{}: {:?}", s("task_id"), v[0]));
        }
    }
    eprintln!(
        "HumanEval: {} of 164 canonical solutions pass in the sandbox ({:.1} s)",
        164 - bad.len(),
        started.elapsed().as_secs_f64()
    );
    assert!(bad.is_empty(), "{}", bad.join("\n"));
    assert!(
        leftover_processes().is_empty(),
        "{:?}",
        leftover_processes()
    );
}

/// kiln's easy set (the lab's built-in problems): every canonical solution passes its test in
/// the sandbox, and a `return None` body fails it.
#[test]
fn the_easy_sets_solutions_pass_and_empty_bodies_fail() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    if interpreter_missing(Language::Python) {
        return;
    }
    let set = kiln_engine::lab::problems::easy().unwrap();
    assert_eq!(set.len(), 20);
    for p in &set {
        let good = format!("{}{}", p.prompt, p.canonical_solution);
        let v = run_tests(
            &good,
            Language::Python,
            &[p.test_case()],
            &Limits::default(),
        )
        .unwrap();
        assert_eq!(v[0].outcome, Outcome::Pass, "{}: {:?}", p.task_id, v[0]);
        let bad = format!("{}    return None\n", p.prompt);
        let v = run_tests(&bad, Language::Python, &[p.test_case()], &Limits::default()).unwrap();
        assert_ne!(
            v[0].outcome,
            Outcome::Pass,
            "{}: an empty body passes",
            p.task_id
        );
    }
}

#[test]
fn wrong_solutions_fail_with_the_assertion_message() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    if interpreter_missing(Language::Python) {
        return;
    }
    let code = "def add(a, b):\n    return a - b\n";
    let tests = [
        TestCase {
            name: "named".into(),
            code: "assert add(2, 2) == 4, 'add(2, 2) should be 4'".into(),
        },
        TestCase {
            name: "bare".into(),
            code: "def check(f):\n    assert f(1, 0) == 1\n    assert f(1, 1) == 2\ncheck(add)"
                .into(),
        },
        TestCase {
            name: "passes".into(),
            code: "assert add(1, 0) == 1".into(),
        },
        TestCase {
            name: "raises".into(),
            code: "add(1)".into(),
        },
    ];
    let v = run_tests(code, Language::Python, &tests, &Limits::default()).unwrap();
    assert_eq!(v[0].outcome, Outcome::Fail, "{:?}", v[0]);
    assert!(v[0].message.contains("add(2, 2) should be 4"), "{:?}", v[0]);
    assert_eq!(v[0].line, Some(5));
    assert_eq!(v[1].outcome, Outcome::Fail, "{:?}", v[1]);
    assert_eq!(v[1].line, Some(7), "{:?}", v[1]);
    assert_eq!(v[2].outcome, Outcome::Pass, "{:?}", v[2]);
    assert_eq!(v[3].outcome, Outcome::Error, "{:?}", v[3]);
    assert!(v[3].message.starts_with("TypeError"), "{:?}", v[3]);
}

/// (name, program, expected outcome, expected kind, text the message must contain)
type Hostile = (
    &'static str,
    &'static str,
    Outcome,
    Option<&'static str>,
    &'static str,
);

const PYTHON_HOSTILE: &[Hostile] = &[
    (
        "infinite loop",
        "while True:\n    pass\n",
        Outcome::ResourceLimit,
        Some("cpu"),
        "",
    ),
    (
        "sleeps forever",
        "import time\ntime.sleep(60)\n",
        Outcome::Timeout,
        None,
        "",
    ),
    (
        "deep recursion",
        "def f(n):\n    return f(n + 1)\nf(0)\n",
        Outcome::ResourceLimit,
        Some("recursion"),
        "",
    ),
    (
        "memory bomb",
        "x = bytearray(10**10)\n",
        Outcome::ResourceLimit,
        Some("memory"),
        "",
    ),
    (
        "growing memory",
        "l = []\nwhile True:\n    l.append(' ' * 10**6)\n",
        Outcome::ResourceLimit,
        Some("memory"),
        "",
    ),
    (
        "fork bomb",
        "import os\nwhile True:\n    os.fork()\n",
        Outcome::Forbidden,
        None,
        "fork",
    ),
    (
        "write outside",
        "open('/tmp/kiln_evil.txt', 'w').write('x')\n",
        Outcome::Forbidden,
        None,
        "/tmp/kiln_evil.txt",
    ),
    (
        "read outside",
        "print(open('/etc/passwd').read())\n",
        Outcome::Forbidden,
        None,
        "/etc/passwd",
    ),
    (
        "escape with ..",
        "open('../kiln_escape.txt', 'w').write('x')\n",
        Outcome::Forbidden,
        None,
        "kiln_escape.txt",
    ),
    (
        "socket",
        "import socket\ns = socket.socket()\ns.connect(('127.0.0.1', 1))\n",
        Outcome::Forbidden,
        None,
        "socket",
    ),
    (
        "huge output",
        "while True:\n    print('x' * 1000)\n",
        Outcome::ResourceLimit,
        Some("output"),
        "",
    ),
    (
        "os.system",
        "import os\nos.system('touch /tmp/kiln_pwned')\n",
        Outcome::Forbidden,
        None,
        "os.system",
    ),
    (
        "subprocess",
        "import subprocess\nsubprocess.run(['touch', '/tmp/kiln_pwned'])\n",
        Outcome::Forbidden,
        None,
        "",
    ),
    (
        "kill the parent",
        "import os\nos.kill(os.getppid(), 9)\n",
        Outcome::Forbidden,
        None,
        "kill",
    ),
    (
        "catches the refusal",
        "import os\ntry:\n    os.system('true')\nexcept BaseException:\n    pass\n",
        Outcome::Forbidden,
        None,
        "os.system",
    ),
    (
        "ctypes",
        "import ctypes\nctypes.CDLL(None).system(b'touch /tmp/kiln_pwned')\n",
        Outcome::Forbidden,
        None,
        "ctypes",
    ),
    (
        "own temp dir is fine",
        "open('ok.txt', 'w').write('hi')\nassert open('ok.txt').read() == 'hi'\n",
        Outcome::Pass,
        None,
        "",
    ),
];

const JS_HOSTILE: &[Hostile] = &[
    (
        "passes",
        "const a = 1 + 1;\nif (a !== 2) throw new Error('math');\n",
        Outcome::Pass,
        None,
        "",
    ),
    (
        "assertion",
        "const assert = require('assert');\nassert.strictEqual(1 + 1, 3, 'one plus one');\n",
        Outcome::Fail,
        None,
        "one plus one",
    ),
    (
        "infinite loop",
        "while (true) {}\n",
        Outcome::ResourceLimit,
        Some("cpu"),
        "",
    ),
    (
        "never ends",
        "setInterval(() => {}, 1000);\n",
        Outcome::Timeout,
        None,
        "",
    ),
    (
        "deep recursion",
        "function f(n) { return f(n + 1) + 1; }\nf(0);\n",
        Outcome::ResourceLimit,
        Some("recursion"),
        "",
    ),
    (
        "memory bomb",
        "const a = [];\nwhile (true) a.push(new Array(1e6).fill(1));\n",
        Outcome::ResourceLimit,
        Some("memory"),
        "",
    ),
    (
        "child process",
        "require('child_process').execSync('touch /tmp/kiln_pwned');\n",
        Outcome::Forbidden,
        None,
        "",
    ),
    (
        "write outside",
        "require('fs').writeFileSync('/tmp/kiln_evil.txt', 'x');\n",
        Outcome::Forbidden,
        None,
        "",
    ),
    (
        "read outside",
        "console.log(require('fs').readFileSync('/etc/passwd', 'utf8'));\n",
        Outcome::Forbidden,
        None,
        "",
    ),
    (
        "socket",
        "require('net').connect(1, '127.0.0.1');\n",
        Outcome::Forbidden,
        None,
        "",
    ),
    (
        "kill the parent",
        "process.kill(process.ppid, 'SIGKILL');\n",
        Outcome::Forbidden,
        None,
        "kill",
    ),
    (
        "huge output",
        "while (true) console.log('x'.repeat(1000));\n",
        Outcome::ResourceLimit,
        Some("output"),
        "",
    ),
];

fn run_table(lang: Language, table: &[Hostile]) {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    if interpreter_missing(lang) {
        return;
    }
    let limits = hostile_limits();
    let mut wrong = Vec::new();
    for &(name, program, outcome, kind, needle) in table {
        let v: Verdict = match run_program(program, lang, &limits) {
            Ok(v) => v,
            Err(e) => panic!("{name}: {e}"),
        };
        let ok = v.outcome == outcome
            && (kind.is_none() || v.kind.as_deref() == kind)
            && v.message.contains(needle);
        if !ok {
            wrong.push(format!(
                "{name}: want {outcome:?} {kind:?} {needle:?}, got {v:?}"
            ));
        }
        eprintln!(
            "{lang:?} {name:<22} {:?} {:?} ({} ms) {}",
            v.outcome, v.kind, v.wall_ms, v.message
        );
    }
    for f in ["/tmp/kiln_evil.txt", "/tmp/kiln_pwned"] {
        assert!(!std::path::Path::new(f).exists(), "{f} was created");
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    assert!(
        leftover_processes().is_empty(),
        "{:?}",
        leftover_processes()
    );
}

#[test]
fn hostile_python_is_contained() {
    run_table(Language::Python, PYTHON_HOSTILE);
}

#[test]
fn hostile_javascript_is_contained() {
    run_table(Language::JavaScript, JS_HOSTILE);
}

#[test]
fn unsupported_language_is_a_clear_error() {
    let e = run_program("fn main() {}", Language::Rust, &Limits::default()).unwrap_err();
    assert!(e.to_string().contains("no sandbox for rust"), "{e}");
}
