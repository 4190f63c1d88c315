"""Verification, rejection, lifecycle hooks and the build/verify verbs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from attrs import frozen

from toolfeedback import hookimpl
from toolfeedback.cli import main
from toolfeedback.errors import ConfigError
from toolfeedback.build.construction import Rejected
from toolfeedback.runtime.executor import InProcessExecutor
from toolfeedback.ftrl import from_record, to_record
from toolfeedback.build.pipeline import BuildConfig, build, verify
from toolfeedback.plugins.procedural_stages import Deploy, Scale
from toolfeedback.build.verification import check_environment

from construction_helpers import make_pm, read_records

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture(scope="module")
def envfile(tmp_path_factory):
    out = tmp_path_factory.mktemp("verify") / "envs.jsonl"
    build(BuildConfig(n=60, seed=3, out=str(out)), make_pm())
    return out


class Observer:
    """Records the lifecycle hooks the pipeline fires."""

    def __init__(self):
        self.built, self.rejected = [], []

    @hookimpl
    def on_environment_built(self, environment):
        self.built.append(environment.id)

    @hookimpl
    def on_environment_rejected(self, scenario_id, stage, reason):
        self.rejected.append((scenario_id, stage, reason))


class SabotagedDeploy(Deploy):
    """Deploys like ``procedural`` but breaks every third environment in a different way."""

    name = "sabotaged"

    def run(self, draft, ctx):
        env = super().run(draft, ctx)
        index = int(env.id.rsplit("-", 1)[1])
        if index % 3 == 1:  # a wrong expected answer: the golden replay cannot solve it
            name = next(iter(env.unsolved))
            return env.evolve(unsolved={**env.unsolved, name: ("no such answer",)})
        if index % 3 == 2:
            raise Rejected("deployment refused: test")
        return env


class Sabotage:
    @hookimpl
    def register_stages(self, register):
        from toolfeedback.plugins import procedural_stages as p

        for stage in (p.Decompose(), p.Document(), p.Integrate(), p.Scale()):
            stage = type(stage)()
            stage.name = "sabotaged"
            register(stage)
        register(SabotagedDeploy())


def test_rejected_environments_are_counted_never_written_and_hooks_fire(tmp_path):
    observer = Observer()
    out = tmp_path / "out.jsonl"
    summary = build(BuildConfig(n=30, seed=1, out=str(out), stages="sabotaged"),
                    make_pm(Sabotage(), observer))
    records = read_records(out)
    assert summary.written == len(records) == 10 and summary.rejected == 20
    assert summary.rejections == {"verify: golden replay leaves answers unsolved": 10,
                                  "deploy: deployment refused": 10}
    assert all(int(r["id"].rsplit("-", 1)[1]) % 3 == 0 for r in records)
    assert observer.built == [r["id"] for r in records]
    assert {stage for _, stage, _ in observer.rejected} == {"verify", "deploy"}
    assert len(observer.rejected) == 20


def test_golden_replay_passes_and_detects_tampering(envfile):
    executor = InProcessExecutor(timeout=5)
    envs = [from_record(r) for r in read_records(envfile)]
    assert all(check_environment(e, executor) is None for e in envs)
    env = envs[5]
    name = next(iter(env.unsolved))
    wrong_answer = env.evolve(answer="Definitely Not It")
    assert "final answer does not follow" in check_environment(wrong_answer, executor)
    broken = env.evolve(codes={**env.codes, name: "def nope(:\n"})
    assert "code does not compile" in check_environment(broken, executor)
    renamed = env.evolve(codes={**env.codes, name: "def other():\n    return 1\n"})
    assert "does not define its tool" in check_environment(renamed, executor)
    crash = env.evolve(codes={**env.codes, name: f"def {name}(**kw):\n    raise RuntimeError('boom')\n"})
    assert check_environment(crash, executor).startswith("golden call failed")
    bad_args = env.evolve(golden=((env.golden[0][0].__class__(name, {"bogus": 1}),),) + env.golden[1:])
    assert "golden call" in check_environment(bad_args, executor)


def test_verify_cli_exit_codes_and_messages(envfile, tmp_path, capsys):
    assert main(["verify", str(envfile), "--quiet"]) == 0
    assert "60 passed, 0 failed (60 with golden replay)" in capsys.readouterr().out
    records = read_records(envfile)
    records[2]["answer"] = "Definitely Not It"
    lines = [json.dumps(r) for r in records[:4]] + ["{not json"]
    bad = tmp_path / "bad.jsonl"
    bad.write_text("\n".join(lines) + "\n")
    assert main(["verify", str(bad), "--quiet"]) == 1
    out = capsys.readouterr().out
    assert f"{bad}:3: {records[2]['id']}: final answer does not follow" in out
    assert f"{bad}:5: -: invalid JSON" in out
    assert "checked 5: 3 passed, 2 failed" in out


def test_build_cli_summary_and_config_errors(tmp_path, capsys):
    out = tmp_path / "cli.jsonl"
    assert main(["build", "--n", "12", "--seed", "9", "--out", str(out), "--patterns",
                 "multi-hop,single-hop", "--max-hops", "3", "--scale", "distractors:1"]) == 0
    text = capsys.readouterr().out
    assert "written 12, rejected 0" in text and "multi-hop" in text and "tools per environment" in text
    records = read_records(out)
    assert {r["pattern"] for r in records} == {"multi-hop", "single-hop"}
    assert max(r["metadata"]["hops"] for r in records) <= 3
    out.write_text("keep\n")
    assert main(["build", "--n", "5", "--out", str(out), "--max-hops", "1"]) == 2
    assert main(["build", "--n", "5", "--out", str(out), "--scale", "types:7"]) == 2
    assert out.read_text() == "keep\n", "a rejected config must not truncate the output"
    err = capsys.readouterr().err
    assert "max_hops must be at least 2" in err and "intensity must be in [0, 1]" in err


def test_toolhop_rows_verify_as_released_data(tmp_path, capsys):
    out = tmp_path / "toolhop.jsonl"
    summary = build(BuildConfig(source="toolhop", input=str(FIXTURES / "toolhop" / "toolhop_4.jsonl"),
                                out=str(out)), make_pm())
    assert summary.written == 4 and summary.rejected == 0
    records = read_records(out)
    env = from_record(records[0])
    assert not env.golden and env.total_answers == 3 and env.answer == "15"
    assert all("print(" not in code.split("def ", 1)[0] for code in env.codes.values())
    report = verify(out, make_pm())
    assert report.ok and report.total == 4 and report.replayed == 0
    records[1]["codes"] = json.dumps({k: "x = 1\n" for k in json.loads(records[1]["codes"])})
    out.write_text("\n".join(json.dumps(r) for r in records) + "\n")
    report = verify(out, make_pm())
    assert report.failed == 1 and "does not define its tool" in report.failures[0][2]


def test_round_trip_through_ftrl_source_keeps_everything(envfile, tmp_path):
    out = tmp_path / "again.jsonl"
    summary = build(BuildConfig(source="ftrl", input=str(envfile), out=str(out)), make_pm())
    assert summary.written == 60
    assert [to_record(from_record(r)) for r in read_records(envfile)] == read_records(out)


def test_build_reads_a_toml_config_and_flags_override_it(tmp_path, capsys):
    config = tmp_path / "build.toml"
    out = tmp_path / "toml.jsonl"
    config.write_text(f'[build]\nn = 6\nseed = 4\nout = "{out}"\npatterns = ["single-hop"]\n')
    assert main(["build", "--config", str(config), "--n", "3", "--quiet"]) == 0
    records = read_records(out)
    assert len(records) == 3 and {r["pattern"] for r in records} == {"single-hop"}
    config.write_text("[build]\nn = 6\nbogus = 1\n")
    assert main(["build", "--config", str(config), "--quiet"]) == 2
    assert "bogus" in capsys.readouterr().err


class CountingScale(Scale):
    """The procedural scale stage under another name, with an option, counting its calls."""

    name = "counting"

    @frozen
    class Options:
        tag: str = "none"

    def __init__(self):
        self.seen = []

    def run(self, item, ctx):
        self.seen.append(ctx.options["scale"].tag)
        return super().run(item, ctx)


def test_one_stage_is_replaced_alone(tmp_path):
    # --stages procedural,scale=counting: the other four stay procedural
    scale = CountingScale()

    class Plugin:
        @hookimpl
        def register_stages(self, register):
            register(scale)

    out = tmp_path / "out.jsonl"
    summary = build(BuildConfig(n=6, seed=2, out=str(out), stages="procedural,scale=counting",
                                stages_options={"tag": "mine"}), make_pm(Plugin()))
    assert summary.written == 6 and scale.seen == ["mine"] * 6
    with pytest.raises(ConfigError, match="stages: 'sclae=counting': expected STAGE=NAME"):
        build(BuildConfig(n=1, out=str(out), stages="procedural,sclae=counting"), make_pm(Plugin()))
    with pytest.raises(ConfigError, match=r"\$\.build\.stages: no chosen stage takes option\(s\) tag"):
        build(BuildConfig(n=1, out=str(out), stages_options={"tag": "x"}), make_pm(Plugin()))
