"""Kernel-enforced confinement of sandbox processes (Linux): Landlock, seccomp-bpf, namespaces.

Loaded by the sandbox template process (``python -I -S``; stdlib plus the two bindings
below, no toolfeedback import) and by :func:`features` in the parent (``toolfeedback
doctor``). Bindings: ``landlockpy`` (Landlock rulesets, every ABI up to 7 incl. TCP
rules and signal / abstract-socket scoping) and ``seccompy`` (seccomp-bpf assembled in
pure Python, arch-checked). Both are small, dependency-free ctypes packages, so they are
core dependencies on Linux. What neither covers (``unshare``, ``mount``, ``capset``,
``prctl``) goes through libc by ctypes, four calls.

:func:`confine_template` runs once in the template; :func:`confine_episode` in every
process forked from it, before any tool code. Each step that the kernel refuses is
recorded in the returned report instead of failing, so the caller decides (strict mode
refuses to run without Landlock and seccomp).
"""

import _signal
import ctypes
import errno
import os
import resource
import signal
import sys

import landlockpy
import seccompy
from landlockpy import AccessFS, AccessNet, Ruleset, Scope
from landlockpy import _syscall as _landlock_sys
from seccompy import Action, CmpOp, Filter
from seccompy import _syscall as _seccomp_sys
from seccompy import bpf as _bpf

CLONE_NEWNS, CLONE_NEWUSER, CLONE_NEWIPC, CLONE_NEWNET = 0x20000, 0x10000000, 0x08000000, 0x40000000
MS_NOSUID, MS_NODEV, MS_NOEXEC, MS_REC, MS_PRIVATE = 2, 4, 8, 0x4000, 1 << 18
PR_SET_PDEATHSIG, CLONE_THREAD = 1, 0x10000
_SIGXFSZ, _SIG_IGN = int(signal.SIGXFSZ), int(signal.SIG_IGN)  # _signal.signal: no enum work
_EPERM = Action.ERRNO | errno.EPERM
_libc = ctypes.CDLL(None, use_errno=True)

#: Syscalls no tool needs and that reach outside the process (or the kernel's attack
#: surface): refused with EPERM in every episode process.
DENIED = (
    "ptrace", "process_vm_readv", "process_vm_writev", "process_madvise", "pidfd_open",
    "pidfd_send_signal", "pidfd_getfd", "kcmp", "bpf", "keyctl", "add_key", "request_key",
    "mount", "umount2", "pivot_root", "chroot", "unshare", "setns", "fsopen", "fsmount",
    "fsconfig", "fspick", "move_mount", "open_tree", "mount_setattr", "userfaultfd",
    "perf_event_open", "io_uring_setup", "io_uring_enter", "io_uring_register", "kexec_load",
    "kexec_file_load", "init_module", "finit_module", "delete_module", "reboot", "swapon",
    "swapoff", "acct", "quotactl", "open_by_handle_at", "name_to_handle_at", "personality",
    "setuid", "setgid", "setreuid", "setregid", "setresuid", "setresgid", "setgroups",
    "setfsuid", "setfsgid", "capset", "prctl", "seccomp", "execve", "execveat", "fork", "vfork",
    "socket", "socketpair", "connect", "bind", "listen", "accept", "accept4", "setrlimit",
    "chmod", "fchmod", "fchmodat", "fchmodat2", "chown", "fchown", "lchown", "fchownat",
    "setxattr", "lsetxattr", "fsetxattr", "removexattr", "lremovexattr", "fremovexattr",
    "utime", "utimes", "utimensat", "futimesat", "rt_sigqueueinfo", "rt_tgsigqueueinfo",
    "tkill", "migrate_pages", "move_pages", "mbind", "set_mempolicy", "ioprio_set", "mknod",
    "mknodat", "sethostname", "setdomainname", "settimeofday", "clock_settime", "adjtimex",
    "clock_adjtime", "syslog", "vhangup", "iopl", "ioperm", "modify_ldt", "uselib", "sysfs",
    "lookup_dcookie", "nfsservctl", "memfd_secret", "landlock_create_ruleset",
    "landlock_add_rule", "landlock_restrict_self")
#: The part of DENIED that the template (which never runs tool code, and is kept off the
#: network and the kernel's rarer interfaces too) or an episode's own confinement still
#: calls: only the episode filter refuses these. The rest of DENIED is refused by the
#: template's filter already, which every episode inherits (filters stack; the strictest
#: answer wins), so an episode loads a short filter (the kernel emulates a new filter for
#: every syscall number to build its cache: about 0.1 ms for the whole list).
LATE = frozenset({"mount", "umount2", "unshare", "capset", "prctl", "seccomp", "socketpair",
                  "landlock_create_ruleset", "landlock_add_rule", "landlock_restrict_self",
                  "setrlimit", "pidfd_open", "pidfd_send_signal", "fork", "vfork"})


def _check(ret):
    if ret != 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))


def unshare(flags):
    """unshare(2) (``os.unshare`` only exists from Python 3.12)."""
    _check(_libc.unshare(ctypes.c_int(flags)))


def _mount(source, target, fstype, flags, data):
    enc = (lambda s: None if s is None else s.encode())  # noqa: E731
    _check(_libc.mount(enc(source), enc(target), enc(fstype), ctypes.c_ulong(flags), enc(data)))


def _write(path, text):
    fd = os.open(path, os.O_WRONLY)
    try:
        os.write(fd, text.encode())
    finally:
        os.close(fd)


def _map_ids(uid, gid):
    """Map this process's uid/gid to themselves in the user namespace it just entered."""
    try:
        _write("/proc/self/setgroups", "deny")
    except OSError:
        pass  # kernels before 3.19 have no such file
    _write("/proc/self/uid_map", f"{uid} {uid} 1")
    _write("/proc/self/gid_map", f"{gid} {gid} 1")


class _CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapData(ctypes.Structure):
    _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32),
                ("inheritable", ctypes.c_uint32)]


_CAPSET = {"x86_64": 126, "aarch64": 91}.get(os.uname().machine)


def _capset_args():
    """capset(2)'s arguments for empty sets (built once in the template): no capability,
    even in its own namespaces (the bounding set only matters at exec, which is refused)."""
    header, data = _CapHeader(0x20080522, 0), (_CapData * 2)()
    return ctypes.c_long(_CAPSET), ctypes.byref(header), ctypes.byref(data)


def pids_cgroup_base():
    """A pids cgroup (v1 hierarchy) for this template's episodes, or ``None``."""
    root = "/sys/fs/cgroup/pids"
    if not os.path.isfile(os.path.join(root, "cgroup.procs")):
        return None
    base = os.path.join(root, f"toolfeedback-{os.getpid()}")
    try:
        os.mkdir(base, 0o700)
    except OSError:
        return None
    return base


def _join_pids_cgroup(cgroup, threads, ready=False):
    """Move this process into its own pids cgroup capped at ``threads`` tasks (threads
    count: RLIMIT_NPROC does not hold for uid 0); ``ready``: an emptied one of an ended
    episode, already capped. True, or why not."""
    if not cgroup:
        return "unavailable (no writable pids cgroup)"
    try:
        if not ready:
            os.mkdir(cgroup, 0o700)
            _write(os.path.join(cgroup, "pids.max"), str(threads))
        _write(os.path.join(cgroup, "cgroup.procs"), str(os.getpid()))
        return True
    except OSError as exc:
        return f"unavailable ({exc.strerror})"


def features():
    """What this kernel offers, as a dict (no side effects on this process)."""
    out = {"platform": sys.platform, "kernel": os.uname().release}
    out["landlock_abi"] = landlockpy.abi_version()
    out["seccomp"] = bool(seccompy.supported())
    try:
        with open("/proc/sys/user/max_user_namespaces") as f:
            out["user_namespaces"] = int(f.read()) > 0
    except (OSError, ValueError):
        out["user_namespaces"] = False
    out["pidfd"] = hasattr(os, "pidfd_open")
    return out


def read_allowlist():
    """Paths tool code may read: the interpreter, its standard library and shared libraries,
    time zones, /dev/null and /dev/urandom. Nothing else: not /proc, not /etc, not $HOME."""
    paths = {os.path.realpath(sys.executable), "/dev/null", "/dev/urandom", "/dev/zero",
             "/etc/localtime", "/usr/share/zoneinfo", "/usr/lib", "/lib", "/lib64", "/usr/lib64"}
    paths.add(os.path.realpath(os.path.dirname(os.__file__)))
    for p in sys.path:  # lib-dynload and the zipped stdlib, wherever this Python keeps them
        if p and os.path.realpath(p).startswith(os.path.realpath(sys.base_prefix)) \
                and "site-packages" not in p:
            paths.add(os.path.realpath(p))
    return sorted(p for p in paths if os.path.exists(p))


def confine_template():
    """Once, in the template: a network and IPC namespace of its own (through a user
    namespace when not root) and a first seccomp filter: DENIED but LATE, and the x32
    numbers. Returns a report dict."""
    report = {}
    try:
        unshare(CLONE_NEWNET | CLONE_NEWIPC)
        report["netns"] = True
    except OSError:
        try:
            uid, gid = os.getuid(), os.getgid()
            unshare(CLONE_NEWUSER | CLONE_NEWNET | CLONE_NEWIPC)
            _map_ids(uid, gid)
            report["netns"] = True
        except OSError as exc:
            report["netns"] = f"unavailable ({exc.strerror})"
    try:
        f = Filter(default=Action.ALLOW)
        for name in (n for n in DENIED if n not in LATE):
            try:
                f.errno(name, errno.EPERM)
            except (ValueError, KeyError):  # a name this architecture lacks
                pass
        f.load()
        if os.uname().machine == "x86_64":
            _seccomp_sys.set_mode_filter(_x32_program(), 0)
        report["seccomp_template"] = True
    except Exception as exc:  # noqa: BLE001 - reported, strict mode refuses
        report["seccomp_template"] = f"unavailable ({exc})"
    return report


_SENTINEL = 0x7EADBEEF  # stands for the episode's pid in the precompiled filter


def _episode_filter(pid, inherited=False):
    """The episode's filter; ``inherited``: the template's filter (DENIED but LATE) holds."""
    f = Filter(default=Action.ALLOW)
    for name in (n for n in DENIED if n in LATE) if inherited else DENIED:
        try:
            f.errno(name, errno.EPERM)
        except (ValueError, KeyError):  # a name this architecture lacks
            pass
    # Threads only: a clone without CLONE_THREAD is a new process. clone3 hides its flags
    # in memory, so it is ENOSYS and the C library falls back to clone.
    f.errno("clone", errno.EPERM, args=[(0, CmpOp.MASKED_EQ, 0, CLONE_THREAD)])
    f.errno("clone3", errno.ENOSYS)
    # Signals, priorities, affinities and limits: this process only.
    for name in ("kill", "tgkill"):
        f.errno(name, errno.EPERM, args=[(0, CmpOp.NE, pid)])
    f.errno("setpriority", errno.EPERM, args=[(0, CmpOp.NE, 0)])
    f.errno("setpriority", errno.EPERM, args=[(1, CmpOp.NE, 0)])
    for name in ("sched_setaffinity", "sched_setscheduler", "sched_setparam", "sched_setattr"):
        f.errno(name, errno.EPERM, args=[(0, CmpOp.NE, 0)])
    f.errno("prlimit64", errno.EPERM, args=[(2, CmpOp.NE, 0)])  # reading is fine, setting not
    f.errno("ioctl", errno.EPERM, args=[(1, CmpOp.EQ, 0x5412)])  # TIOCSTI
    return f


def _x32_program():
    """x86_64 kernels with the x32 ABI accept syscall numbers | 0x40000000 under the same
    arch value: refuse them all (the deny list names x86_64 numbers only)."""
    return _bpf.assemble([_bpf.Load(0), _bpf.Jump(_bpf.BPF_JGEQ, 0x40000000, "deny", None),
                          _bpf.Ret(int(Action.ALLOW)), _bpf.Ret(int(_EPERM))], {"deny": 3})


def _x32_enabled():
    """Whether this kernel runs x32 syscalls (getpid with the x32 bit set)."""
    ret = _libc.syscall(ctypes.c_long(0x40000000 | 39))
    return not (ret == -1 and ctypes.get_errno() == errno.ENOSYS)


def _landlock_ruleset(scratch):
    ruleset = Ruleset(handled_net=AccessNet.BIND_TCP | AccessNet.CONNECT_TCP,
                      scoped=Scope.ABSTRACT_UNIX_SOCKET | Scope.SIGNAL)
    read = AccessFS.READ_FILE | AccessFS.READ_DIR
    for path in read_allowlist():
        ruleset.allow_path(path, read if os.path.isdir(path) else AccessFS.READ_FILE)
    ruleset.allow_path("/dev/null", AccessFS.READ_FILE | AccessFS.WRITE_FILE)
    ruleset.allow_path(scratch, ruleset.handled_fs & ~AccessFS.EXECUTE)
    return ruleset


class Prepared:
    """What the template computes once for all its episodes: the scratch mount point, the
    Landlock ruleset (its fd is inherited by every fork), the seccomp programs and the
    syscalls' arguments. ``inherited``: the template's own filters hold (they are inherited
    by every fork and cannot be removed); otherwise an episode loads all of DENIED itself."""

    def __init__(self, root, inherited=False):
        self.report = {}
        self.abi = landlockpy.abi_version()
        self.root, self.scratch, self.ruleset, self.shared_mount = root, root, None, False
        try:
            # A read-only tmpfs at root holding only "ws": every episode mounts its own tmpfs
            # on ws in a mount namespace of its own, so one ruleset (beneath root) fits all.
            unshare(CLONE_NEWNS)
            _mount(None, "/", None, MS_REC | MS_PRIVATE, None)
            _mount("tmpfs", root, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, "size=64k,mode=0755")
            os.mkdir(os.path.join(root, "ws"), 0o700)
            _mount(None, root, None, 32 | 1 | MS_NOSUID | MS_NODEV | MS_NOEXEC, "size=64k")  # MS_REMOUNT|MS_RDONLY
            self.scratch, self.shared_mount = os.path.join(root, "ws"), True
            self.ruleset = _landlock_ruleset(root)
        except Exception as exc:  # noqa: BLE001 - each episode builds its own then
            self.report["shared_scratch_mount"] = f"unavailable ({exc})"
        self.cap = _capset_args() if _CAPSET is not None else None
        if self.ruleset is not None:
            self.landlock = {"abi": self.abi, "scoped": int(self.ruleset.scoped),
                             "net": int(self.ruleset.handled_net), "fs": int(self.ruleset.handled_fs)}
        try:
            self.filter = _episode_filter(_SENTINEL, inherited).program
            self.slots = [i + 4 for i in range(0, len(self.filter), 8)
                          if int.from_bytes(self.filter[i + 4:i + 8], "little") == _SENTINEL]
            self.buf = (ctypes.c_char * len(self.filter)).from_buffer_copy(self.filter)
            self.fprog = _seccomp_sys.SockFprog(len=len(self.filter) // 8, filter=ctypes.addressof(self.buf))
            self.nr = _seccomp_sys._seccomp_nr()
            self.x32 = _x32_program() if os.uname().machine == "x86_64" and not inherited \
                and _x32_enabled() else None
        except Exception as exc:  # noqa: BLE001
            self.filter, self.report["seccomp_compile"] = None, f"unavailable ({exc})"

    def fds(self):
        return [self.ruleset.fileno()] if self.ruleset is not None else []

    def load_filter(self, pid):
        """Load the episode filter, this process's pid in place of the sentinel: the call of
        ``seccompy``'s ``set_mode_filter``, its arguments built once in the template."""
        value = pid.to_bytes(4, "little")
        for i in self.slots:
            self.buf[i:i + 4] = value
        _seccomp_sys._call(self.nr, _seccomp_sys.SECCOMP_SET_MODE_FILTER, 0, ctypes.byref(self.fprog))


def confine_episode(prep, scratch, limits):
    """In a freshly forked episode process, before any tool code: its own user and mount
    namespace with a size-limited tmpfs as scratch, rlimits, capabilities dropped,
    Landlock (read: :func:`read_allowlist`; write: scratch only; no TCP; signals and
    abstract sockets scoped), death with the template, and the seccomp filter.

    ``limits``: dict with memory_mb, cpu_seconds, file_size_mb, disk_mb, files, threads,
    nofile, parent (the template's pid), cgroup. Returns the report (True or a reason per
    feature). What is the same for every episode was built once in ``prep``, in the
    template: a forked process touches fewer of the template's pages (copy-on-write)."""
    report = {}
    pid = os.getpid()
    uid, gid = os.getuid(), os.getgid()
    report["thread_limit"] = _join_pids_cgroup(limits.get("cgroup"), limits["threads"],
                                               limits.get("cgroup_ready", False))
    os.setsid()  # its own session and process group: kill(0, ...) reaches nobody else
    try:
        if uid == 0:  # root needs no user namespace for its mount namespace; it drops its caps
            unshare(CLONE_NEWNS)
            report["userns"] = "not needed (root: a mount namespace only, every capability dropped)"
        else:
            unshare(CLONE_NEWUSER | CLONE_NEWNS)
            _map_ids(uid, gid)
            report["userns"] = True
    except OSError as exc:
        report["userns"] = f"unavailable ({exc.strerror})"
    try:
        if not prep.shared_mount:
            _mount(None, "/", None, MS_REC | MS_PRIVATE, None)
        _mount("tmpfs", scratch, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC,
               f"size={limits['disk_mb']}m,nr_inodes={limits['files']},mode=0700")
        report["disk_quota"] = True
    except OSError as exc:
        report["disk_quota"] = f"unavailable ({exc.strerror}); only the per-file size limit holds"

    def limit(which, value):
        try:
            resource.setrlimit(which, (value, value))
            return True
        except (ValueError, OSError):
            return False

    if limits["memory_mb"] > 0:
        limit(resource.RLIMIT_AS, limits["memory_mb"] << 20)
    if limits["cpu_seconds"] > 0:
        limit(resource.RLIMIT_CPU, limits["cpu_seconds"])
    limit(resource.RLIMIT_FSIZE, limits["file_size_mb"] << 20)
    limit(resource.RLIMIT_CORE, 0)
    limit(resource.RLIMIT_NOFILE, limits["nofile"])
    if uid != 0 and report["thread_limit"] is not True:
        limit(resource.RLIMIT_NPROC, limits["threads"])  # per user: a rough bound only
    _signal.signal(_SIGXFSZ, _SIG_IGN)  # a too-big write raises instead of killing
    os.chdir(scratch)
    try:
        if prep.cap is None:
            raise OSError(errno.ENOSYS, "capset: unknown architecture")
        _check(_libc.syscall(*prep.cap))
        report["capabilities_dropped"] = True
    except OSError as exc:
        report["capabilities_dropped"] = f"unavailable ({exc.strerror})"
    try:
        _seccomp_sys.set_no_new_privs()
        if prep.ruleset is not None:  # Ruleset.restrict() without flags, no_new_privs set above
            _landlock_sys.restrict_self(prep.ruleset.fileno(), 0)
            report["landlock"] = dict(prep.landlock)
            os.close(prep.ruleset.fileno())
        else:
            ruleset = _landlock_ruleset(scratch)
            ruleset.restrict()
            report["landlock"] = {"abi": prep.abi, "scoped": int(ruleset.scoped),
                                  "net": int(ruleset.handled_net), "fs": int(ruleset.handled_fs)}
            ruleset.close()
    except Exception as exc:  # noqa: BLE001 - reported; strict mode refuses
        report["landlock"] = f"unavailable ({exc})"
    _libc.prctl(PR_SET_PDEATHSIG, 9, 0, 0, 0)  # SIGKILL, set last: credential changes clear it
    if os.getppid() != limits["parent"]:  # the template is already gone
        os._exit(3)
    try:
        if prep.filter is None:
            raise OSError(errno.ENOSYS, prep.report.get("seccomp_compile", "no filter"))
        if prep.x32 is not None:
            _seccomp_sys.set_mode_filter(prep.x32, 0)  # first: the episode filter refuses seccomp(2)
        prep.load_filter(pid)
        report["seccomp"] = True
    except Exception as exc:  # noqa: BLE001
        report["seccomp"] = f"unavailable ({exc})"
    return report
