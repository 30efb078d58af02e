# kiln sandbox harness for Python (CPython 3.11+).
#
# Run as:  python3 -I -c "<this file>"   (cwd = a fresh empty directory)
# stdin:   one JSON object
#            {"nonce": "<32 hex>", "program": "<source>", "workdir": "<abs dir = cwd>",
#             "limits": {"cpu_seconds": 5, "memory_bytes": 1073741824,
#                        "file_bytes": 1048576, "open_files": 64}}
#          A limit that is missing or null is left as inherited (RLIMIT_CORE is always 0).
# stdout:  whatever the program prints, then, on the ORIGINAL fd 1, one line
#            \nKILN-VERDICT-<nonce> {"verdict": V, "kind": K, "message": M, "line": L}\n
#          V: "pass" | "fail" | "error" | "forbidden" | "resource"
#          K: null, or "memory" / "recursion" / "file" (RLIMIT_FSIZE: Python ignores SIGXFSZ,
#             so the write fails with EFBIG) when V is "resource"
#          L: line in the program (1-based) or null.  Pure ASCII (json.dumps ensure_ascii style).
#          The leading "\n" keeps the verdict at the start of a line even when the program's
#          output did not end with a newline.  The process then exits with status 0.
# Exit status 3 (message on stderr, no verdict line): the request itself was unusable
# (bad JSON, bad nonce, setrlimit failed).  Anything else without a verdict line is a
# crash of the interpreter: SIGXCPU (CPU limit), SIGKILL, SIGSEGV (C stack), ...
#
# Defence in depth, not a security boundary on its own: an audit hook (cannot be removed)
# forbids process creation, signals, network, ctypes, and file system access outside the
# working directory; rlimits bound CPU, memory, file size and descriptors; dangerous os /
# shutil / subprocess functions are replaced (as HumanEval's reliability_guard does) by
# functions that report the violation.  A violation is recorded even when the program
# catches it, so the verdict is still "forbidden".


def _kiln_harness():
    import sys
    import os
    import posix
    import builtins
    import json
    import resource
    import _imp

    # ---- primitives captured before any user code runs --------------------------------
    _write = posix.write
    _dup = posix.dup
    _exit = posix._exit
    _lstat = posix.lstat
    _readlink = posix.readlink
    _getcwd = posix.getcwd
    _getframe = sys._getframe
    _getrlimit = resource.getrlimit
    _setrecursionlimit = sys.setrecursionlimit
    _settrace = sys.settrace
    _setprofile = sys.setprofile
    _fspath = os.fspath
    _fsdecode = os.fsdecode
    _str = str
    _bytes = bytes
    _int = int
    _bool = bool
    _len = len
    _ord = ord
    _repr = repr
    _type = type
    _isinstance = isinstance
    _getattr = getattr
    _BaseException = BaseException
    _Exception = Exception
    _SystemExit = SystemExit
    _AssertionError = AssertionError
    _MemoryError = MemoryError
    _RecursionError = RecursionError
    _SyntaxError = SyntaxError
    _OSError = OSError
    _compile = compile
    _exec = exec
    _O_WRITE = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_TRUNC
    _MAX_MESSAGE = 2000

    def die(msg):
        try:
            _write(2, ("kiln-harness: " + msg + "\n").encode("utf-8", "replace"))
        finally:
            _exit(3)

    # ---- request --------------------------------------------------------------------------
    _read = posix.read
    pending = [b""]

    def readline():
        # One line from fd 0 (the parent's channel), without the newline; None at the end.
        while True:
            data = pending[0]
            cut = data.find(b"\n")
            if cut >= 0:
                pending[0] = data[cut + 1:]
                return data[:cut]
            try:
                more = _read(0, 1 << 16)
            except InterruptedError:
                continue
            if not more:
                pending[0] = b""
                return data or None
            pending[0] = data + more

    try:
        request = json.loads(readline() or b"")
        role = request.get("role", "program")
        nonce = request["nonce"]
        program = request["program"]
        workdir = request["workdir"]
        limits = request.get("limits") or {}
        line_offset = request.get("line_offset", 0)
        solution_names = request.get("names") or {}
    except _BaseException as e:
        die("bad request: %s: %s" % (_type(e).__name__, e))
    if not (_isinstance(nonce, _str) and _len(nonce) == 32
            and all(c in "0123456789abcdef" for c in nonce)):
        die("bad request: nonce must be 32 lowercase hex digits")
    if not _isinstance(program, _str) or not _isinstance(workdir, _str) \
            or not workdir.startswith("/") or not _isinstance(limits, dict) \
            or role not in ("program", "solution", "test") \
            or _type(line_offset) is not _int or not 0 <= line_offset < 1 << 24 \
            or not _isinstance(solution_names, dict):
        die("bad request: role/program/workdir/limits/line_offset/names have the wrong type")
    del request

    # The split roles' channel carries only this harness's lines; the single program's stdout
    # also carries what the program prints, so its verdict line is marked with the nonce.
    prefix = "\nKILN-VERDICT-" + nonce + " " if role == "program" else ""

    def jstr(s):
        out = ['"']
        for ch in s:
            o = _ord(ch)
            if ch == '"':
                out.append('\\"')
            elif ch == "\\":
                out.append("\\\\")
            elif 0x20 <= o < 0x7F:
                out.append(ch)
            elif ch == "\n":
                out.append("\\n")
            elif ch == "\r":
                out.append("\\r")
            elif ch == "\t":
                out.append("\\t")
            elif ch == "\b":
                out.append("\\b")
            elif ch == "\f":
                out.append("\\f")
            elif o < 0x10000:
                out.append("\\u%04x" % o)
            else:
                o -= 0x10000
                out.append("\\u%04x\\u%04x" % (0xD800 + (o >> 10), 0xDC00 + (o & 0x3FF)))
        out.append('"')
        return "".join(out)

    def verdict_line(verdict, kind, message, line):
        return (prefix + '{"verdict": ' + jstr(verdict)
                + ', "kind": ' + ("null" if kind is None else jstr(kind))
                + ', "message": ' + jstr(message)
                + ', "line": ' + ("null" if line is None else "%d" % line) + "}\n")

    # Pre-built so that it can be written even when no memory is left.
    memory_line = verdict_line("resource", "memory", "MemoryError", None).encode("ascii")

    # Our own copy of stdout, immune to the program closing or redirecting fd 1.  In the two
    # split roles fd 1 becomes a copy of stderr: what the code prints is output, and the
    # original stdout carries only this harness's lines.
    try:
        verdict_fd = _dup(1)
        if role != "program":
            posix.dup2(2, 1)
    except OSError as e:
        die("cannot dup stdout: %s" % e)

    def emit(data):
        while data:
            try:
                n = _write(verdict_fd, data)
            except InterruptedError:
                continue
            except _BaseException:
                break
            data = data[n:]

    # ---- resource limits (soft and hard; CPU hard = soft + 1 so that SIGXCPU, not SIGKILL,
    # ends a runaway loop -- with soft == hard Linux sends SIGKILL straight away) -----------
    def limit(which, value, slack=0):
        if value is None:
            return
        value = _int(value)
        if value < 0:
            raise ValueError("negative limit")
        resource.setrlimit(which, (value, value + slack))

    try:
        limit(resource.RLIMIT_CPU, limits.get("cpu_seconds"), 1)
        limit(resource.RLIMIT_AS, limits.get("memory_bytes"))
        limit(resource.RLIMIT_FSIZE, limits.get("file_bytes"))
        limit(resource.RLIMIT_NOFILE, limits.get("open_files"))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    except _BaseException as e:
        die("setrlimit failed: %s: %s" % (_type(e).__name__, e))

    os.environ["TMPDIR"] = workdir  # tempfile lands inside the sandbox
    os.environ["OMP_NUM_THREADS"] = "1"
    os.environ["OPENBLAS_NUM_THREADS"] = "1"

    # Modules whose functions get replaced below must be loaded now.
    import signal
    import shutil
    import subprocess
    import _posixsubprocess
    import _signal

    # ---- paths ------------------------------------------------------------------------------
    def realpath(p):
        # os.path.realpath (non-strict) with captured primitives, so that a program that
        # patches os / os.path cannot fool the checks.  None: unresolvable (symlink loop).
        if not p.startswith("/"):
            p = _getcwd() + "/" + p
        todo = p.split("/")
        todo.reverse()
        resolved = ""
        links = 0
        while todo:
            c = todo.pop()
            if c == "" or c == ".":
                continue
            if c == "..":
                resolved = resolved[:resolved.rfind("/")] if resolved else ""
                continue
            candidate = resolved + "/" + c
            try:
                st = _lstat(candidate)
            except (OSError, ValueError):
                resolved = candidate
                continue
            if st.st_mode & 0o170000 == 0o120000:
                links += 1
                if links > 40:
                    return None
                try:
                    target = _readlink(candidate)
                except (OSError, ValueError):
                    return None
                if target.startswith("/"):
                    resolved = ""
                parts = target.split("/")
                parts.reverse()
                todo.extend(parts)
                continue
            resolved = candidate
        return resolved or "/"

    def inside(path, root):
        return path == root or path.startswith(root + "/")

    root = realpath(workdir)
    if root is None or root == "/":
        die("bad workdir")
    read_roots = []
    for entry in [sys.prefix, sys.base_prefix, sys.exec_prefix] + list(sys.path) \
            + ["/usr/share/zoneinfo"]:
        if _isinstance(entry, _str) and entry.startswith("/"):
            r = realpath(entry)
            if r and r != "/" and r not in read_roots:
                read_roots.append(r)
    read_files = ("/dev/null", "/dev/urandom", "/dev/random")
    write_files = ("/dev/null",)
    stdio_names = ("/dev/stdin", "/dev/stdout", "/dev/stderr")

    def as_text(p):
        # Event argument -> str path, or None for a file descriptor / no path.
        if p is None or _isinstance(p, _int):
            return None
        if not _isinstance(p, (_str, _bytes)):
            p = _fspath(p)
        if _isinstance(p, _bytes):
            p = _fsdecode(p)
        return p

    def may_read(path):
        if path is None:
            return True
        if path in stdio_names:
            return True
        r = realpath(path)
        if r is None:
            return False
        if inside(r, root) or r in read_files:
            return True
        for rr in read_roots:
            if inside(r, rr):
                return True
        return False

    def may_write(path):
        if path is None:
            return True
        if path in stdio_names:
            return True
        r = realpath(path)
        return r is not None and (inside(r, root) or r in write_files)

    # ---- violations -------------------------------------------------------------------------
    first = []

    class SandboxViolation(_BaseException):
        pass

    def violate(message):
        if not first:
            line = None
            try:
                f = _getframe(1)
                while f is not None:
                    if f.f_code.co_filename == "<generated>":
                        line = f.f_lineno
                        break
                    f = f.f_back
            except _BaseException:
                pass
            first.append((message, line))
        raise SandboxViolation(message)

    def outside(op, path, extra=""):
        violate("%s(%s%s) outside the sandbox" % (op, _repr(path), extra))

    def check_read(op, p):
        path = as_text(p)
        if not may_read(path):
            outside(op, path)

    def check_write(op, p):
        path = as_text(p)
        if not may_write(path):
            outside(op, path)

    def no_dir_fd(op, dir_fd):
        # The events report "no dir_fd" as None or -1.
        if dir_fd is not None and dir_fd != -1:
            violate(op + " with dir_fd")

    def ev_open(args):
        p, mode, flags = args[0], args[1], args[2]
        writing = (_isinstance(mode, _str) and any(c in mode for c in "wax+")) \
            or (_isinstance(flags, _int) and (flags & _O_WRITE) != 0)
        path = as_text(p)
        if writing:
            if not may_write(path):
                outside("open", path, ", %r" % (mode if _isinstance(mode, _str) else "w"))
        elif not may_read(path):
            outside("open", path, ", %r" % (mode if _isinstance(mode, _str) else "r"))

    def ev_path_write(op, path_index=0, dir_fd_index=None, fd_ok=False):
        # fd_ok: the call accepts a descriptor and needs it open for writing (truncate);
        # otherwise a descriptor could be one opened read-only outside the sandbox.
        def handler(args):
            if dir_fd_index is not None and _len(args) > dir_fd_index:
                no_dir_fd(op, args[dir_fd_index])
            p = args[path_index]
            if _isinstance(p, _int) and not fd_ok:
                violate(op + " on a file descriptor")
            check_write(op, p)
        return handler

    def ev_two_paths(op):
        # (src, dst, src_dir_fd, dst_dir_fd): both ends must stay inside the sandbox.
        def handler(args):
            for fd in args[2:4]:
                no_dir_fd(op, fd)
            check_write(op, args[0])
            check_write(op, args[1])
        return handler

    def ev_read_dir(op):
        def handler(args):
            p = args[0] if args else None
            check_read(op, "." if p is None else p)
        return handler

    def ev_chdir(args):
        path = as_text(args[0])
        if path is not None and not inside(realpath(path) or "/", root):
            outside("os.chdir", path)

    def ev_socket_new(args):
        # AF_UNIX socket pairs are what asyncio's event loop needs; connect/bind/sendto on
        # any socket are forbidden separately.
        family = args[1] if _len(args) > 1 else None
        if family != 1:
            violate("socket.socket")

    def ev_dlopen(args):
        if args and args[0] is not None:
            violate("ctypes.dlopen(%r)" % (args[0],))

    def ev_sqlite(args):
        db = args[0] if args else None
        if _isinstance(db, _bytes):
            db = _fsdecode(db)
        if db in ("", ":memory:") or db is None:
            return
        if not _isinstance(db, _str):
            db = as_text(db)
        if db.startswith("file:"):
            violate("sqlite3.connect(%r)" % db)
        check_write("sqlite3.connect", db)

    reimport_blocked = {"posix", "_signal", "_posixsubprocess", "_imp", "_io", "builtins",
                        "sys"}

    def ev_import(args):
        if args and args[0] in reimport_blocked:
            violate("re-import of %s" % args[0])

    def ev_setrlimit(args):
        # What an unprivileged process may do: lower limits, or move the soft limit up to
        # the hard one (e.g. RLIMIT_STACK for deep recursion).  As root the hard limits
        # could otherwise be raised.
        try:
            which, (soft, hard) = args[0], args[1]
            cur_hard = _getrlimit(which)[1]
        except _BaseException:
            violate("resource.setrlimit")
        inf = resource.RLIM_INFINITY

        def le(a, b):
            return b == inf or (a != inf and 0 <= a <= b)
        if not (le(soft, hard) and le(hard, cur_hard)):
            violate("resource.setrlimit raising a hard limit")

    def forbidden_event(event):
        def handler(args):
            violate(event)
        return handler

    handlers = {
        "open": ev_open,
        "os.chdir": ev_chdir,
        "os.listdir": ev_read_dir("os.listdir"),
        "os.scandir": ev_read_dir("os.scandir"),
        "os.getxattr": lambda a: check_read("os.getxattr", a[0]),
        "os.listxattr": lambda a: check_read("os.listxattr", "." if a[0] is None else a[0]),
        "os.setxattr": ev_path_write("os.setxattr"),
        "os.removexattr": ev_path_write("os.removexattr"),
        "os.mkdir": ev_path_write("os.mkdir", 0, 2),
        "os.remove": ev_path_write("os.remove", 0, 1),
        "os.rmdir": ev_path_write("os.rmdir", 0, 1),
        "os.chmod": ev_path_write("os.chmod", 0, 2),
        "os.chown": ev_path_write("os.chown", 0, 3),
        "os.utime": ev_path_write("os.utime", 0, 3),
        "os.truncate": ev_path_write("os.truncate", 0, None, True),
        "os.rename": ev_two_paths("os.rename"),
        "os.link": ev_two_paths("os.link"),
        "shutil.rmtree": ev_path_write("shutil.rmtree", 0, 1),
        "socket.__new__": ev_socket_new,
        "ctypes.dlopen": ev_dlopen,
        "sqlite3.connect": ev_sqlite,
        "import": ev_import,
        "resource.setrlimit": ev_setrlimit,
    }
    for name in (
        # processes
        "os.system", "os.exec", "os.posix_spawn", "os.spawn", "os.fork", "os.forkpty",
        "subprocess.Popen", "os.startfile", "webbrowser.open", "pty.spawn",
        # signals to processes
        "os.kill", "os.killpg", "signal.pthread_kill",
        # links (a symlink could race the path checks)
        "os.symlink",
        # network
        "socket.bind", "socket.connect", "socket.sendto", "socket.sendmsg",
        "socket.getaddrinfo", "socket.gethostbyname", "socket.gethostbyaddr",
        "socket.getnameinfo", "socket.getservbyname", "socket.getservbyport",
        "socket.sethostname", "http.client.connect", "ftplib.connect", "smtplib.connect",
        "poplib.connect", "imaplib.open", "nntplib.connect", "telnetlib.Telnet.open",
        # native code / raw memory
        "ctypes.dlsym", "ctypes.dlsym/handle", "ctypes.call_function", "ctypes.cdata",
        "ctypes.string_at", "ctypes.wstring_at", "ctypes.PyObj_FromPtr",
        "sqlite3.enable_load_extension", "sqlite3.load_extension",
        # the limits and the harness's own state
        "resource.prlimit",
        "gc.get_objects", "gc.get_referrers", "gc.get_referents",
        "syslog.openlog", "syslog.syslog",
    ):
        handlers[name] = forbidden_event(name)

    def hook(event, args):
        handler = handlers.get(event)
        if handler is not None:
            handler(args)

    sys.addaudithook(hook)

    # Re-importing a builtin module through importlib does not raise an audit event and
    # would hand out the unpatched functions again.
    create_builtin = _imp.create_builtin

    class _Spec:
        __slots__ = ("name",)

    def guarded_create_builtin(spec):
        name = spec.name
        if _type(name) is not _str:
            raise TypeError("spec.name must be str")
        if name in reimport_blocked:
            violate("re-import of %s" % name)
        clean = _Spec()
        clean.name = name
        return create_builtin(clean)

    _imp.create_builtin = guarded_create_builtin

    # ---- reliability guard: replace dangerous functions with reporting stubs --------------
    def stub(qualname):
        def forbidden(*args, **kwargs):
            violate(qualname)
        forbidden.__name__ = forbidden.__qualname__ = qualname.rpartition(".")[2]
        return forbidden

    def disable(module, prefix_name, names):
        for n in names:
            if hasattr(module, n):
                setattr(module, n, stub(prefix_name + "." + n))

    # Unlike reliability_guard, remove/unlink/rmdir/rename/replace/truncate/chmod/chown/
    # chdir/mkdir stay usable: their audit events are checked against the working
    # directory above, so e.g. tempfile and shutil.rmtree work inside it.
    os_names = (
        "kill", "killpg", "system", "popen", "fork", "forkpty", "execl", "execle", "execlp",
        "execlpe", "execv", "execve", "execvp", "execvpe", "spawnl", "spawnle", "spawnlp",
        "spawnlpe", "spawnv", "spawnve", "spawnvp", "spawnvpe", "posix_spawn", "posix_spawnp",
        "fchmod", "fchown", "lchflags", "chflags", "chroot", "fchdir", "mknod", "mkfifo",
        "symlink", "pidfd_open", "setuid", "seteuid", "setreuid", "setresuid", "setgid",
        "setegid", "setregid", "setresgid", "setgroups", "initgroups", "setpgid", "setpgrp",
        "setsid", "setpriority", "sched_setscheduler", "sched_setparam", "sched_setaffinity",
        "plock",
    )
    disable(os, "os", os_names)
    disable(posix, "os", os_names)

    real_open = posix.open

    def guarded_open(path, flags, mode=0o777, *, dir_fd=None):
        # The "open" audit event does not carry dir_fd: refuse it outright.
        if dir_fd is not None:
            violate("os.open with dir_fd")
        return real_open(path, flags, mode)

    os.open = posix.open = guarded_open
    disable(signal, "signal", ("pidfd_send_signal",))
    disable(_signal, "signal", ("pidfd_send_signal",))
    # rmtree's descriptor-based walk needs dir_fd, which is refused; the path-based one is
    # fully audited.
    shutil._use_fd_functions = False
    disable(subprocess, "subprocess", ("Popen",))
    disable(_posixsubprocess, "_posixsubprocess", ("fork_exec",))
    disable(builtins, "builtins", ("exit", "quit", "help"))
    for n in ("ipdb", "joblib", "psutil", "tkinter"):
        sys.modules[n] = None

    # ---- run -------------------------------------------------------------------------------
    def generated_line(tb):
        line = None
        while tb is not None:
            try:
                if tb.tb_frame.f_code.co_filename == "<generated>":
                    line = tb.tb_lineno
            except _BaseException:
                pass
            tb = tb.tb_next
        return line

    def describe(e):
        name = "Exception"
        try:
            name = _type(e).__name__
            text = _str(e)
        except _BaseException:
            text = ""
        return name, text

    def clip(message):
        if _len(message) > _MAX_MESSAGE:
            message = message[:_MAX_MESSAGE] + "..."
        return message

    main = _type(sys)("__main__")
    main.__builtins__ = builtins
    namespace = main.__dict__
    harness_main = sys.modules.get("__main__")
    sys.modules["__main__"] = main

    def classify(e):
        # How an exception that ended the program (or a call into it) reads as a verdict.
        line = generated_line(e.__traceback__)
        name, text = describe(e)
        remote_line = _getattr(e, "_kiln_line", None)
        if _type(remote_line) is _int:
            line = remote_line
        if _isinstance(e, _SystemExit):
            # As HumanEval's harness: exiting, even with status 0, means the tests after the
            # exit never ran, so it is not a pass.
            status = e.code
            if status is None or status == 0 or status is False:
                return ("error", None,
                        "exit status 0 before the end (the remaining tests did not run)", line)
            if _isinstance(status, _int):
                return "error", None, "exit status %d" % status, line
            return "error", None, "exit status 1 (SystemExit: %s)" % text, line
        if _isinstance(e, _AssertionError):
            return "fail", None, text or "assertion failed", line
        if _isinstance(e, _MemoryError):
            return "resource", "memory", ("MemoryError: " + text) if text else "MemoryError", line
        if _isinstance(e, _RecursionError):
            return "resource", "recursion", "RecursionError: " + text, line
        if _isinstance(e, _OSError) and e.errno == 27:  # EFBIG: RLIMIT_FSIZE
            return "resource", "file", "%s: %s" % (name, text), line
        return "error", None, ("%s: %s" % (name, text)) if text else name, line

    def execute(source):
        try:
            try:
                code = _compile(source, "<generated>", "exec")
            except _SyntaxError as e:
                line = e.lineno if _isinstance(e.lineno, _int) else None
                return "error", None, "%s: %s" % (_type(e).__name__, e.msg), line
            try:
                _exec(code, namespace)
            except _BaseException as e:
                result = classify(e)
                e = None
                return result
        except _MemoryError:
            return "resource", "memory", "MemoryError", None
        except _RecursionError as e:  # compiling deeply nested code
            return "resource", "recursion", "RecursionError: %s" % e, None
        except _BaseException as e:
            name, text = describe(e)
            return "error", None, "%s: %s" % (name, text), None
        return "pass", None, "", None

    # ---- values between the two processes of a split run ----------------------------------
    # The solution's process and the test's process exchange plain data only: exact builtin
    # types (a subclass, e.g. a str whose __eq__ always says yes, does not cross), tagged so
    # that tuples, sets, bytes and non-finite floats survive JSON.
    class Uncrossable(_Exception):
        pass

    _list, _tuple, _dict, _set, _frozenset, _float, _complex = \
        list, tuple, dict, set, frozenset, float, complex
    _MAX_DEPTH = 100

    def enc(v, depth=0):
        if depth > _MAX_DEPTH:
            raise Uncrossable("a value nested more than %d deep" % _MAX_DEPTH)
        t = _type(v)
        if v is None or t is _bool or t is _int or t is _str:
            return v
        if t is _float:
            return {"f": _repr(v)}
        if t is _list:
            return [enc(x, depth + 1) for x in v]
        if t is _tuple:
            return {"t": [enc(x, depth + 1) for x in v]}
        if t is _dict:
            return {"d": [[enc(k, depth + 1), enc(x, depth + 1)] for k, x in v.items()]}
        if t is _set:
            return {"s": [enc(x, depth + 1) for x in v]}
        if t is _frozenset:
            return {"fs": [enc(x, depth + 1) for x in v]}
        if t is _bytes:
            return {"b": v.hex()}
        if t is _complex:
            return {"c": [_repr(v.real), _repr(v.imag)]}
        raise Uncrossable("a value of type %s" % t.__name__)

    def dec(v, depth=0):
        if depth > _MAX_DEPTH:
            raise Uncrossable("a value nested more than %d deep" % _MAX_DEPTH)
        t = _type(v)
        if v is None or t is _bool or t is _int or t is _str:
            return v
        if t is _list:
            return [dec(x, depth + 1) for x in v]
        if t is _dict and _len(v) == 1:
            tag, body = next(iter(v.items()))
            if tag == "f" and _type(body) is _str:
                return _float(body)
            if tag == "t" and _type(body) is _list:
                return _tuple(dec(x, depth + 1) for x in body)
            if tag == "d" and _type(body) is _list:
                out = {}
                for pair in body:
                    if _type(pair) is not _list or _len(pair) != 2:
                        raise Uncrossable("a malformed dict")
                    out[dec(pair[0], depth + 1)] = dec(pair[1], depth + 1)
                return out
            if tag == "s" and _type(body) is _list:
                return _set(dec(x, depth + 1) for x in body)
            if tag == "fs" and _type(body) is _list:
                return _frozenset(dec(x, depth + 1) for x in body)
            if tag == "b" and _type(body) is _str:
                return _bytes.fromhex(body)
            if tag == "c" and _type(body) is _list and _len(body) == 2:
                return _complex(_float(body[0]), _float(body[1]))
        raise Uncrossable("an unknown value")

    def send(obj):
        emit((json.dumps(obj) + "\n").encode("ascii"))

    def serve():
        # The solution's side: report what it defines, then answer calls until the parent
        # closes the channel.  Nothing here decides a verdict: the test's process does.
        import types
        functions, values, modules = [], {}, {}
        for name, v in _list(namespace.items()):
            if name.startswith("__"):
                continue
            if _isinstance(v, types.ModuleType):
                modules[name] = v.__name__
            elif callable(v):
                if not _isinstance(v, _type):
                    functions.append(name)
            else:
                try:
                    values[name] = enc(v)
                except _BaseException:
                    pass
        send({"ready": {"functions": functions, "values": values, "modules": modules}})
        while not first:
            raw = readline()
            if raw is None:
                return
            try:
                req = json.loads(raw)
                fn = namespace[req["call"]]
                args = dec(req["args"])
                kwargs = dec(req["kwargs"])
            except _BaseException as e:
                send({"raise": "RuntimeError", "message": "bad call: %s" % describe(e)[1]})
                continue
            try:
                try:
                    out = {"ok": enc(fn(*args, **kwargs))}
                except Uncrossable as e:
                    out = {"raise": "TypeError", "message":
                           "the solution returned %s, which cannot leave its process" % e}
                del args, kwargs
            except _BaseException as e:
                name, text = describe(e)
                if _isinstance(e, _SystemExit):
                    name, text = "SystemExit", "the solution exited during a call"
                out = {"raise": name, "message": clip(text),
                       "line": generated_line(e.__traceback__)}
                e = None
            if first:
                return
            send(out)

    def install_proxies():
        # The test's side: every function the solution defined becomes a stub that sends the
        # call's arguments to the solution's process and returns its answer, decoded.
        def call(name, args, kwargs):
            try:
                request = {"call": name, "args": enc(_list(args)), "kwargs": enc(_dict(kwargs))}
            except Uncrossable as e:
                raise TypeError("cannot pass %s to the solution's process" % e)
            send(request)
            raw = readline()
            if raw is None:
                raise SolutionEnded("the solution's process ended during %s()" % name)
            reply = json.loads(raw)
            if _type(reply) is _dict and "ok" in reply:
                try:
                    return dec(reply["ok"])
                except Uncrossable as e:
                    raise TypeError("the solution's answer is not plain data (%s)" % e)
            name = reply.get("raise") if _type(reply) is _dict else None
            message = reply.get("message") if _type(reply) is _dict else None
            cls = _getattr(builtins, name, None) if _type(name) is _str else None
            # StopIteration would end the test's iteration early (all(map(f, xs)) is True).
            if not (_isinstance(cls, _type) and issubclass(cls, _Exception)) \
                    or issubclass(cls, (StopIteration, StopAsyncIteration)):
                cls = _type(name if _type(name) is _str and name.isidentifier()
                            else "SolutionError", (_Exception,), {})
            err = cls(message if _type(message) is _str else "")
            line = reply.get("line") if _type(reply) is _dict else None
            if _type(line) is _int:
                err._kiln_line = line
            raise err

        def proxy_for(name):
            def proxy(*args, **kwargs):
                return call(name, args, kwargs)
            proxy.__name__ = proxy.__qualname__ = name
            return proxy

        import importlib
        for name, module in (solution_names.get("modules") or {}).items():
            if _type(name) is _str and _type(module) is _str:
                try:
                    namespace[name] = importlib.import_module(module)
                except _BaseException:
                    pass
        for name, v in (solution_names.get("values") or {}).items():
            try:
                namespace[name] = dec(v)
            except _BaseException:
                pass
        for name in solution_names.get("functions") or []:
            if _type(name) is _str and name.isidentifier():
                namespace[name] = proxy_for(name)

    class SolutionEnded(_BaseException):
        pass

    if role == "test":
        install_proxies()
        program = "\n" * line_offset + program
    verdict, kind, message, line = execute(program)
    del program
    if role == "solution" and verdict == "pass" and not first:
        try:
            serve()
        except _BaseException:
            pass

    # Undo what the program may have done to the interpreter that the code below relies on.
    try:
        _settrace(None)
        _setprofile(None)
        _setrecursionlimit(1000)
    except _BaseException:
        pass

    if first:
        verdict, kind = "forbidden", None
        message, line = first[0]

    # Free what the program built before formatting the verdict.
    try:
        namespace.clear()
    except _BaseException:
        pass
    for stream in (sys.stdout, sys.stderr, sys.__stdout__, sys.__stderr__):
        try:
            stream.flush()
        except _BaseException:
            pass
    try:
        data = verdict_line(verdict, kind, clip(message), line).encode("ascii")
    except _BaseException:
        data = memory_line if kind == "memory" else verdict_line(
            verdict, kind, "(message unavailable)", None).encode("ascii")
    emit(data)
    _exit(0)


_kiln_harness()
