"""The ONE agent loop: batched, refilling, multi-turn, with policy options.

Every turn, the engine asks the generator for one completion per active episode in a
single ``generate`` call and runs each through the one step function
(:func:`toolfeedback.runtime.step.run_step`: reasoning split, parse, execute, match; tools
in the sandbox, episodes in parallel threads). It records the step (calls, results,
hits, reward, unsolved before/after) and decides what happens next from the episode's
:class:`Policy`: a response without calls ends the episode, unless a simulated user
replies; a stop rule (a hand-off tool) ends it after its calls ran; so does
``max_turns``. New episodes join the batch as soon as others end.

Rollout, every benchmark, DPO sampling and single-turn evaluation (``max_turns=1``) run
through it. Each finished :class:`Episode` carries its :class:`~toolfeedback.types.Trajectory`
and, in the FTRL release format, its step samples (the initial prompt and the prefix
after each step, with the unsolved set and solve rate then).
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable, Iterable, Iterator, Protocol

import attrs
from attrs import field, frozen

from ..generation import ChatRequest, SamplingParams
from ..types import Environment, Metrics, Step, Trajectory


class SimulatedUser(Protocol):
    """The user side of a conversation (tau-bench's simulated customer).

    ``reply(messages)`` is called when the assistant answers without a tool call; a string
    is appended as the next user turn and the episode goes on, ``None`` ends it.
    """

    def reply(self, messages: list[dict]) -> str | None:
        """The user's next message for the chat so far, or ``None`` to end the episode."""


@frozen
class Policy:
    """How episodes are played (the same for every episode of one run)."""

    max_turns: int = field(default=20, metadata={"help": "assistant turns per episode at most"})
    max_calls: int | None = field(default=None, metadata={
        "help": "calls of one response that run (the rest are dropped; tau-bench keeps 1)"})
    stop_when: Callable[["Episode", Any], bool] | None = field(default=None, metadata={
        "help": "stop_when(episode, outcome) after a step's calls ran: True ends the episode"})
    user: SimulatedUser | None = field(default=None, metadata={
        "help": "simulated user replying to answers without calls (None: an answer ends it)"})
    user_for: Callable[[Environment, int], SimulatedUser | None] | None = field(
        default=None, metadata={
        "help": "user_for(env, sample): each episode's own simulated user, asked once as it "
                "starts (tau-bench: one user conversation per task and trial)"})

    @max_turns.validator
    def _check_turns(self, attribute, value) -> None:
        if value < 1:
            from ..errors import ConfigError

            raise ConfigError("max_turns: must be at least 1")

    @max_calls.validator
    def _check_calls(self, attribute, value) -> None:
        if value is not None and value < 1:
            from ..errors import ConfigError

            raise ConfigError("max_calls: must be at least 1 (None: every call runs)")

    @user_for.validator
    def _check_users(self, attribute, value) -> None:
        if value is not None and self.user is not None:
            from ..errors import ConfigError

            raise ConfigError("policy: give user (one for all episodes) or user_for, not both")


def stop_on_tools(*names: str) -> Callable[["Episode", Any], bool]:
    """A stop rule: the episode ends once a call to one of ``names`` ran (a hand-off)."""
    wanted = frozenset(names)
    return lambda episode, outcome: any(c.name in wanted for c in outcome.calls)


class Episode:
    """Mutable state of one running episode; after the loop, what it did.

    ``messages`` is the chat so far, ``steps`` the assistant turns, ``state`` the database
    of stateful (tau-bench style) tools, ``finished`` why it ended (``answer``,
    ``max_turns``, ``stopped``, ``user_stop``), ``trajectory`` the record written for it,
    ``user`` its simulated user (or ``None``).
    """

    __slots__ = ("env", "sample", "index", "messages", "unsolved", "solve_rate", "steps", "calls",
                 "key", "samples", "finished", "state", "trajectory", "user")

    def __init__(self, env: Environment, sample: int, index: int = 0, user: Any = None):
        self.env, self.sample, self.index, self.user = env, sample, index, user
        self.messages = [dict(m) for m in env.messages]
        self.unsolved = {k: tuple(v) for k, v in env.unsolved.items()}
        self.solve_rate = env.solve_rate
        self.steps: list[Step] = []
        self.calls = 0
        self.key = f"{env.id}#{sample}"
        self.samples: list[Environment] = [step_sample(env, sample, 0, env.messages,
                                                       self.unsolved, self.solve_rate)]
        self.finished = "max_turns"
        # The initial database, copied per episode by the sandbox; the same object for
        # every episode of this environment.
        self.state = env.metadata.get("state") if isinstance(env.metadata, dict) else None
        self.trajectory: Trajectory | None = None


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
    """Plays episodes with a generator, a mode, a tool format and an executor.

    ``reward`` scores each step (``None``: rewards are 0, benchmarks score episodes
    themselves); ``executor=None`` parses calls without running them; ``pm`` fires
    ``on_trajectory_end`` per finished episode.
    """

    def __init__(self, generator, *, mode, tool_format, executor, params: SamplingParams,
                 policy: Policy = Policy(), reward=None, batch_size: int = 32, pm=None,
                 tool_threads: int = 8, timeout: float | None = None):
        self.generator, self.mode, self.fmt = generator, mode, tool_format
        self.reward, self.executor, self.params = reward, executor, params
        self.policy, self.batch_size, self.pm, self.timeout = policy, max(1, batch_size), pm, timeout
        self.pool = ThreadPoolExecutor(max_workers=max(1, tool_threads))
        self.tokens = 0
        self.calls = 0

    def run(self, todo: Iterable[tuple[Environment, int]]) -> Iterator[Episode]:
        """Yield each :class:`Episode` as it ends (not in input order; ``index`` is its
        position in ``todo``)."""
        active: list[Episode] = []
        todo = iter(todo)
        exhausted, index = False, 0
        while active or not exhausted:
            while not exhausted and len(active) < self.batch_size:
                nxt = next(todo, None)
                if nxt is None:
                    exhausted = True
                else:
                    env, sample = nxt
                    user = self.policy.user_for(env, sample) if self.policy.user_for else self.policy.user
                    active.append(Episode(env, sample, index=index, user=user))
                    index += 1
            if not active:
                break
            done = self._turn(active)
            for ep in done:
                active.remove(ep)
                self._finish(ep)
                yield ep

    def play(self, envs: Iterable[Environment], progress: Any = None) -> list[Episode]:
        """Play one episode per environment to its end; the episodes in input order.
        ``progress`` is an optional bar advanced per finished episode."""
        done = []
        for ep in self.run((env, 0) for env in envs):
            done.append(ep)
            if progress is not None:
                progress.update(1)
        return sorted(done, key=lambda ep: ep.index)

    def _turn(self, active: list[Episode]) -> list[Episode]:
        template_kwargs = self.mode.template_kwargs()
        requests = [ChatRequest(tuple(self.mode.prepare_messages(ep.messages)),
                                tuple(t.to_openai() for t in ep.env.tools), template_kwargs)
                    for ep in active]
        params = self.params
        if params.seed is not None:
            # A new seed per generate call: reseeding every call with one value would make
            # samples of one environment that land in different calls draw the same tokens.
            params = attrs.evolve(params, seed=params.seed + self.calls)
        self.calls += 1
        completions = self.generator.generate(requests, params)
        self.tokens += sum(c[0].completion_tokens for c in completions)
        ended = list(self.pool.map(self._step, active, [c[0] for c in completions]))
        # Users are asked one after another, here: a user played by a model shares its
        # generator, which is not asked from several threads at once.
        ended = [self._ask_user(ep) if end is None else end for ep, end in zip(active, ended)]
        return [ep for ep, end in zip(active, ended) if end]

    def _step(self, ep: Episode, completion) -> bool | None:
        """Apply one completion to its episode: True when the episode ends, None when it
        answered without calls (the user decides)."""
        from ..runtime.step import run_step

        policy = self.policy
        outcome = run_step(ep.env, completion, mode=self.mode, executor=self.executor,
                           tool_format=self.fmt, unsolved=ep.unsolved, solve_rate=ep.solve_rate,
                           episode=ep.key, state=ep.state, timeout=self.timeout,
                           max_calls=policy.max_calls)
        reward = float(self.reward.score(outcome)) if self.reward is not None else 0.0
        ep.steps.append(Step(index=len(ep.steps), response=completion.text, content=outcome.text,
                             reasoning=outcome.reasoning, calls=outcome.calls, results=outcome.results,
                             hits=tuple(h for h in outcome.hits if h is not None), reward=reward,
                             unsolved_before=dict(outcome.unsolved_before),
                             solve_rate_before=outcome.solve_rate_before))
        ep.messages.append(dict(outcome.assistant_message))
        if not outcome.calls:
            return None
        ep.calls += outcome.n_calls
        ep.messages.extend(dict(m) for m in outcome.tool_messages)
        ep.unsolved = dict(outcome.unsolved_after)
        ep.solve_rate = outcome.solve_rate_after
        if policy.stop_when is not None and policy.stop_when(ep, outcome):
            return self._next(ep, "stopped")
        return self._next(ep)

    def _ask_user(self, ep: Episode) -> bool:
        """The episode answered without calls: its user replies (go on) or it ends."""
        reply = ep.user.reply([dict(m) for m in ep.messages]) if ep.user is not None else None
        if reply is None:
            ep.finished = "user_stop" if ep.user is not None else "answer"
            return True
        ep.messages.append({"role": "user", "content": reply})
        return self._next(ep)

    def _next(self, ep: Episode, stop: str | None = None) -> bool:
        """Record the prefix the next step answers (a step sample); True when ``stop`` or
        ``max_turns`` ends the episode here."""
        ep.samples.append(step_sample(ep.env, ep.sample, len(ep.steps), ep.messages,
                                      ep.unsolved, ep.solve_rate))
        if stop is None and len(ep.steps) >= self.policy.max_turns:
            stop = "max_turns"
        if stop is not None:
            ep.finished = stop
            return True
        return False

    def _finish(self, ep: Episode) -> None:
        from ..runtime.step import total_answers

        total = total_answers(ep.env)
        remaining = sum(len(v) for v in ep.unsolved.values())
        start_open = ep.env.total_answers
        ep.trajectory = Trajectory(
            env_id=ep.env.id, messages=tuple(ep.messages), steps=tuple(ep.steps),
            metrics=Metrics(calls=ep.calls, solved=start_open - remaining, total=total),
            mode=self.mode.name, model=getattr(self.generator, "model_name", ""),
            sample=ep.sample, finished=ep.finished)
        if self.executor is not None:
            self.executor.end_episode(ep.key)
        if self.pm is not None:
            self.pm.hook.on_trajectory_end(trajectory=ep.trajectory)

    def close(self) -> None:
        """Stop the tool threads."""
        self.pool.shutdown(wait=True)

    def __enter__(self) -> "RolloutEngine":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
