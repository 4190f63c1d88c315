"""The sandbox worker: runs untrusted tool code for :mod:`toolfeedback.runtime.sandbox`.

Run as a script (``python -I -S sandbox_worker.py REQ_FD RESP_FD SCRATCH MEM_MB CPU_S
FSIZE_MB``), stdlib only, so it imports nothing of toolfeedback. It reads framed JSON
requests (4-byte big-endian length + UTF-8 JSON) from ``REQ_FD`` and answers one frame per
call on ``RESP_FD``. The parent never trusts what comes back: it only decodes JSON,
enforces the wall-clock timeout and kills/replaces a worker that misbehaves.

Containment here (defence in depth, the parent's kill is the last word):
- resource limits: address space, CPU time over the worker's life, file size, no core
  dumps, few open files, no child processes (non-root);
- an audit hook, installed before any tool code runs, refuses network, process creation,
  signals, ctypes, tracing, rlimit changes and any write outside the scratch directory;
- each call execs the tool's compiled code (compiled once per environment) in a fresh
  namespace with a fresh copy of the builtins, as the release's ``exec`` per call does;
- the modules an environment's code imports are fingerprinted when first imported and
  checked after each request: a patched module (e.g. ``json.dumps = ...``), a leftover
  thread or an unexpected new module retires the worker before it serves anyone else.
"""

import ast
import builtins
import marshal
import operator
import os
import resource
import signal
import struct
import sys
import time

_thread = sys.modules.get("_thread") or __import__("_thread")
_HEADER = struct.Struct(">I")
_MISSING = object()
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


def _install_audit_hook(scratch):
    root = os.path.realpath(scratch)
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


def _set_limits(mem_mb, cpu_s, fsize_mb):
    def limit(which, value):
        try:
            resource.setrlimit(which, (value, value))
        except (ValueError, OSError):
            pass

    if mem_mb > 0:
        limit(resource.RLIMIT_AS, mem_mb * 1024 * 1024)
    if cpu_s > 0:
        limit(resource.RLIMIT_CPU, cpu_s)
    limit(resource.RLIMIT_FSIZE, fsize_mb * 1024 * 1024)
    limit(resource.RLIMIT_CORE, 0)
    limit(resource.RLIMIT_NOFILE, 64)
    if os.getuid() != 0:  # root ignores RLIMIT_NPROC; the audit hook covers it
        limit(resource.RLIMIT_NPROC, 0)
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a too-big write raises instead of killing


# ---------------------------------------------------------------- module fingerprints


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


# ---------------------------------------------------------------- database tables on demand

#: Methods and module functions that never mutate a JSON-like value (dict, list, str, numbers).
_PURE_ATTRS = frozenset({
    "get", "keys", "values", "items", "copy", "count", "index", "lower", "upper", "strip", "lstrip",
    "rstrip", "split", "rsplit", "join", "startswith", "endswith", "replace", "format", "title",
    "capitalize", "casefold", "isdigit", "isalpha", "isalnum", "isnumeric", "isdecimal", "isspace",
    "islower", "isupper", "find", "rfind", "partition", "rpartition", "zfill", "splitlines",
    "is_integer", "dumps", "deepcopy"})  # not loads (pickle runs code), encode/decode (codecs)
#: The container methods that mutate their receiver.
_MUTATORS = frozenset({"append", "extend", "insert", "pop", "remove", "clear", "sort", "reverse",
                       "update", "setdefault", "popitem", "add", "discard"})
#: Builtins that neither mutate an argument nor reach a caller's variables.
_PURE_BUILTINS = frozenset({
    "len", "str", "int", "float", "bool", "list", "dict", "tuple", "set", "frozenset", "sorted",
    "reversed", "min", "max", "sum", "any", "all", "abs", "round", "range", "enumerate", "zip",
    "map", "filter", "isinstance", "repr", "print", "True", "False", "None", "Exception",
    "ValueError", "KeyError", "TypeError", "IndexError", "RuntimeError"})
#: ``from MODULE import NAME`` bindings known to be harmless (typing aliases, copies; not,
#: say, ``typing.get_type_hints``, which evaluates strings).
_PURE_IMPORTS = {"typing": frozenset({"Any", "Dict", "List", "Optional", "Tuple", "Union", "Set",
                                      "FrozenSet", "Callable", "Iterable", "Iterator", "Sequence",
                                      "Mapping", "Literal"}),
                 "copy": frozenset({"deepcopy", "copy"})}
_FRESH = (ast.List, ast.Dict, ast.Set, ast.ListComp, ast.DictComp, ast.SetComp, ast.Constant,
          ast.JoinedStr)
_ALL = (None, True)


def _table_access(source):
    """Which top-level tables of ``data`` a tool's code can reach, and whether it may mutate
    anything: ``(tables, mutates)``; ``(None, True)`` (every table reached and written)
    whenever the code could reach the database other than as ``data["literal"]``.

    Deliberately conservative. Only a whitelist of names (pure builtins, the tool's own
    parameters, locals, functions and imported modules, ``typing`` aliases,
    ``copy.deepcopy``) and attributes (pure methods, container mutators) bounds the reached
    tables; ``**kwargs``, ``getattr``, ``locals()``, frames, any other import or attribute
    gives ``(None, True)``. A mutation is any store, delete or augmented assignment through
    a subscript or attribute, or a container mutator, except on local names only ever bound
    to fresh literals (``results = []; results.append(x)``). A tool that reaches tables
    without mutating reads the worker's shared pristine copy; any other tool gets the
    episode's own copies of the tables it reaches first."""
    try:
        tree = ast.parse(source)
    except BaseException:  # noqa: BLE001 - unknown: every table
        return _ALL
    nodes = list(ast.walk(tree))
    parents = {}
    bound = {}  # name -> True while every binding of it is a fresh literal
    impure_imports = set()
    for node in nodes:
        for child in ast.iter_child_nodes(node):
            parents[child] = node
        if isinstance(node, ast.arguments):
            if node.kwarg is not None:
                return _ALL  # **kwargs would receive data unnamed
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            bound[node.name] = False
        elif isinstance(node, ast.arg):
            bound[node.arg] = False
        elif isinstance(node, ast.Import):
            for alias in node.names:
                bound[(alias.asname or alias.name).partition(".")[0]] = False
        elif isinstance(node, ast.ImportFrom):
            allowed = _PURE_IMPORTS.get(node.module or "", frozenset()) if not node.level else frozenset()
            for alias in node.names:
                name = alias.asname or alias.name
                bound[name] = False
                if alias.name == "*":
                    return _ALL
                if alias.name not in allowed:
                    impure_imports.add(name)
    for node in nodes:
        if isinstance(node, ast.Name) and not isinstance(node.ctx, ast.Load):
            parent = parents.get(node)
            fresh = (isinstance(parent, ast.Assign) and node in parent.targets
                     and isinstance(parent.value, _FRESH))
            bound[node.id] = bound.get(node.id, True) and fresh
    fresh_names = {name for name, fresh in bound.items() if fresh}

    def fresh(expr):
        return isinstance(expr, ast.Name) and expr.id in fresh_names

    tables, mutates = set(), False
    for node in nodes:
        parent = parents.get(node)
        if isinstance(node, ast.Name):
            if node.id == "data":
                if not (isinstance(parent, ast.Subscript) and parent.value is node
                        and isinstance(parent.ctx, ast.Load) and isinstance(parent.slice, ast.Constant)
                        and isinstance(parent.slice.value, str)):
                    return _ALL
                tables.add(parent.slice.value)
            elif isinstance(node.ctx, ast.Load) and (
                    node.id in impure_imports or (node.id not in bound and node.id not in _PURE_BUILTINS)):
                return _ALL
        elif isinstance(node, ast.Attribute):
            if node.attr in _MUTATORS:
                mutates = mutates or not fresh(node.value)
            elif node.attr not in _PURE_ATTRS:
                return _ALL
            if not isinstance(node.ctx, ast.Load):
                return _ALL
        elif isinstance(node, ast.Subscript) and not isinstance(node.ctx, ast.Load):
            mutates = mutates or not fresh(node.value)
        elif isinstance(node, ast.AugAssign):
            target = node.target
            mutates = mutates or not (fresh(target) or (isinstance(target, ast.Subscript)
                                                        and fresh(target.value)))
        elif isinstance(node, (ast.Delete, ast.Global, ast.Nonlocal)):
            mutates = True
    return tables, mutates


# ---------------------------------------------------------------- requests


def _private_json():
    """``json.dumps``-identical encoders and a decoder built from the C accelerator at start,
    so a tool that patches the ``json`` module cannot change what this worker writes."""
    import _json
    from json import decoder

    make, plain, ascii_ = _json.make_encoder, _json.encode_basestring, _json.encode_basestring_ascii
    scanner = _json.make_scanner(decoder.JSONDecoder())

    def default(o):  # JSONEncoder.default's wording
        raise TypeError(f"Object of type {o.__class__.__name__} is not JSON serializable")

    def dumps(value, ensure_ascii):
        encoder = make({}, default, ascii_ if ensure_ascii else plain, None, ": ", ", ",
                       False, False, True)
        return "".join(encoder(value, 0))

    def loads(data):
        value, _ = scanner(data.decode("utf-8"), 0)
        return value

    return dumps, loads


_dumps, _loads = _private_json()
_mdumps, _mloads = marshal.dumps, marshal.loads  # fast private deep copy of JSON-like data


def _gc_controls():
    """freeze/disable/enable of the cyclic GC, captured privately; ``gc`` itself is dropped
    from ``sys.modules`` (and denied to tool code), so its introspection stays out of reach."""
    import gc

    controls = gc.freeze, gc.disable, gc.enable
    sys.modules.pop("gc", None)
    return controls


_gc_freeze, _gc_disable, _gc_enable = _gc_controls()


def _serialize(value):
    if type(value) is dict or type(value) is list:  # noqa: E721 - exact types, as released
        return _dumps(value, False)  # == json.dumps(value, ensure_ascii=False)
    if type(value) is not str:  # noqa: E721
        return str(value)
    return value


class Environment:
    """One environment's tools: compiled once, each call run in a fresh namespace."""

    def __init__(self, codes, share_tables=False):
        self.sources = codes
        self.share_tables = share_tables
        self.compiled = {}
        self.access = {}  # tool name -> (tables reached or None, may mutate)
        self.modules = set()  # modules this environment's code imported

    def code(self, name):
        if name not in self.compiled:
            source = self.sources[name]  # KeyError(name): the release's error for an unknown tool
            try:
                self.compiled[name] = compile(source, "<string>", "exec")  # the release's filename
            except BaseException as exc:  # noqa: BLE001 - re-raised at every call, as exec would
                self.compiled[name] = exc
        code = self.compiled[name]
        if isinstance(code, BaseException):
            raise code
        return code

    def tables(self, name):
        """The tables an episode must own before this tool runs: ``None`` for all of them.

        Unless the sandbox was built with ``share_tables=True``, that is always all of them:
        sharing pristine tables with read-only tools rests on a static reading of untrusted
        code, so it is an opt-in for tool code you trust (see docs/runtime.md)."""
        if not self.share_tables:
            return None
        if name not in self.access:
            tables, mutates = _table_access(self.sources[name])
            self.access[name] = tables if mutates else frozenset()
        return self.access[name]


_NO_ROOM = "the episode's database does not fit in the tool process's memory limit"


def _own(episode, names):
    """Give an episode its own copy of each named table it does not own yet (``marshal``
    of the pristine table, with the collector paused, then frozen out of its reach)."""
    data, own, blobs = episode
    missing = [t for t in (blobs if names is None else names) if t in blobs and t not in own]
    if not missing:
        return
    _gc_disable()  # a table is ~10^5 acyclic containers: don't scan them, ever
    try:
        for table in missing:
            data[table] = _mloads(blobs[table])
            own.add(table)
    except MemoryError:
        raise MemoryError(_NO_ROOM) from None
    finally:
        _gc_freeze()  # out of the collector's generations; refcounting frees them at the end
        _gc_enable()


def main(argv):
    req_fd, resp_fd = int(argv[1]), int(argv[2])
    scratch, mem_mb, cpu_s, fsize_mb = argv[3], int(argv[4]), int(argv[5]), int(argv[6])
    share_tables = len(argv) > 7 and argv[7] == "1"
    os.chdir(scratch)
    parent = os.getppid()
    guard = Guard()
    guard.scratch = os.path.realpath(scratch)
    guard.scratch_mtime = os.stat(guard.scratch).st_mtime_ns
    pristine_builtins = dict(builtins.__dict__)
    pristine_builtins["__import__"] = guard.tool_import
    _set_limits(mem_mb, cpu_s, fsize_mb)
    _install_audit_hook(scratch)
    sys.setrecursionlimit(1000)

    def watchdog():  # exit when the parent is gone, even while a tool spins
        while True:
            time.sleep(0.5)
            if os.getppid() != parent:
                os._exit(3)

    baseline = _thread._count() + 1
    _thread.start_new_thread(watchdog, ())
    while _thread._count() < baseline:  # the count rises only once the thread runs
        time.sleep(0.001)
    guard.threads = baseline
    envs = {}
    episodes = {}
    pristine = {}  # state key -> initial database, as first received
    order = []
    read, write = os.read, os.write

    def recv():
        head = b""
        while len(head) < 4:
            chunk = read(req_fd, 4 - len(head))
            if not chunk:
                os._exit(0)
            head += chunk
        (size,) = _HEADER.unpack(head)
        buf = bytearray()
        while len(buf) < size:
            chunk = read(req_fd, min(size - len(buf), 1 << 20))
            if not chunk:
                os._exit(0)
            buf += chunk
        return _loads(bytes(buf))

    def send(obj):
        data = _dumps(obj, True).encode()
        data = _HEADER.pack(len(data)) + data
        while data:
            data = data[write(resp_fd, data):]

    send({"ready": True})  # the parent's startup grace ends here
    tainted = None
    while True:
        request = recv()
        seq = request.get("seq")
        if tainted:
            send({"retired": tainted, "seq": seq})
            os._exit(0)
        op = request.get("op")
        if op == "end_episode":
            episodes.pop(request["episode"], None)
            continue
        if op != "run":
            continue
        key = request["env"]
        env = envs.get(key)
        if request.get("codes") is not None:
            env = envs[key] = Environment(request["codes"], share_tables)
            order.append(key)
            if len(order) > 512:  # bounded cache; the parent resends codes on a miss
                envs.pop(order.pop(0), None)
        if env is None:
            send({"need": "codes", "seq": seq})
            continue
        episode = request.get("episode")
        if "state" in request:
            state = request["state"]
            _gc_disable()
            if type(state) is dict and all(type(k) is str for k in state):  # noqa: E721
                # Tables: each episode shares this pristine decoded copy for reading and gets
                # its own copy of a table only when a tool that may mutate reaches it.
                pristine[request["state_key"]] = (None, state, {k: _mdumps(v) for k, v in state.items()})
            else:  # anything else: one whole copy per episode
                pristine[request["state_key"]] = (_mdumps(state), None, None)
            _gc_freeze()
            _gc_enable()
            state = None
            while len(pristine) > 8:
                pristine.pop(next(iter(pristine)))
        if episode is not None and episode not in episodes:
            initial = pristine.get(request.get("state_key"), _MISSING)
            if initial is _MISSING:
                send({"need": "state", "seq": seq})
                continue
            whole, shared, blobs = initial
            if shared is not None:
                episodes[episode] = (dict(shared), set(), blobs)
            else:
                _gc_disable()  # a database is ~10^6 acyclic containers: don't scan them, ever
                try:
                    episodes[episode] = (_mloads(whole), None, None)  # the episode's own copy
                except MemoryError:
                    _gc_enable()
                    for i in range(len(request["calls"])):
                        send({"ok": False, "seq": seq, "i": i, "content": _NO_ROOM})
                    continue
                _gc_freeze()  # out of the collector's generations; refcounting frees it at the end
                _gc_enable()
        max_output = request["max_output"]
        guard.scope = env.modules
        for i, (name, arguments) in enumerate(request["calls"]):
            try:
                code = env.code(name)
                if episode is not None:
                    state = episodes[episode]
                    if state[1] is not None:
                        _own(state, env.tables(name))
                    kwargs = {"data": state[0]}
                else:
                    kwargs = {}
                namespace = {"__builtins__": dict(pristine_builtins)}
                exec(code, namespace, namespace)  # noqa: S102 - sandboxed by design
                if name not in namespace:
                    raise NameError(f"name {name} is not defined")
                content = _serialize(namespace[name](**arguments, **kwargs))
                reply = {"ok": True}
            except BaseException as exc:  # noqa: BLE001 - reported to the model, as released
                try:
                    content = str(exc)
                except BaseException:  # noqa: BLE001
                    content = type(exc).__name__
                reply = {"ok": False}
            if len(content) > max_output:
                content = content[:max_output] + f"... [truncated {len(content) - max_output} characters]"
            reply["content"], reply["seq"], reply["i"] = content, seq, i
            send(reply)
        # Drop this request's last references to the episode's database and the tool's
        # objects now: otherwise an ended episode's database would be freed (milliseconds
        # for a large one) at the start of the next request, on its caller's clock.
        kwargs = namespace = content = reply = state = code = None
        # Checked after the answers went out, so it overlaps the parent's own work.
        tainted = guard.tampered(env.modules)
        if not tainted and cpu_s > 0 and time.process_time() > 0.8 * cpu_s:
            tainted = "the tool process used most of its CPU budget"  # recycle before SIGXCPU


if __name__ == "__main__":
    if sys.argv[1:2] == ["template"]:  # the strict sandbox: see sandbox_template.py
        import importlib.util

        _spec = importlib.util.spec_from_file_location(
            "sandbox_template", os.path.join(os.path.dirname(os.path.abspath(__file__)), "sandbox_template.py"))
        _template = importlib.util.module_from_spec(_spec)
        _spec.loader.exec_module(_template)
        _template.main(sys.modules[__name__], sys.argv)
    else:
        main(sys.argv)
