"""Trajectory collection: run a model in environments, all active episodes batched per turn.

Every turn, the engine asks the generator for one completion per active episode in a
single ``generate`` call, splits reasoning from answer with the inference mode, runs each
answer's tool calls through the environment runtime (:func:`toolfeedback.runtime.step.run_step`,
tools in the sandbox, episodes in parallel threads), records the step (calls, results,
hits, reward, unsolved before/after) and ends an episode when a response makes no call or
``max_turns`` is reached. New episodes join the batch as soon as others end.

Outputs, both JSONL and both resumable (see :mod:`toolfeedback.rollout.io`): one trajectory
per episode, and optionally the step samples in the FTRL release format (the initial
prompt and the prefix after each tool step, with the unsolved set and solve rate then).
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any, Iterator

from ..generation import ChatRequest, SamplingParams
from ..types import Environment, Metrics, Step, Trajectory


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
    from ..runtime.step import total_answers

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
        from ..runtime.step import run_step

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
        from ..runtime.step import total_answers

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

    from ..types import ToolCall

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
