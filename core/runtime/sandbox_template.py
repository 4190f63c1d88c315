"""The strict sandbox's template process and the episode processes forked from it.

Started by :mod:`toolfeedback.runtime.sandbox_strict` as ``python -I -S sandbox_worker.py
template CTL_FD CONFIG_JSON`` with an empty environment. Stdlib only, plus the Landlock and
seccomp bindings (their directory is on ``sys.path`` for the template's own imports, then
removed). The template:

1. enters a network and IPC namespace of its own and loads a first seccomp filter;
2. imports the modules tools commonly use, so episodes start warm, and freezes the heap;
3. on the parent's ``fork`` request creates the episode's two pipes, forks, and passes the
   parent its pipe ends and a pidfd (``SCM_RIGHTS`` over the control socket);
4. reaps every episode process and reports its wait status;
5. for each initial database the parent sends, forks a sub-template that decodes it and
   holds it alone: its episodes inherit that database copy-on-write (no copy per episode)
   and nothing of any other (the main template never decodes a database).

An episode process closes every other descriptor, confines itself
(:func:`sandbox_jail.confine_episode`), installs the audit hook and serves requests for
that one episode until its pipe closes.
The template never runs tool code and never decodes anything but the parent's JSON.
"""

import builtins
import gc
from binascii import a2b_base64
import importlib.util
import json
import os
import select
import socket
import struct
import sys

_HEADER = struct.Struct(">I")
_FORK = b'{"op": "fork", "id": '  # the parent's json.dumps({"op": "fork", "id": N})
_FDS3 = struct.Struct("3i")
_WARM = ("json", "re", "math", "datetime", "collections", "collections.abc", "typing", "random",
         "string", "itertools", "functools", "copy", "time", "calendar", "operator", "unicodedata",
         "heapq", "bisect", "hashlib", "base64", "threading")  # what tool code imports most
_OWN_MODULES = ("sandbox_jail", "sandbox_guard", "sandbox_tables", "landlockpy", "seccompy")


def _load_jail():
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "sandbox_jail.py")
    spec = importlib.util.spec_from_file_location("sandbox_jail", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _intern_headroom():
    """Have the table of interned strings rebuilt once, here, with room to grow: every
    episode process interns its tools' names (``marshal.loads``), and a table left nearly
    full was rebuilt in each (0.3 ms and a megabyte of fresh pages). Temporary strings are
    interned until the rebuild shows as a burst of page faults (its new table)."""
    import resource

    temps, n = [], 0
    while n < 1 << 17:
        before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        temps.append([sys.intern(f"\x00tf-room-{n + i}") for i in range(128)])
        n += 128
        if resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before > 32:
            break


def _import_threading():
    """``threading`` (the bindings import it) without its after-fork hook: this template
    has one thread and holds none of threading's locks when it forks, so the hook would
    only rebuild the same state, in every process forked (about 100 copy-on-write page
    faults and 0.25 ms of CPU each)."""
    register = os.register_at_fork
    os.register_at_fork = lambda **hooks: None
    try:
        import threading  # noqa: F401
    finally:
        os.register_at_fork = register


def main(worker, argv):
    """The template's loop; ``worker`` is the already-loaded sandbox_worker module."""
    os.environ.clear()  # started with none; drop what the C-locale coercion added (LC_CTYPE)
    _import_threading()
    ctl = socket.socket(fileno=int(argv[2]))
    cfg = json.loads(argv[3])
    sys.path.extend(cfg["paths"])
    jail = _load_jail()
    report = jail.confine_template()
    prep = jail.Prepared(cfg["scratch_root"], inherited=report.get("seccomp_template") is True)
    report.update(prep.report)
    del sys.path[len(sys.path) - len(cfg["paths"]):]
    for name in _WARM:
        try:
            __import__(name)
        except ImportError:
            pass
    cgroup = jail.pids_cgroup_base()
    report["features"] = jail.features()
    # The template's own modules (gc, ctypes, the bindings) leave sys.modules here, once,
    # rather than in every episode (each pop wrote to pages shared with the template);
    # held here so that they stay alive for the functions that use them.
    held = [sys.modules.pop(name) for name in _private_modules(worker)]
    global _PRISTINE
    _PRISTINE = dict(builtins.__dict__)  # the builtins every call's namespace copies
    _intern_headroom()
    gc.collect()
    gc.freeze()  # episodes inherit this heap: keep the collector off its pages
    _loop(worker, jail, prep, ctl, cfg, cgroup, report, None, None)
    del held
    os._exit(0)


def _loop(worker, jail, prep, ctl, cfg, cgroup, report, key, state):
    """Serve fork requests on ``ctl``. The main template (``key`` None) forks stateless
    episodes and, per initial database, a sub-template holding that database alone
    (``key``, ``state``), whose forks inherit it copy-on-write."""
    children = {}  # pid -> (episode id, scratch dir, pids cgroup)
    cgroups = []  # empty pids cgroups of reaped episodes, reused (a mkdir/rmdir saved each)
    send = (lambda obj, fds=(): socket.send_fds(ctl, [json.dumps(obj).encode()], list(fds)))  # noqa: E731
    send({"ready": True, "template": report})
    # Fork requests, fork replies and exits (ints only) skip the json module: the template
    # runs this after every fork, and each page it writes then is a copy-on-write fault.
    sendmsg, scm = ctl.sendmsg, [(socket.SOL_SOCKET, socket.SCM_RIGHTS, None)]

    def reap():
        while children:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            cid, scratch, group = children.pop(pid, (None, None, None))
            if scratch and not prep.shared_mount:
                _remove(scratch)
            if cid is not None:
                if group and len(cgroups) < 16:  # reaped: no task of it is left in there
                    cgroups.append(group)
                elif group:
                    try:
                        os.rmdir(group)
                    except OSError:
                        pass
                sendmsg([b'{"exit": %d, "status": %d}' % (cid, status)])

    try:
        while True:
            ready, _, _ = select.select([ctl], [], [], 0.2)
            reap()
            if not ready:
                continue
            try:
                data, fds, _, _ = socket.recv_fds(ctl, 1 << 16, 4)
            except OSError:
                break
            if not data:
                break  # the parent is gone: so are we (episodes die with us)
            if data.startswith(_FORK) and data[len(_FORK):-1].isdigit() and not fds:
                msg, op = {"id": int(data[len(_FORK):-1])}, "fork"
            else:
                msg = json.loads(data)
                op = msg.get("op")
            if op == "state" and key is None:
                ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
                pid = os.fork()
                if pid == 0:  # the sub-template: decodes this database, sees no other
                    try:
                        ctl.close()
                        ours.close()
                        children.clear()
                        cgroups.clear()  # the main template's: not ours to hand out
                        jail._libc.prctl(jail.PR_SET_PDEATHSIG, 9, 0, 0, 0)
                        with os.fdopen(fds[0], "rb") as f:
                            value = json.loads(f.read())
                        gc.freeze()
                        _loop(worker, jail, prep, theirs, cfg, cgroup, report, msg["key"], value)
                    finally:
                        os._exit(0)
                os.close(fds[0])
                theirs.close()
                children[pid] = (None, None, None)
                send({"sub": msg["key"], "pid": pid}, [ours.fileno(), os.pidfd_open(pid)])
                ours.close()
                continue
            for fd in fds:
                os.close(fd)
            if op == "fork":
                group = cgroups.pop() if cgroups else None
                pid, fds, scratch, group = _fork(worker, jail, prep, msg, cfg, cgroup, group,
                                                 state if key else None)
                children[pid] = (msg["id"], scratch, group)
                scm[0] = scm[0][:2] + (_FDS3.pack(*fds),)  # req_w, resp_r, pidfd
                sendmsg([b'{"forked": %d, "pid": %d}' % (msg["id"], pid)], scm)
                for fd in fds:
                    os.close(fd)
    finally:
        for group in cgroups:
            _rmdir(group)
        _shutdown(jail, children, prep, cgroup, key, cfg)


def _shutdown(jail, children, prep, cgroup, key, cfg):
    """Kill and reap every episode process; let sub-templates (which see their own control
    socket close too) end theirs first; remove the pids cgroups and the scratch mount."""
    import time

    deadline = time.monotonic() + 3.0
    for pid, (cid, scratch, group) in list(children.items()):
        if cid is not None:  # an episode process: killed now
            try:
                os.kill(pid, 9)
            except OSError:
                pass
    for pid, (cid, scratch, group) in list(children.items()):
        while cid is None and time.monotonic() < deadline:  # a sub-template: ends by itself
            if os.waitpid(pid, os.WNOHANG)[0]:
                break
            time.sleep(0.01)
        else:
            try:
                os.kill(pid, 9)
                os.waitpid(pid, 0)
            except OSError:
                pass
        if scratch and not prep.shared_mount:
            _remove(scratch)
        if group:
            _rmdir(group)
    if key is None:
        if cgroup:
            for name in os.listdir(cgroup) if os.path.isdir(cgroup) else ():
                _rmdir(os.path.join(cgroup, name))
            _rmdir(cgroup)
        if prep.shared_mount:  # the parent removes the directory once it is no mount point
            try:
                jail._libc.umount2(cfg["scratch_root"].encode(), 2)  # MNT_DETACH
                os.rmdir(cfg["scratch_root"])
            except OSError:
                pass


def _rmdir(path, tries=50):
    """rmdir a cgroup whose last task may still be exiting (EBUSY for a moment)."""
    import time

    for _ in range(tries):
        try:
            os.rmdir(path)
            return
        except FileNotFoundError:
            return
        except OSError:
            time.sleep(0.005)


def _remove(path):
    import shutil

    shutil.rmtree(path, ignore_errors=True)


def _fork(worker, jail, prep, msg, cfg, cgroup, group, state):
    """Fork one episode process; ``group``: an empty pids cgroup to reuse, or None (the
    child makes its own). Returns (pid, the parent's fds, scratch, the cgroup's path)."""
    reused = group is not None
    if not reused and cgroup:
        group = os.path.join(cgroup, str(msg["id"]))
    req_r, req_w = os.pipe()
    resp_r, resp_w = os.pipe()
    if prep.shared_mount:  # each episode mounts its own tmpfs there, in its own namespace
        scratch = prep.scratch
    else:
        scratch = os.path.join(cfg["scratch_root"], str(msg["id"]))
        os.mkdir(scratch, 0o700)
    drop = _private_modules(worker)
    real = _REAL.get(scratch) if prep.shared_mount else None
    if real is None and prep.shared_mount:
        real = _REAL[scratch] = os.path.realpath(scratch)
    pid = os.fork()
    if pid == 0:  # the episode process
        try:
            keep = sorted({req_r, resp_w, *prep.fds()})
            low = 3
            for fd in keep:  # every other descriptor goes, the control socket first
                os.closerange(low, fd)
                low = fd + 1
            os.closerange(low, 1 << 20)
            limits = dict(cfg["limits"], parent=os.getppid(), cgroup=group, cgroup_ready=reused)
            _episode(worker, jail, prep, req_r, resp_w, scratch, limits, cfg, state, drop, real)
        finally:
            os._exit(70)
    os.close(req_r)
    os.close(resp_w)
    return pid, [req_w, resp_r, os.pidfd_open(pid)], scratch, group


def _private_modules(worker):
    """The template's own modules (gc, ctypes, the bindings) that an episode drops from
    ``sys.modules`` before tool code runs; listed once per set of loaded modules."""
    global _DROP
    if _DROP is None or _DROP[0] != len(sys.modules):
        _DROP = (len(sys.modules), tuple(
            name for name in sys.modules if name.partition(".")[0] in worker._DENIED_IMPORTS
            or name in _OWN_MODULES or name.startswith(("landlockpy.", "seccompy."))))
    return _DROP[1]


_DROP = None
_PRISTINE = None
_REAL = {}  # scratch path -> its resolved path (one mount point for every episode)


def _episode(worker, jail, prep, req_fd, resp_fd, scratch, limits, cfg, state, drop, real):
    report = jail.confine_episode(prep, scratch, limits)
    write = os.write

    def send(obj):
        data = worker._dumps(obj, True).encode()
        data = _HEADER.pack(len(data)) + data
        while data:
            data = data[write(resp_fd, data):]

    missing = [k for k in cfg["required"] if report.get(k) is not True and not isinstance(report.get(k), dict)]
    if missing:
        send({"ready": False, "jail": report})
        os._exit(0)
    for name in drop:  # the template's own tools (gc, ctypes) loaded since: not for tool code
        sys.modules.pop(name, None)
    pristine_builtins = _PRISTINE if _PRISTINE is not None else dict(builtins.__dict__)
    worker._install_audit_hook(scratch, real)
    sys.setrecursionlimit(1000)
    send({"ready": True, "jail": report})
    _serve(worker, req_fd, send, pristine_builtins, state)


def _serve(worker, req_fd, send, pristine_builtins, state):
    """One episode's requests: each call execs the tool's code (compiled once per
    environment in this process) in a fresh namespace, as the release does."""
    read = os.read
    envs = {}

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
        return worker._loads(bytes(buf))

    while True:
        request = recv()
        seq = request.get("seq")
        if request.get("op") != "run":
            os._exit(0)
        key = request["env"]
        if request.get("codes") is not None:  # the code of the tools this request calls first
            env = envs[key] = envs.get(key) or worker.Environment({})
            env.sources.update(request["codes"])
            env.blobs.update(request.get("compiled") or {})  # compiled by the parent: loaded at first use
        env = envs.get(key)
        if env is None:
            send({"need": "codes", "seq": seq})
            continue
        max_output, budget = request["max_output"], request.get("step_output", 1 << 62)
        kwargs = {"data": state} if request.get("episode") is not None else {}
        for i, (name, arguments) in enumerate(request["calls"]):
            if budget <= 0:
                send({"ok": False, "seq": seq, "i": i, "content": request.get("over", "")})
                continue
            try:
                if name in env.blobs and name not in env.compiled:
                    env.compiled[name] = worker._mloads(a2b_base64(env.blobs[name]))
                code = env.code(name)
                namespace = {"__builtins__": dict(pristine_builtins)}
                exec(code, namespace, namespace)  # noqa: S102 - confined by the kernel
                if name not in namespace:
                    raise NameError(f"name {name} is not defined")
                content = worker._serialize(namespace[name](**arguments, **kwargs))
                reply = {"ok": True}
            except BaseException as exc:  # noqa: BLE001 - reported to the model, as released
                try:
                    content = str(exc)
                except BaseException:  # noqa: BLE001
                    content = type(exc).__name__
                reply = {"ok": False}
            limit = min(max_output, budget)
            if len(content) > limit:
                content = content[:limit] + f"... [truncated {len(content) - limit} characters]"
            budget -= min(len(content), limit)
            reply["content"], reply["seq"], reply["i"] = content, seq, i
            send(reply)
            namespace = content = reply = None
