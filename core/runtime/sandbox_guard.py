"""Tamper checks of the sandbox worker: the audit hook and the module fingerprints.

Loaded by path by :mod:`toolfeedback.runtime.sandbox_worker` (a ``python -I -S`` script,
stdlib only). :func:`_install_audit_hook` refuses network, process creation, signals,
ctypes, tracing, rlimit changes and any write outside the scratch directory;
:class:`Guard` fingerprints the modules tool code can reach and tells after a request
whether one was patched, a thread was left running or a file was left in scratch.
"""

import builtins
import operator
import os
import sys

_thread = sys.modules.get("_thread") or __import__("_thread")
_is = operator.is_
_DENIED_IMPORTS = frozenset({"ctypes", "_ctypes", "gc", "_posixsubprocess", "_xxsubinterpreters",
                             "faulthandler_hidden"})
_BLOCKED_EVENTS = ("socket.", "subprocess.", "os.system", "os.exec", "os.posix_spawn", "os.spawn",
                   "os.fork", "os.forkpty", "os.kill", "os.killpg", "os.setsid", "os.setpgid",
                   "pty.", "ctypes.", "sys.settrace", "sys.setprofile", "sys.addaudithook",
                   "resource.setrlimit", "resource.prlimit", "signal.pthread_kill", "os.chdir",
                   "os.fchdir", "os.chroot", "os.putenv", "os.unsetenv", "urllib.", "http.client.",
                   "ftplib.", "smtplib.", "poplib.", "imaplib.", "nntplib.", "telnetlib.",
                   "webbrowser.", "mmap.", "os.startfile", "winreg.", "sys._current_frames",
                   "cpython.", "sys.remote_exec")
_PATH_EVENTS = frozenset({"os.remove", "os.rename", "os.rmdir", "os.mkdir", "os.chmod", "os.chown",
                          "os.truncate", "os.utime", "os.link", "os.symlink", "os.chflags",
                          "os.lchflags", "os.mkfifo", "os.mknod", "shutil.rmtree", "shutil.copyfile",
                          "shutil.copytree", "shutil.move", "shutil.chown", "os.listxattr",
                          "os.setxattr", "os.removexattr"})
#: Attributes the standard library itself rebinds (time.tzset(), warnings registries).
_VOLATILE = {"time": frozenset({"tzname", "timezone", "altzone", "daylight"})}
_VOLATILE_ANY = frozenset({"__warningregistry__"})
_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_TRUNC


class SandboxViolation(PermissionError):
    """Raised inside tool code for an operation the sandbox refuses."""


def _install_audit_hook(scratch, real=None):
    """Refuse what :data:`_BLOCKED_EVENTS` names and writes outside ``scratch`` (``real``:
    its resolved path, when the caller already has it)."""
    root = real or os.path.realpath(scratch)
    prefix = root + os.sep
    realpath = os.path.realpath
    fspath = os.fspath

    def inside(path):
        if isinstance(path, int):
            return False
        try:
            p = realpath(fspath(path))
        except Exception:  # noqa: BLE001 - an odd path is refused
            return False
        if isinstance(p, bytes):
            p = p.decode("utf-8", "surrogateescape")
        return p == root or p.startswith(prefix)

    def hook(event, args):
        if event == "open":
            path, mode, flags = args
            if isinstance(mode, str):
                writing = any(c in mode for c in "wax+")
            else:
                writing = isinstance(flags, int) and flags >= 0 and bool(flags & _WRITE_FLAGS)
            if writing and not inside(path):
                raise SandboxViolation(f"writing to {path!r} is not allowed (only the scratch directory)")
            return
        if event == "import":
            if args[0].partition(".")[0] in _DENIED_IMPORTS:
                raise SandboxViolation(f"importing {args[0]} is not allowed in the tool sandbox")
            return
        if event in _PATH_EVENTS:
            for arg in args:
                if isinstance(arg, (str, bytes, os.PathLike)) and not inside(arg):
                    raise SandboxViolation(f"{event} outside the scratch directory is not allowed")
            return
        if event.startswith(_BLOCKED_EVENTS):
            raise SandboxViolation(f"{event} is not allowed in the tool sandbox")

    sys.addaudithook(hook)



class _Print:
    """A module's attributes (and its own Python classes' attributes) at first sight.

    References are kept so that ids cannot be reused by new objects; comparison is by
    identity (``id``), never by ``==``, which tool code could override.
    """

    __slots__ = ("name", "keys", "refs", "ids", "classes", "class_keys", "class_refs")

    def __init__(self, module):
        d = module.__dict__
        self.name = getattr(module, "__name__", None)
        self.keys, self.refs = tuple(d), tuple(d.values())
        self.ids = tuple(map(id, self.refs))
        name = getattr(module, "__name__", None)
        self.classes = tuple(v for v in self.refs if isinstance(v, type) and v.__flags__ & (1 << 9)
                             and v.__dict__.get("__module__") == name)  # heap types of this module
        self.class_keys = tuple(tuple(c.__dict__) for c in self.classes)
        self.class_refs = tuple(tuple(c.__dict__.values()) for c in self.classes)

    def classes_changed(self):
        """True when an attribute of one of the module's own classes was set, deleted or
        rebound (by identity; ``json.JSONEncoder.encode = ...`` and the like)."""
        for c, keys, refs in zip(self.classes, self.class_keys, self.class_refs):
            d = c.__dict__
            if len(d) != len(refs) or not all(map(_is, d.values(), refs)) or not all(map(_is, d, keys)):
                return True
        return False

    def same_except(self, module, children):
        """True when the module differs only by the attributes naming ``children``
        (submodules the import system just bound on their parent package)."""
        d = module.__dict__
        now = [(k, id(v)) for k, v in d.items() if not (k in children and children[k] is v)]
        return now == [(k, i) for k, i in zip(self.keys, self.ids)
                       if not (k in children and children[k] is d.get(k))]

    def changed(self, module):
        d = module.__dict__
        # Identity of every value and key, compared in C without building id tuples (this
        # runs for several modules after every request).
        if len(d) != len(self.refs) or not all(map(_is, d.values(), self.refs)) \
                or not all(map(_is, d, self.keys)):
            # Slow path: the standard library rebinds a few attributes itself.
            volatile = _VOLATILE.get(self.name, frozenset()) | _VOLATILE_ANY
            now = [(k, id(v)) for k, v in d.items() if k not in volatile]
            if now != [(k, i) for k, i in zip(self.keys, self.ids) if k not in volatile]:
                return True
            if self.classes_changed():
                return True
            self.__init__(module)  # accept the new volatile values
            return False
        return self.classes_changed()


class Guard:
    """Tracks the modules tool code can reach and detects tampering with them.

    After every request the modules imported by that environment's code (and ``json``,
    which this worker's replies rely on) are compared with their first-sight prints;
    every ``FULL_EVERY`` requests all known modules are (modules reached without an
    import statement, e.g. through ``sys.modules``).
    """

    FULL_EVERY = 32
    CORE = ("builtins", "json", "json.encoder", "json.decoder", "json.scanner")

    def __init__(self):
        self.prints = {}
        self.known = set()
        for name in list(sys.modules):  # everything loaded before any tool code ran
            self.watch(name)
        self.real_import = builtins.__import__
        self.threads = _thread._count()
        self.scope = set()  # the current environment's imported modules
        self.requests = 0

    def watch(self, name):
        self.scope.add(name) if hasattr(self, "scope") else None
        if name not in self.known and name in sys.modules:
            self.known.add(name)
            module = sys.modules[name]
            if isinstance(getattr(module, "__dict__", None), dict):  # typing.io & co. have none
                self.prints[name] = _Print(module)

    def tool_import(self, name, globals=None, locals=None, fromlist=(), level=0):
        """The ``__import__`` tool code sees: refuses denied modules, fingerprints the rest."""
        if level == 0 and name.partition(".")[0] in _DENIED_IMPORTS:
            raise ImportError(f"importing {name} is not allowed in the tool sandbox")
        before = len(sys.modules)
        try:
            module = self.real_import(name, globals, locals, fromlist, level)
        finally:  # fingerprint what got loaded before tool code can touch it, even on failure
            if len(sys.modules) != before:
                fresh = [n for n in list(sys.modules) if n not in self.known]
                for new in fresh:
                    self.watch(new)
                self._rebind_parents(fresh)
        parts = name.split(".")
        for i in range(1, len(parts) + 1):
            self.watch(".".join(parts[:i]))
        for item in fromlist or ():
            if f"{name}.{item}" in sys.modules:
                self.watch(f"{name}.{item}")
        return module

    def _rebind_parents(self, fresh):
        """Accept the submodule attributes an import just set on parent packages, and
        nothing else (a parent patched by tool code keeps its old print)."""
        children = {}
        for name in fresh:
            parent, _, child = name.rpartition(".")
            if parent and sys.modules.get(name) is not None:
                children.setdefault(parent, {})[child] = sys.modules[name]
        for parent, kids in children.items():
            module, fp = sys.modules.get(parent), self.prints.get(parent)
            if module is not None and fp is not None and fp.same_except(module, kids):
                self.prints[parent] = _Print(module)

    def tampered(self, scope):
        """A reason string when a module changed, a thread was left running or a module
        appeared unseen; ``None`` when the worker is still clean."""
        if _thread._count() != self.threads:
            return "a tool left a thread running"
        self.requests += 1
        full = self.requests % self.FULL_EVERY == 0
        names = self.prints if full else set(self.CORE) | scope
        modules = sys.modules
        for name in names:
            module, fp = modules.get(name), self.prints.get(name)
            if fp is not None and (module is None or fp.changed(module)):
                return f"a tool modified module {name}"
        if len(modules) != len(self.known) and set(modules) - self.known:
            return "a tool imported modules outside the sandbox's view"
        if os.stat(self.scratch).st_mtime_ns != self.scratch_mtime:  # cheaper than listdir
            if os.listdir(self.scratch):
                return "a tool left files in the scratch directory"
            self.scratch_mtime = os.stat(self.scratch).st_mtime_ns
        return None
