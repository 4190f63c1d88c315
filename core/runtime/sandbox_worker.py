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
  signals, ctypes, tracing, rlimit changes and any write outside the scratch directory
  (``sandbox_guard.py``, with the module fingerprints below);
- each call execs the tool's compiled code (compiled once per environment) in a fresh
  namespace with a fresh copy of the builtins, as the release's ``exec`` per call does;
- the modules an environment's code imports are fingerprinted when first imported and
  checked after each request: a patched module (e.g. ``json.dumps = ...``), a leftover
  thread or an unexpected new module retires the worker before it serves anyone else.

The tamper checks live in ``sandbox_guard.py`` and the table-sharing analysis in
``sandbox_tables.py``, loaded by path; the strict sandbox's template
(``sandbox_template.py``) is started through this script too.
"""

import builtins
import marshal
import os
import resource
import signal
import struct
import sys
import time


def _sibling(name):
    """A sibling file of this script as a module, loaded by path: the worker runs as
    ``python -I -S sandbox_worker.py`` and imports nothing of toolfeedback. Registered in
    ``sys.modules`` so that the worker's guard fingerprints it like ``__main__``."""
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), name + ".py")
    # The import system's own (frozen) loader: it reads and writes the cached bytecode.
    loader = sys.modules["_frozen_importlib_external"].SourceFileLoader(name, path)
    module = sys.modules[name] = type(sys)(name)
    module.__file__, module.__loader__ = path, loader
    loader.exec_module(module)
    return module


_guard = _sibling("sandbox_guard")
_table_access = _sibling("sandbox_tables")._table_access
_DENIED_IMPORTS, _install_audit_hook = _guard._DENIED_IMPORTS, _guard._install_audit_hook
SandboxViolation, Guard, _thread = _guard.SandboxViolation, _guard.Guard, _guard._thread
_HEADER = struct.Struct(">I")
_MISSING = object()


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
        self.blobs = {}  # strict mode: name -> base64 marshal of the parent's compile, loaded at first call
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
