# kiln jail launcher (CPython 3.8+), run inside bubblewrap's namespaces, before the interpreter
# that runs generated code:
#
#   python3 -I -S -c "<this file>" '<json config>' PROGRAM ARG...
#
# config: {"workdir": "<abs dir>", "probe": false}
#
# It confines its own process with what the kernel offers and then execs PROGRAM, which
# inherits every restriction (neither can be undone after exec):
#   - no_new_privs (prctl), so nothing exec'd can gain privileges;
#   - Landlock (when the kernel has it): the file system read-only and executable, the work
#     directory read-write, /dev/null writable; TCP bind and connect refused (ABI >= 4);
#     signals and abstract unix sockets scoped to the jail (ABI >= 6);
#   - a seccomp filter (x86_64 only: the syscall numbers below are that architecture's):
#     refuses, with EPERM, the calls that reach other processes' memory (ptrace,
#     process_vm_*), change mounts or namespaces, load kernel code (bpf, modules, kexec),
#     io_uring (which bypasses the filter), keyrings, perf events, userfaultfd, and sockets of
#     any family but AF_UNIX (EAFNOSUPPORT); any other architecture's calls are killed.
#
# With "probe": true it applies nothing and prints one JSON line describing what it would
# apply ({"landlock": ABI or 0, "seccomp": true/false, "why": [...]}), then exits 0.
# Exit status 3 with a message on stderr: a layer that the probe reported could not be applied.

import ctypes
import json
import os
import platform
import struct
import sys


def _main():
    config = json.loads(sys.argv[1])
    argv = sys.argv[2:]
    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long
    libc.prctl.restype = ctypes.c_int
    why = []

    def word(a):
        # Both calls are variadic: every argument goes as a full machine word.
        if a is None:
            return ctypes.c_long(0)
        if isinstance(a, int):
            return ctypes.c_long(a)
        return ctypes.c_long(ctypes.addressof(a))

    def syscall(*args):
        return libc.syscall(*[word(a) for a in args])

    def prctl(*args):
        return libc.prctl(*[word(a) for a in args])

    def fail(msg):
        os.write(2, ("kiln-jail: " + msg + "\n").encode("utf-8", "replace"))
        os._exit(3)

    # ---- Landlock ---------------------------------------------------------------------------
    SYS_CREATE, SYS_ADD_RULE, SYS_RESTRICT = 444, 445, 446  # the same on every architecture
    abi = syscall(SYS_CREATE, None, 0, 1)
    if abi < 0:
        why.append("landlock: not available (errno %d)" % ctypes.get_errno())
        abi = 0

    machine = platform.machine()
    seccomp = machine == "x86_64"
    if not seccomp:
        why.append("seccomp: no filter for %s (its syscall table is not built in)" % machine)

    if config.get("probe"):
        print(json.dumps({"landlock": abi, "seccomp": seccomp, "why": why}))
        sys.stdout.flush()
        os._exit(0)

    PR_SET_NO_NEW_PRIVS = 38
    if prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
        fail("prctl(PR_SET_NO_NEW_PRIVS) failed (errno %d)" % ctypes.get_errno())

    if abi > 0:
        EXECUTE, WRITE_FILE, READ_FILE, READ_DIR = 1, 2, 4, 8
        fs_all = (1 << 13) - 1                 # ABI 1: execute .. make_sym
        if abi >= 2:
            fs_all |= 1 << 13                  # refer
        if abi >= 3:
            fs_all |= 1 << 14                  # truncate
        if abi >= 5:
            fs_all |= 1 << 15                  # ioctl_dev
        file_rights = EXECUTE | WRITE_FILE | READ_FILE | (fs_all & ((1 << 14) | (1 << 15)))
        if abi >= 6:
            attr = struct.pack("=QQQ", fs_all, 3, 3)   # net: bind+connect TCP; scope: both
        elif abi >= 4:
            attr = struct.pack("=QQ", fs_all, 3)
        else:
            attr = struct.pack("=Q", fs_all)
        buf = ctypes.create_string_buffer(attr, len(attr))
        ruleset = syscall(SYS_CREATE, buf, len(attr), 0)
        if ruleset < 0:
            fail("landlock_create_ruleset failed (errno %d)" % ctypes.get_errno())

        def allow(path, rights):
            fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
            try:
                rule = ctypes.create_string_buffer(struct.pack("=Qi", rights, fd), 12)
                if syscall(SYS_ADD_RULE, ruleset, 1, rule, 0) != 0:
                    fail("landlock_add_rule(%s) failed (errno %d)" % (path, ctypes.get_errno()))
            finally:
                os.close(fd)

        allow("/", EXECUTE | READ_FILE | READ_DIR)
        allow(config["workdir"], fs_all)
        allow("/dev/null", file_rights & (READ_FILE | WRITE_FILE | (1 << 14)))
        if syscall(SYS_RESTRICT, ruleset, 0) != 0:
            fail("landlock_restrict_self failed (errno %d)" % ctypes.get_errno())
        os.close(ruleset)

    # ---- seccomp ----------------------------------------------------------------------------
    if seccomp:
        LD_ABS_W, JEQ_K, JSET_K, RET_K = 0x20, 0x15, 0x45, 0x06
        ALLOW, KILL = 0x7FFF0000, 0x80000000
        EPERM, EAFNOSUPPORT, ENOSYS = 1, 97, 38

        def errno(e):
            return 0x00050000 | e

        denied = [
            101, 310, 311, 312, 438,           # ptrace, process_vm_readv/writev, kcmp, pidfd_getfd
            440,                               # process_madvise
            165, 166, 155, 161, 272, 308,      # mount, umount2, pivot_root, chroot, unshare, setns
            428, 429, 430, 431, 432, 433, 442,  # open_tree, move_mount, fsopen..fspick, setattr
            248, 249, 250,                     # add_key, request_key, keyctl
            321, 298, 323,                     # bpf, perf_event_open, userfaultfd
            246, 320, 175, 313, 176,           # kexec_load, kexec_file_load, modules
            169, 167, 168, 163,                # reboot, swapon, swapoff, acct
            303, 304,                          # name_to_handle_at, open_by_handle_at
            425, 426, 427,                     # io_uring_setup/enter/register
            135, 173, 172, 153,                # personality, ioperm, iopl, vhangup
            164, 227, 159, 179, 212,           # settimeofday, clock_settime, adjtimex, quotactl
        ]
        CLONE, CLONE3, SOCKET = 56, 435, 41
        NS_FLAGS = 0x10000000 | 0x00020000 | 0x40000000 | 0x20000000 | 0x08000000 \
            | 0x04000000 | 0x02000000 | 0x00000080  # user, mnt, net, pid, ipc, uts, cgroup, time
        prog = []

        def op(code, k, jt=0, jf=0):
            prog.append(struct.pack("=HBBI", code, jt, jf, k))

        op(LD_ABS_W, 4)                        # seccomp_data.arch
        op(JEQ_K, 0xC000003E, 1, 0)            # AUDIT_ARCH_X86_64
        op(RET_K, KILL)
        op(LD_ABS_W, 0)                        # seccomp_data.nr
        op(0x35, 0x40000000, 0, 1)             # JGE: the x32 ABI
        op(RET_K, KILL)
        for nr in denied:
            op(JEQ_K, nr, 0, 1)
            op(RET_K, errno(EPERM))
        op(JEQ_K, CLONE3, 0, 1)                # clone3's flags are behind a pointer: ENOSYS
        op(RET_K, errno(ENOSYS))               # makes the C library fall back to clone
        op(JEQ_K, CLONE, 0, 3)
        op(LD_ABS_W, 16)                       # args[0] (low half): the clone flags
        op(JSET_K, NS_FLAGS, 0, 1)
        op(RET_K, errno(EPERM))
        op(LD_ABS_W, 0)
        op(JEQ_K, SOCKET, 0, 3)
        op(LD_ABS_W, 16)                       # args[0]: the address family
        op(JEQ_K, 1, 1, 0)                     # AF_UNIX
        op(RET_K, errno(EAFNOSUPPORT))
        op(RET_K, ALLOW)
        code = b"".join(prog)
        filt = ctypes.create_string_buffer(code, len(code))
        fprog = ctypes.create_string_buffer(
            struct.pack("=HxxxxxxQ", len(prog), ctypes.addressof(filt)), 16)
        PR_SET_SECCOMP, SECCOMP_MODE_FILTER = 22, 2
        if prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, fprog, 0, 0) != 0:
            fail("seccomp filter refused (errno %d)" % ctypes.get_errno())

    try:
        os.execv(argv[0], argv)
    except OSError as e:
        fail("cannot start %s: %s" % (argv[0], e))


_main()
