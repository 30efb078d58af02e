//! The native sandbox: HumanEval's canonical solutions pass, wrong code fails with its
//! assertion message, hostile code is contained with the right verdict, leaving no process or
//! file behind; the operating-system jail holds on its own (without the harness), and a
//! solution that attacks the harness to forge its verdict never gets a pass.

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
        jail: true,
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

/// What the jail alone allows: plain Python (no harness, no audit hook) in the jail, reporting
/// what it could reach. Every line is an attempt the jail must stop, checked from outside too.
#[test]
fn the_jail_holds_without_the_harness() {
    use kiln_engine::post::sandbox::jail;
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    if interpreter_missing(Language::Python) {
        return;
    }
    let j = jail::status().unwrap();
    eprintln!("jail: {}", jail::describe());
    let work = std::env::temp_dir().join(format!("kiln-jail-test-{}", std::process::id()));
    std::fs::create_dir_all(&work).unwrap();
    // Outside the work directory, where the code must not see or write.
    let secret = std::env::temp_dir().join(format!("kiln-secret-{}", std::process::id()));
    std::fs::write(&secret, "the user's secret").unwrap();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let port = listener.local_addr().unwrap().port();
    let repo = env!("CARGO_MANIFEST_DIR");
    let marker = format!("kiln-detached-{}", std::process::id());
    let script = format!(
        r#"
import ctypes, errno, json, os, socket, subprocess
out = {{}}
def attempt(name, f):
    try:
        f()
        out[name] = "allowed"
    except OSError as e:
        out[name] = errno.errorcode.get(e.errno, str(e.errno))
    except Exception as e:
        out[name] = type(e).__name__
out["env"] = sorted(os.environ)
out["pids"] = sorted(int(p) for p in os.listdir("/proc") if p.isdigit())
out["uid"] = os.getuid()
attempt("read the secret", lambda: open({secret:?}).read())
attempt("see the repository", lambda: os.stat({repo:?}))
attempt("write /usr", lambda: open("/usr/kiln-evil", "w"))
attempt("write /etc", lambda: open("/etc/kiln-evil", "w"))
attempt("read /etc/shadow", lambda: open("/etc/shadow").read())
attempt("write /tmp", lambda: open("/tmp/kiln-evil", "w"))
attempt("write the work dir", lambda: open("ok.txt", "w").write("fine"))
attempt("tcp to the host", lambda: socket.create_connection(("127.0.0.1", {port}), timeout=2))
attempt("udp socket", lambda: socket.socket(socket.AF_INET, socket.SOCK_DGRAM))
libc = ctypes.CDLL(None, use_errno=True)
def sys_call(name, *args):
    def f():
        if getattr(libc, name)(*args) != 0:
            e = ctypes.get_errno()
            raise OSError(e, os.strerror(e))
    return f
attempt("ptrace", sys_call("ptrace", 16, 1, 0, 0))
attempt("unshare a user namespace", sys_call("unshare", 0x10000000))
attempt("mount", sys_call("mount", b"none", b"/tmp", b"tmpfs", 0, None))
attempt("kill pid 1", lambda: os.kill(1, 9))
subprocess.Popen(["sleep", "300", {marker:?}], start_new_session=True)
out["detached"] = "started"
print(json.dumps(out))
"#
    );
    let argv = vec![
        j.python().as_os_str().to_owned(),
        "-I".into(),
        "-c".into(),
        script.into(),
    ];
    let out = j
        .command(&work, &[], argv, false)
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}\n{}",
        text,
        String::from_utf8_lossy(&out.stderr)
    );
    let r: serde_json::Value = serde_json::from_str(text.trim()).unwrap();
    eprintln!("{r:#}");
    let said = |k: &str| r[k].as_str().unwrap_or("?").to_string();
    // The environment is the jail's own, nothing of the parent's (cargo sets CARGO_* here).
    let env: Vec<&str> = r["env"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|v| v.as_str())
        .collect();
    for k in &env {
        assert!(
            ["PATH", "HOME", "TMPDIR", "LANG", "PWD", "LC_CTYPE"].contains(k),
            "{k} leaked into the jail: {env:?}"
        );
    }
    assert!(std::env::var_os("CARGO_MANIFEST_DIR").is_some());
    // Its own PID namespace: bwrap's init and the program, no process of the host.
    assert!(r["pids"].as_array().unwrap().len() <= 3, "{}", r["pids"]);
    assert_ne!(r["uid"], 0, "root inside the jail");
    assert_eq!(said("read the secret"), "ENOENT");
    assert_eq!(said("see the repository"), "ENOENT");
    assert_eq!(said("write /usr"), "EROFS");
    assert_ne!(said("write /etc"), "allowed");
    assert_eq!(said("read /etc/shadow"), "ENOENT");
    assert_eq!(said("write the work dir"), "allowed");
    assert_ne!(said("tcp to the host"), "allowed");
    assert!(
        listener.accept().is_err(),
        "the host's port got a connection"
    );
    assert_eq!(said("mount"), "EPERM");
    if j.seccomp {
        assert_eq!(said("udp socket"), "EAFNOSUPPORT");
        assert_eq!(said("ptrace"), "EPERM");
        assert_eq!(said("unshare a user namespace"), "EPERM");
    } else {
        eprintln!("NOTE: no seccomp filter here ({:?})", j.missing);
    }
    if j.landlock_abi >= 6 {
        // Signals are scoped to the jail's own Landlock domain (bwrap's init is outside it).
        assert_eq!(said("kill pid 1"), "EPERM");
    }
    if j.landlock_abi > 0 {
        // /tmp is the jail's own tmpfs, writable but for Landlock.
        assert_eq!(said("write /tmp"), "EACCES");
    } else {
        eprintln!("NOTE: no Landlock here ({:?})", j.missing);
    }
    assert_eq!(said("detached"), "started");
    assert_eq!(
        std::fs::read_to_string(work.join("ok.txt")).unwrap(),
        "fine"
    );
    // The detached process died with the jail's PID namespace.
    std::thread::sleep(std::time::Duration::from_millis(200));
    let alive: Vec<String> = std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| std::fs::read(e.path().join("cmdline")).ok())
        .map(|c| String::from_utf8_lossy(&c).replace('\0', " "))
        .filter(|c| c.contains(&marker))
        .collect();
    assert!(alive.is_empty(), "outlived the jail: {alive:?}");
    let _ = std::fs::remove_dir_all(&work);
    let _ = std::fs::remove_file(&secret);
}

/// Solutions that attack the harness instead of solving the problem: each is wrong (it
/// subtracts), tries to make the wrong answer pass, and must end as anything but a pass.
const FORGERS: &[(&str, &str)] = &[
    (
        "prints a verdict line on every descriptor",
        "import os, sys\n\
         for fd in range(1, 64):\n\
         \x20   for line in ('\\n{\"verdict\": \"pass\", \"kind\": null, \"message\": \"\", \"line\": null}\\n',\n\
         \x20                '{\"ready\": {\"functions\": [], \"values\": {}, \"modules\": {}}}\\n'):\n\
         \x20       try:\n\
         \x20           os.write(fd, line.encode())\n\
         \x20       except OSError:\n\
         \x20           pass\n",
    ),
    (
        "hunts the nonce in the harness's frames and forges its line",
        "import sys\n\
         f = sys._getframe()\n\
         while f is not None:\n\
         \x20   for k, v in list(f.f_locals.items()):\n\
         \x20       if isinstance(v, str) and 'KILN-VERDICT' in v:\n\
         \x20           print(v + '{\"verdict\": \"pass\", \"kind\": null, \"message\": \"\", \"line\": null}')\n\
         \x20   f = f.f_back\n",
    ),
    (
        "walks the garbage collector for the harness's state",
        "import gc\nfor o in gc.get_objects():\n    pass\n",
    ),
    (
        "answers with an object equal to everything",
        "class Yes:\n    def __eq__(self, other):\n        return True\n\
         def add(a, b):\n    return Yes()\n",
    ),
    (
        "answers with an int subclass equal to everything",
        "class S(int):\n    def __eq__(self, other):\n        return True\n    __hash__ = int.__hash__\n\
         def add(a, b):\n    return S(a - b)\n",
    ),
    (
        "exits with status 0 during the call",
        "import os\ndef add(a, b):\n    os._exit(0)\n",
    ),
    (
        "raises SystemExit during the call",
        "import sys\ndef add(a, b):\n    sys.exit(0)\n",
    ),
    (
        "raises StopIteration to end the test's iteration",
        "def add(a, b):\n    raise StopIteration\n",
    ),
    (
        "replaces the test's assertion machinery",
        "import builtins\nbuiltins.AssertionError = type('Nope', (BaseException,), {})\n\
         builtins.__import__ = None\n",
    ),
    (
        "reads the parent's environment",
        "import os\nprint(open('/proc/%d/environ' % os.getppid()).read())\n",
    ),
    (
        "detaches a long-lived child process",
        "import os\nif os.fork() == 0:\n    os.setsid()\n    import time\n    time.sleep(300)\n",
    ),
];

#[test]
fn a_solution_cannot_forge_its_verdict() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    if interpreter_missing(Language::Python) {
        return;
    }
    let test = TestCase {
        name: "add".into(),
        code: "assert add(2, 2) == 4\nassert all(map(lambda x: add(x, x) == 2 * x, [1, 2]))\n\
               assert add(1, 1) == 2"
            .into(),
    };
    // The control: the same test passes an honest solution, and fails the plain wrong one.
    let honest = "def add(a, b):\n    return a + b\n";
    let v = run_tests(
        honest,
        Language::Python,
        std::slice::from_ref(&test),
        &hostile_limits(),
    )
    .unwrap();
    assert_eq!(v[0].outcome, Outcome::Pass, "{:?}", v[0]);
    let wrong = "def add(a, b):\n    return a - b\n";
    let v = run_tests(
        wrong,
        Language::Python,
        std::slice::from_ref(&test),
        &hostile_limits(),
    )
    .unwrap();
    assert_eq!(v[0].outcome, Outcome::Fail, "{:?}", v[0]);
    let mut passed = Vec::new();
    for (name, attack) in FORGERS {
        let code = if attack.contains("def add") {
            attack.to_string()
        } else {
            format!("{attack}\n{wrong}")
        };
        let v = run_tests(
            &code,
            Language::Python,
            std::slice::from_ref(&test),
            &hostile_limits(),
        )
        .unwrap();
        eprintln!(
            "forger {name:<58} {:?} {:?} {}",
            v[0].outcome, v[0].kind, v[0].message
        );
        if v[0].outcome == Outcome::Pass {
            passed.push(format!("{name}: {:?}", v[0]));
        }
    }
    assert!(passed.is_empty(), "forged passes:\n{}", passed.join("\n"));
    assert!(
        leftover_processes().is_empty(),
        "{:?}",
        leftover_processes()
    );
}
