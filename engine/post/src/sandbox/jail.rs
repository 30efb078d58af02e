//! The operating-system jail around every native test run (Linux).
//!
//! Each interpreter starts under bubblewrap (`bwrap`, Debian's `bubblewrap`) in new user,
//! network, PID, mount, IPC, UTS and cgroup namespaces: no network but its own loopback, no
//! other process visible, the file system read-only (`/usr`, the few files of `/etc` a loader
//! reads, the interpreter's own prefix; nothing of the user's home), an empty work directory the
//! only writable place, the
//! environment cleared, every capability dropped, a new session (no terminal to inject into),
//! and the whole namespace killed when bwrap is (the kernel ends every process of a PID
//! namespace with its first one). Inside, `jail.py` adds `no_new_privs`, Landlock and a seccomp
//! filter before it execs the interpreter (see that file). The harness's audit hook and limits
//! stay as the inner layer that names what was refused.
//!
//! What the jail could be built from is probed once per process ([`status`]).

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

const JAIL_PY: &str = include_str!("jail.py");

/// The files of `/etc` shown in the jail (those that exist).
const ETC: &[&str] = &[
    "/etc/ld.so.cache",
    "/etc/ld.so.conf",
    "/etc/ld.so.conf.d",
    "/etc/alternatives",
    "/etc/localtime",
    "/etc/passwd",
    "/etc/group",
    "/etc/nsswitch.conf",
    "/etc/ssl/openssl.cnf",
];

/// The jail this machine offers.
#[derive(Debug, Clone)]
pub struct Jail {
    bwrap: PathBuf,
    /// The real Python executable (not a version manager's shim) and its installation prefix.
    python: PathBuf,
    python_prefix: PathBuf,
    /// Landlock's ABI version inside the jail (0: the kernel has none).
    pub landlock_abi: u32,
    /// Whether the seccomp filter is applied (x86_64).
    pub seccomp: bool,
    /// What is missing, in words (e.g. no Landlock on this kernel).
    pub missing: Vec<String>,
}

/// The jail, or why there is none (probed once; cheap afterwards).
pub fn status() -> std::result::Result<&'static Jail, &'static str> {
    static JAIL: OnceLock<std::result::Result<Jail, String>> = OnceLock::new();
    JAIL.get_or_init(probe).as_ref().map_err(String::as_str)
}

/// A one-line description of the jail, for reports and `kiln` diagnostics.
pub fn describe() -> String {
    match status() {
        Ok(j) => {
            let landlock = if j.landlock_abi > 0 {
                format!("Landlock ABI {}", j.landlock_abi)
            } else {
                "no Landlock".into()
            };
            let seccomp = if j.seccomp { "seccomp" } else { "no seccomp" };
            format!("bubblewrap namespaces, {landlock}, {seccomp}")
        }
        Err(why) => format!("none ({why})"),
    }
}

fn probe() -> std::result::Result<Jail, String> {
    if !cfg!(target_os = "linux") {
        return Err("the jail needs Linux namespaces".into());
    }
    let bwrap = on_path("bwrap")
        .ok_or("bubblewrap is not installed (Debian/Ubuntu: apt install bubblewrap)")?;
    let (python, python_prefix) = real_python()?;
    let mut jail = Jail {
        bwrap,
        python,
        python_prefix,
        landlock_abi: 0,
        seccomp: false,
        missing: Vec::new(),
    };
    let dir = std::env::temp_dir().join(format!("kiln-jail-probe-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
    let out = jail
        .command(&dir, &[], vec![OsString::from("/bin/true")], true)
        .stdin(Stdio::null())
        .output();
    let _ = std::fs::remove_dir_all(&dir);
    let out = out.map_err(|e| format!("cannot start bwrap: {e}"))?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        return Err(format!(
            "bwrap cannot make namespaces here ({}): {}",
            out.status,
            err.trim().lines().last().unwrap_or("")
        ));
    }
    let report: serde_json::Value = serde_json::from_slice(&out.stdout)
        .map_err(|e| format!("the jail's probe said something unreadable: {e}"))?;
    jail.landlock_abi = report["landlock"].as_u64().unwrap_or(0) as u32;
    jail.seccomp = report["seccomp"].as_bool().unwrap_or(false);
    jail.missing = report["why"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|w| w.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    Ok(jail)
}

impl Jail {
    /// The Python interpreter to name inside the jail.
    pub fn python(&self) -> &Path {
        &self.python
    }

    /// `argv` (its first element an absolute path) confined in a jail whose only writable
    /// place is `workdir`; `roots` are extra directories to show read-only (an interpreter's
    /// prefix outside `/usr`).
    pub fn command(
        &self,
        workdir: &Path,
        roots: &[PathBuf],
        argv: Vec<OsString>,
        probe: bool,
    ) -> Command {
        let mut cmd = Command::new(&self.bwrap);
        cmd.args([
            "--unshare-all",
            "--die-with-parent",
            "--new-session",
            "--cap-drop",
            "ALL",
            "--uid",
            "65534",
            "--gid",
            "65534",
            "--hostname",
            "kiln-sandbox",
            "--ro-bind",
            "/usr",
            "/usr",
        ]);
        // Of /etc only what a dynamic loader and an interpreter read: not the whole of it
        // (when kiln runs as root, root's files are the jail user's own, /etc/shadow included).
        for f in ETC {
            cmd.args(["--ro-bind-try", f, f]);
        }
        // Debian's merged /usr: /bin, /lib, … are symbolic links into it.
        for top in ["/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"] {
            match std::fs::read_link(top) {
                Ok(target) => {
                    cmd.arg("--symlink").arg(target).arg(top);
                }
                Err(_) if Path::new(top).is_dir() => {
                    cmd.args(["--ro-bind", top, top]);
                }
                Err(_) => {}
            }
        }
        let mut shown: Vec<&Path> = vec![&self.python_prefix];
        shown.extend(roots.iter().map(PathBuf::as_path));
        for root in shown {
            if !root.starts_with("/usr") && root != Path::new("/") {
                cmd.arg("--ro-bind").arg(root).arg(root);
            }
        }
        cmd.args(["--dev", "/dev", "--proc", "/proc", "--tmpfs", "/tmp"])
            .arg("--bind")
            .arg(workdir)
            .arg(workdir)
            .arg("--chdir")
            .arg(workdir)
            .args([
                "--clearenv",
                "--setenv",
                "PATH",
                "/usr/local/bin:/usr/bin:/bin",
            ])
            .arg("--setenv")
            .arg("HOME")
            .arg(workdir)
            .arg("--setenv")
            .arg("TMPDIR")
            .arg(workdir)
            .args(["--setenv", "LANG", "C.UTF-8", "--"]);
        let config = serde_json::json!({"workdir": workdir, "probe": probe});
        cmd.arg(&self.python)
            .args(["-I", "-S", "-c", JAIL_PY])
            .arg(config.to_string())
            .args(argv);
        cmd
    }
}

/// `name` resolved on PATH, symbolic links followed.
pub fn on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
        .and_then(|p| p.canonicalize().ok())
}

/// The installation prefix of a program at `/prefix/bin/name`.
pub fn prefix_of(program: &Path) -> Option<PathBuf> {
    program.parent()?.parent().map(Path::to_path_buf)
}

/// What `python3` on PATH really runs (pyenv and similar put a shell script there): its
/// `sys.executable` and `sys.base_prefix`.
fn real_python() -> std::result::Result<(PathBuf, PathBuf), String> {
    let out = Command::new("python3")
        .args([
            "-I",
            "-c",
            "import sys; print(sys.executable); print(sys.base_prefix)",
        ])
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .map_err(|e| format!("python3 cannot be started: {e}"))?;
    let text = String::from_utf8_lossy(&out.stdout);
    let mut lines = text.lines();
    match (lines.next(), lines.next()) {
        (Some(exe), Some(prefix)) if exe.starts_with('/') && prefix.starts_with('/') => {
            let exe = Path::new(exe)
                .canonicalize()
                .map_err(|e| format!("{exe}: {e}"))?;
            Ok((exe, PathBuf::from(prefix)))
        }
        _ => Err("python3 did not say where it is installed".into()),
    }
}
