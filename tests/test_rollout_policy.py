"""The one agent loop's policy options: calls per turn, stop rule, simulated user, max turns,
and the engine's batching and refilling with them."""

from __future__ import annotations

import pytest

from helpers.rollout_envs import ScriptedGenerator, call, env_record
from toolfeedback.errors import ConfigError
from toolfeedback.ftrl import from_record
from toolfeedback.generation import SamplingParams
from toolfeedback.manager import create_plugin_manager
from toolfeedback.registry import Catalog
from toolfeedback.rollout.engine import Policy, RolloutEngine, stop_on_tools
from toolfeedback.runtime.executor import InProcessExecutor

COUNTRIES = ("Avalonia", "Corvia", "Elaris")


@pytest.fixture
def parts():
    catalog = Catalog(create_plugin_manager())
    return catalog.get("modes", "no-think"), catalog.get("tool_formats", "hermes")


def play(parts, script, policy, countries=COUNTRIES, batch_size=8):
    mode, fmt = parts
    gen = ScriptedGenerator(script)
    envs = [from_record(env_record(c)) for c in countries]
    with RolloutEngine(gen, mode=mode, tool_format=fmt, executor=InProcessExecutor(),
                       params=SamplingParams(max_new_tokens=8), policy=policy,
                       batch_size=batch_size) as engine:
        return engine.play(envs), gen


def country_of(request):
    return next(m["content"] for m in request.messages if m["role"] == "user").rsplit(" ", 1)[1].rstrip("?")


def test_max_calls_keeps_only_the_first_calls(parts):
    def two_calls(request):
        if any(m["role"] == "tool" for m in request.messages):
            return "done"
        return call("get_capital", country=country_of(request)) + "\n" + call("get_population", city="X")

    episodes, _ = play(parts, two_calls, Policy(max_calls=1))
    for ep in episodes:
        assert [len(s.calls) for s in ep.steps] == [1, 0]
        assert [m["role"] for m in ep.messages].count("tool") == 1
        assert len(ep.messages[2]["tool_calls"]) == 1  # the chat shows only the call that ran
    episodes, _ = play(parts, two_calls, Policy())
    assert all(len(ep.steps[0].calls) == 2 for ep in episodes)


def test_a_hand_off_tool_ends_the_episode(parts):
    def endless(request):
        return call("get_capital", country=country_of(request))

    episodes, _ = play(parts, endless, Policy(max_turns=5, stop_when=stop_on_tools("get_capital")))
    assert all(len(ep.steps) == 1 and ep.finished == "stopped" for ep in episodes)
    episodes, _ = play(parts, endless, Policy(max_turns=5, stop_when=stop_on_tools("other")))
    assert all(len(ep.steps) == 5 and ep.finished == "max_turns" for ep in episodes)


class User:
    """Asks a follow-up once per episode, then ends it; records what it saw."""

    def __init__(self):
        self.seen = []

    def reply(self, messages):
        self.seen.append(len(messages))
        if sum(m["role"] == "user" for m in messages) < 2:
            return "And its population?"
        return None


def test_a_simulated_user_keeps_the_episode_going(parts):
    def agent(request):
        last = request.messages[-1]
        if last["role"] == "user" and last["content"] == "And its population?":
            return call("get_population", city="Brindle")
        if last["role"] == "tool":
            return f"It is {last['content']}."
        return call("get_capital", country=country_of(request))

    user = User()
    episodes, _ = play(parts, agent, Policy(user=user), countries=("Avalonia",))
    (ep,) = episodes
    assert [m["role"] for m in ep.messages] == [
        "system", "user", "assistant", "tool", "assistant", "user", "assistant", "tool", "assistant"]
    assert ep.finished == "user_stop" and len(ep.steps) == 4 and user.seen == [5, 9]
    assert ep.trajectory.metrics.solved == 2
    # the prefix after the user's turn is a step sample too
    assert [len(s.messages) for s in ep.samples] == [2, 4, 6, 8]


def test_without_a_user_an_answer_ends_the_episode(parts):
    episodes, _ = play(parts, lambda r: "No idea.", Policy())
    assert all(ep.finished == "answer" and len(ep.steps) == 1 for ep in episodes)


def test_episodes_come_back_in_input_order_and_the_batch_refills(parts):
    from helpers.rollout_envs import solver

    countries = ("Avalonia", "Corvia", "Elaris", "Galenor", "Isolia")
    episodes, gen = play(parts, solver, Policy(), countries=countries, batch_size=2)
    assert [ep.env.id for ep in episodes] == [f"env-{c}" for c in countries]
    assert max(gen.batches) == 2 and sum(gen.batches) == 15  # 5 episodes x 3 turns


def test_policy_numbers_must_be_positive():
    with pytest.raises(ConfigError, match="max_turns"):
        Policy(max_turns=0)
    with pytest.raises(ConfigError, match="max_calls"):
        Policy(max_calls=0)


def test_each_episode_gets_its_own_user(parts):
    class Named:
        def __init__(self, name):
            self.name, self.asked = name, 0

        def reply(self, messages):
            self.asked += 1
            return f"I am {self.name}" if self.asked == 1 else None

    users = {}

    def user_for(env, sample):
        users[env.id] = Named(env.id)
        return users[env.id]

    def agent(request):
        last = request.messages[-1]["content"]
        return "hello" if not last.startswith("I am") else "bye " + last

    episodes, _ = play(parts, agent, Policy(user_for=user_for))
    assert sorted(users) == [f"env-{c}" for c in COUNTRIES]
    for ep in episodes:  # each chat saw only its own user's words
        assert ep.messages[-1]["content"] == f"bye I am {ep.env.id}"
        assert ep.user is users[ep.env.id] and ep.user.asked == 2 and ep.finished == "user_stop"
    with pytest.raises(ConfigError, match="not both"):
        Policy(user=Named("x"), user_for=user_for)
