"""Prompt rendering per mode and the verifiable reward that the trainers call."""

from __future__ import annotations

import json

import pytest

from helpers.training import BAD, GOOD, fixture_samples
from toolfeedback.runtime.step import make_reward, run_step
from toolfeedback.runtime.executor import InProcessExecutor
from toolfeedback.manager import create_plugin_manager
from toolfeedback.registry import Catalog
from toolfeedback.train.data import StepReward, render_prompt, rl_rows, sample_columns


@pytest.fixture(scope="module")
def parts():
    pm = create_plugin_manager()
    catalog = Catalog(pm)
    return pm, catalog


@pytest.fixture(scope="module")
def tokenizer(tiny_model):  # noqa: F811
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(tiny_model, local_files_only=True)


def test_think_mode_renders_enable_thinking_true(parts, tokenizer):
    _, catalog = parts
    env = fixture_samples()[0]
    think = render_prompt(tokenizer, env, catalog.get("modes", "think"))
    no_think = render_prompt(tokenizer, env, catalog.get("modes", "no-think"))
    expected_think = tokenizer.apply_chat_template(
        list(env.messages), tools=[t.to_openai() for t in env.tools], tokenize=False,
        add_generation_prompt=True, enable_thinking=True)
    assert think == expected_think
    # no-think pre-fills an empty think block (enable_thinking=False); think leaves it open.
    assert no_think.endswith("<think>\n\n</think>\n\n") and not think.endswith("</think>\n\n")
    assert '"name": "get_capital"' in think  # the sample's own tools are rendered


def test_step_reward_equals_run_step_and_reward(parts):
    pm, catalog = parts
    samples = fixture_samples()
    reward = make_reward(pm, "solve_f1")
    fmt = catalog.get("tool_formats", "hermes")
    executor = InProcessExecutor(timeout=5)
    func = StepReward(mode=catalog.get("modes", "no-think"), tool_format=fmt, reward=reward,
                      executor=executor, timeout=5)
    completions, columns, expected = [], {}, []
    for env, (good, good_reward) in zip(samples, GOOD):
        for text, value in ((good, good_reward), BAD):
            completions.append(text)
            for key, item in sample_columns(env).items():
                columns.setdefault(key, []).append(item)
            expected.append(value)
    got = func(prompts=["p"] * len(completions), completions=completions, **columns)
    assert got == pytest.approx(expected)
    direct = [reward.score(run_step(env, text, executor=executor, tool_format=fmt))
              for env, (text, _) in zip(samples, GOOD)]
    assert got[::2] == pytest.approx(direct)
    assert func.__name__ == "solve_f1" and func.history == [got]


def test_think_mode_reward_ignores_calls_inside_reasoning(parts):
    pm, catalog = parts
    env = fixture_samples()[0]
    func = StepReward(mode=catalog.get("modes", "think"), tool_format=catalog.get("tool_formats", "hermes"),
                      reward=make_reward(pm, "solve_f1"), executor=InProcessExecutor(timeout=5))
    cols = {k: [v, v] for k, v in sample_columns(env).items()}
    inside = "<think>\n" + GOOD[0][0] + "\n</think>\n\nDone."
    after = "<think>\nI should look it up.\n</think>\n\n" + GOOD[0][0]
    assert func(prompts=["p", "p"], completions=[inside, after], **cols) == [0.0, 1.0]


def test_overlong_prompts_are_dropped(parts, tokenizer):
    _, catalog = parts
    samples = fixture_samples()
    mode = catalog.get("modes", "no-think")
    rows, dropped = rl_rows(samples, tokenizer, mode, max_prompt_length=100_000)
    assert dropped == 0 and len(rows) == len(samples)
    assert json.loads(rows[0]["unsolved_set"]) == {"get_capital": ["Paris"], "get_population": ["2102650"]}
    lengths = sorted(len(tokenizer(r["prompt"])["input_ids"]) for r in rows)
    rows, dropped = rl_rows(samples, tokenizer, mode, max_prompt_length=lengths[0])
    assert len(rows) >= 1 and dropped == len(samples) - len(rows) and dropped >= 1


def test_training_uses_the_sandbox_with_the_same_rewards_in_parallel(parts):
    from toolfeedback.runtime.sandbox_basic import BasicSandbox
    from toolfeedback.train.data import make_executor

    pm, catalog = parts
    executor = make_executor(timeout=5)
    assert isinstance(executor, BasicSandbox)
    try:
        func = StepReward(mode=catalog.get("modes", "no-think"), tool_format=catalog.get("tool_formats", "hermes"),
                          reward=make_reward(pm, "solve_f1"), executor=executor, timeout=5, parallel=3)
        samples = fixture_samples()
        columns = {}
        for env in samples:
            for key, value in sample_columns(env).items():
                columns.setdefault(key, []).append(value)
        texts = [text for text, _ in GOOD] + [BAD[0]] * 3
        columns = {k: v + v for k, v in columns.items()}
        got = func(prompts=[""] * 6, completions=texts, **columns)  # scored 3 at a time, in order
    finally:
        executor.close()
    assert got == pytest.approx([value for _, value in GOOD] + [0.0] * 3)
