"""Trajectory collection: run a model in environments, all active episodes batched per turn.

Every turn, the engine asks the generator for one completion per active episode in a
single ``generate`` call, splits reasoning from answer with the inference mode, runs each
answer's tool calls through the environment runtime (:func:`toolfeedback.env.run_step`,
tools in the sandbox, episodes in parallel threads), records the step (calls, results,
hits, reward, unsolved before/after) and ends an episode when a response makes no call or
``max_turns`` is reached. New episodes join the batch as soon as others end.

Outputs, both JSONL and both resumable (see :mod:`toolfeedback.rollout_io`): one trajectory
per episode, and optionally the step samples in the FTRL release format (the initial
prompt and the prefix after each tool step, with the unsolved set and solve rate then).
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Iterator

from attrs import field, frozen

from .errors import ConfigError, InputError
from .executor import make_executor
from .generation import ChatRequest, SamplingParams
from .progress import progress_bar
from .types import Environment, Metrics, Step, Trajectory


@frozen
class RolloutConfig:
    """Settings of ``toolfeedback rollout`` (TOML section ``[rollout]``)."""

    model: str = field(metadata={"help": "model directory (hf) or served model name (openai)"})
    envs: str = field(metadata={"help": "environments JSONL (FTRL format)"})
    out: str = field(metadata={"help": "trajectories JSONL to write (appended on resume)"})
    samples_out: str | None = field(default=None, metadata={
        "help": "also write FTRL-format step samples here"})
    backend: str = field(default="hf", metadata={"help": "generation backend (hf, openai, vllm)"})
    backend_options: dict[str, Any] = field(factory=dict, metadata={
        "help": "backend options (hf: device, dtype; openai: base_url, api_key, ...)"})
    mode: str = field(default="no-think", metadata={"help": "inference mode: no-think, think, think-prompted"})
    tool_format: str = field(default="hermes", metadata={"help": "tool-call format to parse responses with"})
    reward: str = field(default="solve_f1", metadata={"help": "step reward (name or weighted mix)"})
    batch_size: int = field(default=32, metadata={"help": "episodes generated together per turn"})
    max_turns: int = field(default=20, metadata={"help": "assistant turns per episode at most"})
    max_new_tokens: int | None = field(default=None, metadata={
        "help": "token budget per response (default: mode's, 1024 no-think / 8192 think)"})
    temperature: float = field(default=0.0, metadata={"help": "sampling temperature (0: greedy)"})
    top_p: float = field(default=1.0, metadata={"help": "nucleus sampling mass"})
    n_samples: int = field(default=1, metadata={"help": "episodes per environment (needs temperature > 0 when > 1)"})
    seed: int | None = field(default=0, metadata={"help": "sampling seed"})
    limit: int | None = field(default=None, metadata={"help": "use only the first N environments"})
    on_error: str = field(default="stop", metadata={"help": "bad environment lines: stop or skip"})
    workers: int = field(default=2, metadata={"help": "sandbox worker processes"})
    tool_timeout: float = field(default=10.0, metadata={"help": "seconds per tool call"})
    resume: bool = field(default=True, metadata={"help": "keep finished episodes of --out and run the rest"})
    progress: bool = field(default=True, metadata={"help": "show a progress bar on a terminal"})

    def validate(self) -> None:
        """Raise :class:`ConfigError` for values that cannot work."""
        if self.batch_size < 1:
            raise ConfigError("batch_size: must be at least 1")
        if self.max_turns < 1:
            raise ConfigError("max_turns: must be at least 1")
        if self.n_samples < 1:
            raise ConfigError("n_samples: must be at least 1")
        if self.n_samples > 1 and self.temperature <= 0:
            raise ConfigError("n_samples > 1 needs temperature > 0 (greedy decoding repeats one episode)")
        if self.max_new_tokens is not None and self.max_new_tokens < 1:
            raise ConfigError("max_new_tokens: must be at least 1")
        if self.on_error not in ("stop", "skip"):
            raise ConfigError("on_error: expected 'stop' or 'skip'")
        if self.limit is not None and self.limit < 1:
            raise ConfigError("limit: must be at least 1 (leave it out for every environment)")
        if self.workers < 1:
            raise ConfigError("workers: must be at least 1")
        if not self.temperature >= 0:
            raise ConfigError("temperature: must be 0 (greedy) or more")
        if not 0 < self.top_p <= 1:
            raise ConfigError("top_p: must be in (0, 1]")
        if not self.tool_timeout > 0:
            raise ConfigError("tool_timeout: must be a positive number of seconds")


class Episode:
    """Mutable state of one running episode (engine-internal)."""

    __slots__ = ("env", "sample", "messages", "unsolved", "solve_rate", "steps", "calls",
                 "key", "samples", "finished", "state")

    def __init__(self, env: Environment, sample: int):
        self.env, self.sample = env, sample
        self.messages = [dict(m) for m in env.messages]
        self.unsolved = {k: tuple(v) for k, v in env.unsolved.items()}
        self.solve_rate = env.solve_rate
        self.steps: list[Step] = []
        self.calls = 0
        self.key = f"{env.id}#{sample}"
        self.samples: list[Environment] = [step_sample(env, sample, 0, env.messages,
                                                       self.unsolved, self.solve_rate)]
        self.finished = "max_turns"
        # Stateful (tau-bench style) tools: the initial database, copied per episode by
        # the executor; the same object for every episode of this environment.
        self.state = env.metadata.get("state") if isinstance(env.metadata, dict) else None


def step_sample(env: Environment, sample: int, step: int, messages, unsolved, solve_rate
                ) -> Environment:
    """The FTRL step sample: ``env`` with the chat prefix before step ``step`` and the
    unsolved answers / solve rate at that point (``metadata.rollout`` says where from)."""
    from .env import total_answers

    meta = dict(env.metadata)
    meta.setdefault("total_answers", total_answers(env))
    meta["rollout"] = {"env_id": env.id, "sample": sample, "step": step}
    return env.evolve(id=f"{env.id}#{sample}.{step}", messages=tuple(messages),
                      unsolved={k: tuple(v) for k, v in unsolved.items()},
                      solve_rate=solve_rate, metadata=meta)


class RolloutEngine:
    """Runs episodes with a generator, a mode, a tool format, a reward and an executor."""

    def __init__(self, generator, *, mode, tool_format, reward, executor, params: SamplingParams,
                 batch_size: int = 32, max_turns: int = 20, pm=None, mode_name: str = "no-think",
                 tool_threads: int = 8):
        self.generator, self.mode, self.fmt = generator, mode, tool_format
        self.reward, self.executor, self.params = reward, executor, params
        self.batch_size, self.max_turns, self.pm = batch_size, max_turns, pm
        self.mode_name = mode_name
        self.pool = ThreadPoolExecutor(max_workers=max(1, tool_threads))
        self.tokens = 0
        self.calls = 0

    def run(self, todo: Iterator[tuple[Environment, int]]) -> Iterator[tuple[Trajectory, list[Environment]]]:
        """Yield ``(trajectory, step_samples)`` as episodes end (not in input order)."""
        active: list[Episode] = []
        todo = iter(todo)
        exhausted = False
        while active or not exhausted:
            while not exhausted and len(active) < self.batch_size:
                nxt = next(todo, None)
                if nxt is None:
                    exhausted = True
                else:
                    active.append(Episode(*nxt))
            if not active:
                break
            done = self._turn(active)
            for ep in done:
                active.remove(ep)
                yield self._finish(ep), ep.samples

    def _turn(self, active: list[Episode]) -> list[Episode]:
        template_kwargs = self.mode.template_kwargs()
        requests = [ChatRequest(tuple(self.mode.prepare_messages(ep.messages)),
                                tuple(t.to_openai() for t in ep.env.tools), template_kwargs)
                    for ep in active]
        params = self.params
        if params.seed is not None:
            # A new seed per generate call: reseeding every call with one value would make
            # samples of one environment that land in different calls draw the same tokens.
            params = params.__class__(**{**_params_dict(params), "seed": params.seed + self.calls})
        self.calls += 1
        completions = self.generator.generate(requests, params)
        self.tokens += sum(c[0].completion_tokens for c in completions)
        outcomes = list(self.pool.map(self._step, active, [c[0] for c in completions]))
        return [ep for ep, ended in zip(active, outcomes) if ended]

    def _step(self, ep: Episode, completion) -> bool:
        """Apply one completion to its episode; True when the episode ends."""
        from .env import run_step

        reasoning, content = self.mode.split(completion.text, completion.reasoning)
        if completion.tool_calls:  # structured calls from a server: render them as text
            content = self.fmt.render(content, _structured_calls(completion.tool_calls)) \
                if hasattr(self.fmt, "render") else content
        outcome = run_step(ep.env, content, executor=self.executor, tool_format=self.fmt,
                           unsolved=ep.unsolved, solve_rate=ep.solve_rate, episode=ep.key,
                           state=ep.state)
        reward = float(self.reward.score(outcome))
        ep.steps.append(Step(index=len(ep.steps), response=completion.text, content=content,
                             reasoning=reasoning, calls=outcome.calls, results=outcome.results,
                             hits=tuple(h for h in outcome.hits if h is not None), reward=reward,
                             unsolved_before=dict(outcome.unsolved_before),
                             solve_rate_before=outcome.solve_rate_before))
        ep.messages.append(self.mode.history_message(dict(outcome.assistant_message), reasoning))
        if not outcome.calls:
            ep.finished = "answer"
            return True
        ep.calls += outcome.n_calls
        ep.messages.extend(dict(m) for m in outcome.tool_messages)
        ep.unsolved = dict(outcome.unsolved_after)
        ep.solve_rate = outcome.solve_rate_after
        ep.samples.append(step_sample(ep.env, ep.sample, len(ep.steps), ep.messages,
                                      ep.unsolved, ep.solve_rate))
        if len(ep.steps) >= self.max_turns:
            ep.finished = "max_turns"
            return True
        return False

    def _finish(self, ep: Episode) -> Trajectory:
        from .env import total_answers

        total = total_answers(ep.env)
        remaining = sum(len(v) for v in ep.unsolved.values())
        start_open = ep.env.total_answers
        traj = Trajectory(env_id=ep.env.id, messages=tuple(ep.messages), steps=tuple(ep.steps),
                          metrics=Metrics(calls=ep.calls, solved=start_open - remaining, total=total),
                          mode=self.mode_name, model=getattr(self.generator, "model_name", ""),
                          sample=ep.sample, finished=ep.finished)
        end = getattr(self.executor, "end_episode", None)
        if end is not None:
            end(ep.key)
        if self.pm is not None:
            self.pm.hook.on_trajectory_end(trajectory=traj)
        return traj

    def close(self) -> None:
        """Stop the tool threads."""
        self.pool.shutdown(wait=True)


def _params_dict(params: SamplingParams) -> dict[str, Any]:
    import attrs

    return attrs.asdict(params, recurse=False)


def _structured_calls(calls) -> tuple:
    import json

    from .types import ToolCall

    out = []
    for call in calls:
        fn = call.get("function", call) if isinstance(call, dict) else {}
        args = fn.get("arguments", {})
        if isinstance(args, str):
            try:
                args = json.loads(args)
            except json.JSONDecodeError:
                pass
        if isinstance(fn.get("name"), str):
            out.append(ToolCall(fn["name"], args, call.get("id") or None))
    return tuple(out)


def rollout(config: RolloutConfig, *, pm=None, generator=None, executor=None) -> dict[str, Any]:
    """Run ``config`` and return a summary (episodes run, skipped, tokens, metrics means).

    ``generator`` / ``executor`` may be passed in (tests, notebooks); otherwise the
    backend loads the model and a :class:`~toolfeedback.sandbox.Sandbox` runs the tools.
    """
    from .env import make_reward
    from .manager import create_plugin_manager
    from .registry import Catalog
    from .rollout_io import RolloutOutputs, read_todo

    config.validate()
    pm = pm or create_plugin_manager()
    catalog = Catalog(pm)
    mode = catalog.get("modes", config.mode)
    fmt = catalog.get("tool_formats", config.tool_format)
    reward = make_reward(pm, config.reward)
    # Validate the whole input before --out is opened (and, with --no-resume, truncated).
    _, first_pass, n_episodes = read_todo(config.envs, set(), n_samples=config.n_samples,
                                          limit=config.limit, on_error=config.on_error)
    if n_episodes == 0:
        raise InputError("no environments in the file" if not first_pass.skipped
                         else "no valid environment in the file", path=config.envs)
    outputs = RolloutOutputs(config.out, config.samples_out, resume=config.resume)
    envs, reader, total = read_todo(config.envs, outputs.done, n_samples=config.n_samples,
                                    limit=config.limit, on_error=config.on_error)
    own_gen = generator is None
    if own_gen:
        generator = catalog.get("backends", config.backend).load(config.model, **config.backend_options)
    if mode.name == "think" and getattr(generator, "supports_thinking", True) is False:
        if own_gen:
            generator.close()
        raise ConfigError(f"model {config.model!r}: its chat template has no enable_thinking "
                          f"switch; use --mode think-prompted")
    own_exec = executor is None
    if own_exec:
        executor = make_executor("sandbox", timeout=config.tool_timeout, workers=config.workers)
    params = SamplingParams(max_new_tokens=config.max_new_tokens or mode.default_max_new_tokens,
                            temperature=config.temperature, top_p=config.top_p, n=1,
                            seed=config.seed)
    engine = RolloutEngine(generator, mode=mode, tool_format=fmt, reward=reward, executor=executor,
                           params=params, batch_size=config.batch_size, max_turns=config.max_turns,
                           pm=pm, mode_name=config.mode)
    already = len(outputs.done)
    bar = progress_bar(total, "rollout", unit="ep") if config.progress else None
    started, episodes, sums = time.perf_counter(), 0, {"solve_p": 0.0, "solve_r": 0.0, "solve_f1": 0.0}
    try:
        for traj, samples in engine.run(envs):
            outputs.write(traj, samples)
            episodes += 1
            for key in sums:
                sums[key] += traj.metrics.as_dict()[key]
            if bar is not None:
                elapsed = max(time.perf_counter() - started, 1e-9)
                bar.update(1)
                bar.set_postfix(ep_s=f"{episodes / elapsed:.2f}", tok_s=f"{engine.tokens / elapsed:.0f}")
    finally:
        if bar is not None:
            bar.close()
        engine.close()
        outputs.close()
        if own_exec:
            executor.close()
        if own_gen:
            generator.close()
    elapsed = time.perf_counter() - started
    return {"episodes": episodes, "already_done": already, "skipped_lines": reader.skipped,
            "errors": [str(e) for e in reader.errors], "tokens": engine.tokens, "seconds": elapsed,
            "episodes_per_s": episodes / elapsed if elapsed else 0.0,
            "tokens_per_s": engine.tokens / elapsed if elapsed else 0.0,
            **{f"mean_{k}": (v / episodes if episodes else None) for k, v in sums.items()}}


