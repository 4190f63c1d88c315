"""Step samples as training data: prompt rendering, the dataset, and the verifiable reward.

Each step sample (an :class:`~toolfeedback.types.Environment`) becomes one prompt,
rendered with the model's own chat template, its own tools and the mode's template
arguments (``enable_thinking``). The dataset carries the sample's ``tools``, ``codes``,
``unsolved_set``, ``solve_rate`` and ``answer`` as columns, and :class:`StepReward`
scores a completion by running its tool calls against them (sandbox when available) and
applying the chosen reward through the same step function ``toolfeedback score`` and
rollout use (:func:`toolfeedback.runtime.step.run_step`).
"""

from __future__ import annotations

import json
from typing import Any, Sequence

from ..errors import ToolfeedbackError


def render_prompt(tokenizer, env, mode) -> str:
    """The prompt text of one step sample: chat template + tools + the mode's kwargs."""
    messages = list(env.messages)
    messages = mode.prepare_messages(messages)
    kwargs = dict(mode.template_kwargs())
    tools = [t.to_openai() for t in env.tools] or None
    try:
        return tokenizer.apply_chat_template(messages, tools=tools, tokenize=False,
                                             add_generation_prompt=True, **kwargs)
    except Exception as exc:  # noqa: BLE001 - a template error on user data is a user error
        raise ToolfeedbackError(f"sample {env.id!r}: the chat template failed: {exc}") from None


def make_executor(timeout: float, workers: int = 2):
    """The sandbox (``workers`` processes) that training rewards run tool calls in."""
    from ..runtime.executor import make_executor as make

    return make("sandbox", timeout=timeout, workers=workers)


def sample_columns(env) -> dict[str, Any]:
    """The columns one sample contributes to a dataset row (FTRL field names)."""
    return {
        "env_id": env.id,
        "tools": json.dumps([t.to_openai() for t in env.tools], ensure_ascii=False),
        "codes": json.dumps(env.codes, ensure_ascii=False),
        "unsolved_set": json.dumps({k: list(v) for k, v in env.unsolved.items()}, ensure_ascii=False),
        "solve_rate": float(env.solve_rate),
        "answer": env.answer,
    }


def env_from_columns(row: dict[str, Any]):
    """Rebuild the environment a reward needs from a row's columns."""
    from ..ftrl import from_record

    return from_record({"messages": [], "id": row["env_id"], "tools": row["tools"],
                        "codes": row["codes"], "unsolved_set": row["unsolved_set"],
                        "solve_rate": row["solve_rate"], "answer": row["answer"]})


def rl_rows(samples: Sequence, tokenizer, mode, max_prompt_length: int) -> tuple[list[dict], int]:
    """Dataset rows (``prompt`` + sample columns) and how many over-long prompts were dropped."""
    rows, dropped = [], 0
    for env in samples:
        prompt = render_prompt(tokenizer, env, mode)
        if len(tokenizer(prompt, add_special_tokens=False)["input_ids"]) > max_prompt_length:
            dropped += 1
            continue
        rows.append({"prompt": prompt, **sample_columns(env)})
    if not rows:
        raise ToolfeedbackError(f"every prompt is longer than max_prompt_length={max_prompt_length} "
                                f"tokens ({dropped} dropped)")
    return rows, dropped


def score_response(env, response: Any, *, mode, tool_format, reward, executor, timeout: float) -> float:
    """The verifiable reward of one response at one step: the one step function
    (reasoning split by ``mode``, parse, execute, match), then ``reward``. ``response`` is
    the completion text or its assistant message (structured ``tool_calls`` included)."""
    from ..runtime.step import run_step

    outcome = run_step(env, response, mode=mode, executor=executor, tool_format=tool_format,
                       timeout=timeout)
    return float(reward.score(outcome))


class StepReward:
    """A TRL reward function: runs each completion's calls against its row's sample.

    TRL calls it with ``prompts``, ``completions`` and every dataset column as keyword
    lists (one entry per completion). ``history`` keeps each call's rewards, in order,
    so tests and logs can compare against what the trainer reports.
    """

    def __init__(self, *, mode, tool_format, reward, executor, timeout: float = 10.0,
                 parallel: int = 1):
        self.mode, self.tool_format, self.reward = mode, tool_format, reward
        self.executor, self.timeout = executor, timeout
        self.parallel = max(1, int(parallel))  # completions scored at once (sandbox is thread-safe)
        self.__name__ = getattr(reward, "name", "reward")  # TRL names metrics after it
        self.history: list[list[float]] = []
        self._envs: dict[str, Any] = {}

    def _env(self, row: dict[str, Any]):
        key = row["env_id"]
        if key not in self._envs:
            self._envs[key] = env_from_columns(row)
        return self._envs[key]

    def __call__(self, prompts, completions, **columns) -> list[float]:
        keys = ("env_id", "tools", "codes", "unsolved_set", "solve_rate", "answer")
        missing = [k for k in keys if k not in columns]
        if missing:
            raise ToolfeedbackError(f"reward: dataset columns missing: {', '.join(missing)}")
        # Conversational completions end with the assistant message (structured calls kept).
        texts = [c if isinstance(c, (str, dict)) else c[-1] for c in completions]
        envs = [self._env({k: columns[k][i] for k in keys}) for i in range(len(texts))]

        def one(i: int) -> float:
            return score_response(envs[i], texts[i], mode=self.mode, tool_format=self.tool_format,
                                  reward=self.reward, executor=self.executor, timeout=self.timeout)

        if self.parallel > 1 and len(texts) > 1:
            from concurrent.futures import ThreadPoolExecutor

            with ThreadPoolExecutor(max_workers=self.parallel) as pool:
                scores = list(pool.map(one, range(len(texts))))
        else:
            scores = [one(i) for i in range(len(texts))]
        self.history.append(scores)
        return scores
