"""Property: every verb, given a generated bad input (malformed, truncated, deeply nested,
wrong types, missing fields, huge lines, empty, binary, a directory) and any state of its
outputs (absent, existing, read-only, a directory, inside a file), exits 2 with one line
``error: file[:line]: [$.path: ]message`` on stderr, no traceback, leaves every existing
file as it was and makes no new one. In-process through ``toolfeedback.cli.main``; a few
dozen examples per verb, so it runs in CI in about a minute."""

from __future__ import annotations

import copy
import json
import os
import re
import stat
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from test_runtime_score_cli import CALL, record
from toolfeedback.cli import main

STEP = record(CALL)  # score's input: an FTRL step record plus a response
ENV = {k: v for k, v in STEP.items() if k != "response"}  # rollout / train / build input
TRAJ = {"env_id": "e1", "sample": 0, "mode": "no-think", "finished": "answer",
        "steps": [{"index": 0, "calls": [{"id": "c0", "name": "capital", "arguments": {}}],
                   "hits": ["Paris"], "unsolved_before": {"capital": ["Paris"]}}],
        "metrics": {}, "messages": [], "metadata": {}}

#: per verb: a good record, the fields it must have, and where the bad file goes
VERBS = {
    "score": (STEP, ("messages", "tools", "codes", "unsolved_set", "response")),
    "build": (ENV, ("messages", "tools", "codes", "unsolved_set")),
    "rollout": (ENV, ("messages", "tools", "codes", "unsolved_set")),
    "train": (ENV, ("messages", "tools", "codes", "unsolved_set")),
    "eval": (TRAJ, ("env_id", "steps")),
    "eval-data": ({**ENV, "id": "e1"}, ("messages", "tools", "codes", "unsolved_set")),
    "iterate": (ENV, ("messages", "tools", "codes", "unsolved_set")),
    "verify": (ENV, ("messages", "tools", "codes", "unsolved_set")),
    "analyze": (None, ()),
}
WRONG = st.sampled_from([5, -1, 2.5, True, None, [1, "x"]])
JSONISH = st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=5),
                       lambda kids: st.lists(kids, max_size=3), max_leaves=5)


@st.composite
def bad_content(draw, verb):
    """``(kind, lines of bytes)``: a file that is bad in one way, maybe after a good line."""
    good, required = VERBS[verb]
    kind = draw(st.sampled_from(["malformed", "truncated", "deep", "wrong_type", "missing",
                                 "huge", "empty", "binary", "not_object", "directory"]))
    if kind == "empty":
        return kind, [draw(st.sampled_from([b"", b"\n", b"\n  \n\t\n"]))]
    if kind == "directory":
        return kind, None
    text = json.dumps(good) if good is not None else '{"weight_map": {"a": "model.safetensors"}}'
    if kind == "malformed":
        line = ("{" + draw(st.text(max_size=40).filter(lambda t: "\n" not in t and "\r" not in t))).encode()
    elif kind == "truncated":
        line = text[:draw(st.integers(1, len(text) - 1))].encode()
    elif kind == "deep":
        n = draw(st.one_of(st.integers(201, 3000), st.just(200_000)))
        closed = draw(st.booleans())
        line = ("[" * n + ("]" * n if closed else "")).encode()
    elif kind in ("wrong_type", "missing") and required:
        obj = copy.deepcopy(good)
        key = draw(st.sampled_from(required))
        if kind == "missing":
            del obj[key]
        else:
            obj[key] = draw(WRONG)
        line = json.dumps(obj).encode()
    elif kind == "huge":
        line = b'{"messages": "' + b"x" * draw(st.sampled_from([100_000, 3_000_000]))
    elif kind == "binary":
        line = b'{"a": "' + draw(st.binary(min_size=1, max_size=20)) + b'\xff\xfe"}'
    else:  # not_object (and wrong_type/missing where nothing is required)
        kind = "not_object"
        line = json.dumps(draw(JSONISH)).encode()
    prefix = [json.dumps(good).encode()] if good is not None and draw(st.booleans()) else []
    return kind, prefix + [line]


OUT_STATES = st.sampled_from(["absent", "existing", "readonly", "directory", "in_a_file"])


def snapshot(root: Path) -> dict[str, tuple]:
    """Every path under ``root`` with its bytes (files) and mode."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = Path(dirpath, name)
            info = path.lstat()
            out[str(path.relative_to(root))] = (stat.S_IMODE(info.st_mode), stat.S_ISDIR(info.st_mode),
                                                None if path.is_dir() else path.read_bytes())
    return out


def prepare_output(root: Path, name: str, state: str, *, folder: bool = False) -> Path:
    """An output path in ``state``; what exists is what the run must leave alone."""
    target = root / name
    if state == "existing":
        if folder:
            target.mkdir()
            (target / "weights.bin").write_bytes(b"precious")
        else:
            target.write_bytes(b"precious\n")
    elif state == "readonly":
        target.write_bytes(b"precious\n") if not folder else target.mkdir()
        target.chmod(0o444 if not folder else 0o555)
    elif state == "directory":
        if folder:  # a directory output that is a file
            target.write_bytes(b"a file\n")
        else:
            target.mkdir()
            (target / "keep").write_bytes(b"k")
    elif state == "in_a_file":
        (root / "afile").write_bytes(b"x")
        target = root / "afile" / name
    return target


def argv_for(verb: str, root: Path, bad: Path, state: str) -> tuple[list, list[Path]]:
    model = root / "model"
    model.mkdir(exist_ok=True)
    (model / "config.json").write_text("{}")
    if verb == "score":
        out = prepare_output(root, "scores.jsonl", state)
        return ["score", "--input", bad, "--out", out, "--quiet", "--workers", "1"], [out]
    if verb == "build":
        out = prepare_output(root, "envs.jsonl", state)
        return ["build", "--source", "ftrl", "--input", bad, "--out", out, "--quiet"], [out]
    if verb == "rollout":
        out = prepare_output(root, "traj.jsonl", "absent" if state == "existing" else state)
        samples = root / "steps.jsonl"
        return ["rollout", "--model", model, "--envs", bad, "--out", out, "--samples-out", samples,
                "--quiet", "--no-resume"], [out, samples]
    if verb == "train":
        out = prepare_output(root, "ckpt", state, folder=True)
        return ["train", "--model", model, "--data", bad, "--out", out, "--quiet"], [out]
    if verb == "eval":
        out = prepare_output(root, "report.json", state)
        return ["eval", "--evaluator", "solve", "--trajectories", bad, "--out", out, "--quiet"], [out]
    if verb == "eval-data":
        traj = root / "traj.jsonl"
        traj.write_text(json.dumps(TRAJ) + "\n")
        out = prepare_output(root, "report.json", state)
        return ["eval", "--evaluator", "solve", "--trajectories", traj, "--data", bad, "--out", out,
                "--quiet"], [out]
    if verb == "verify":  # a checker: no output, bad records are its verdict
        return ["verify", bad, "--quiet"], []
    if verb == "iterate":
        out = prepare_output(root, "runs", state, folder=True)
        return ["iterate", "--model", model, "--envs", bad, "--out", out, "--quiet"], [out]
    # analyze: the bad file is the base checkpoint's index
    base = root / "base"
    base.mkdir(exist_ok=True)
    (base / "config.json").write_text("{}")
    out = prepare_output(root, "analysis", state, folder=True)
    return ["analyze", "--base", base, "--tuned", base, "--out", out], [out]


def place_bad_file(verb: str, root: Path, kind: str, lines) -> Path:
    path = (root / "base" / "model.safetensors.index.json") if verb == "analyze" else root / "input.jsonl"
    path.parent.mkdir(exist_ok=True)
    if kind == "directory":
        path.mkdir()
        (path / "x").write_text("{}\n")
    else:
        path.write_bytes(b"\n".join(lines) + (b"\n" if lines and lines[-1] else b""))
    return path


@pytest.mark.slow
@pytest.mark.parametrize("verb", list(VERBS))
@settings(max_examples=30, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                 HealthCheck.data_too_large])
@given(data=st.data())
def test_every_verb_fails_cleanly_on_bad_input(capsys, verb, data):
    kind, lines = data.draw(bad_content(verb), label="input")
    state = data.draw(OUT_STATES, label="output")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        bad = place_bad_file(verb, root, kind, lines)
        argv, outs = argv_for(verb, root, bad, state)
        before = snapshot(root)
        capsys.readouterr()
        code = main([str(a) for a in argv])
        captured = capsys.readouterr()
        err = captured.err
        after = snapshot(root)
        for path in outs:  # let TemporaryDirectory remove what was made read-only
            if path.exists() and not path.is_symlink():
                path.chmod(0o755 if path.is_dir() else 0o644)
    assert "Traceback" not in err
    assert after == before, f"{kind}/{state}: files changed: {set(after) ^ set(before)}"
    if verb == "verify" and code == 1:
        # verify reports each bad record on stdout, located, and exits 1 (a failed check)
        failures = captured.out.splitlines()[:-1]
        assert err == "" and failures, captured.out
        assert all(re.match(rf"{re.escape(str(bad))}:\d+: ", line) for line in failures), captured.out
        return
    assert code == 2, (kind, state, err)
    assert err.startswith("error: ") and err.count("\n") == 1, err
    message = err[len("error: "):-1]
    output_named = any(str(p) in message or str(p.parent) in message for p in outs)
    if state in ("absent", "existing", "readonly") or not output_named:
        # the input is what is wrong: its file (and line) come first
        assert message.startswith(f"{bad}: ") or re.match(rf"{re.escape(str(bad))}:\d+: ", message), message
        if kind in ("wrong_type", "missing"):
            assert re.match(rf"{re.escape(str(bad))}:\d+: \$[.\[]", message), message
