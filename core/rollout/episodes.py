"""A small multi-turn agent loop shared by the evaluators.

It plays the release's evaluation loop: render the chat with the tools, generate, split
the reasoning off (mode), parse tool calls (format), run them (executor), append the
assistant and tool messages, and stop at the first response without calls or after
``max_turns``. Episodes are generated in batches across environments, so a batched
backend (``hf``) stays busy. Nothing here imports torch.
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

from attrs import define, field

from ..generation import ChatRequest, SamplingParams
from ..types import ToolCall, ToolResult


@define
class Episode:
    """One conversation to play: ``key`` names it (and its stateful-tool episode),
    ``messages`` the chat so far (mutated in place as the episode runs), ``tools`` OpenAI
    schemas, ``codes`` tool name -> source, ``state`` the database of stateful tools.

    After :func:`run_episodes`: ``calls`` / ``results`` every call made and what it
    returned, in order; ``turns`` the assistant turns; ``finished`` why it stopped.
    """

    key: str
    messages: list[dict[str, Any]]
    tools: list[dict[str, Any]] = field(factory=list)
    codes: dict[str, str] = field(factory=dict)
    state: Any = None
    calls: list[ToolCall] = field(factory=list)
    results: list[ToolResult] = field(factory=list)
    turns: int = 0
    finished: str = ""


def run_episodes(episodes: Sequence[Episode], *, generator, tool_format, mode, executor,
                 params: SamplingParams, max_turns: int = 20, one_tool_only: bool = False,
                 stop_when: Callable[[Episode, list[ToolCall]], bool] | None = None,
                 progress: Any = None) -> list[Episode]:
    """Play every episode to its end; returns them (their ``messages`` hold the chats).

    ``one_tool_only`` keeps only the first call of a response (the release does this for
    tau-bench); ``stop_when(episode, calls)`` ends an episode after its calls ran (e.g.
    a hand-off tool). ``progress`` is an optional tqdm bar advanced per finished episode.
    """
    active = [e for e in episodes]
    for turn in range(max_turns):
        if not active:
            break
        requests = [ChatRequest(messages=tuple(mode.prepare_messages(list(e.messages))),
                                tools=tuple(e.tools), template_kwargs=mode.template_kwargs())
                    for e in active]
        completions = generator.generate(requests, params)
        still = []
        for episode, outs in zip(active, completions):
            done = _advance(episode, outs[0], tool_format=tool_format, mode=mode,
                            executor=executor, one_tool_only=one_tool_only, stop_when=stop_when)
            if done:
                _finish(episode, done, executor, progress)
            else:
                still.append(episode)
        active = still
    for episode in active:
        _finish(episode, "max_turns", executor, progress)
    return list(episodes)


def _finish(episode: Episode, why: str, executor, progress) -> None:
    episode.finished = why
    if episode.state is not None:
        executor.end_episode(episode.key)
    if progress is not None:
        progress.update(1)


def _advance(episode: Episode, completion, *, tool_format, mode, executor, one_tool_only,
             stop_when) -> str:
    """Apply one completion; return why the episode ended, or ``""`` to go on."""
    reasoning, text = mode.split(completion.text, completion.reasoning)
    parsed = tool_format.parse(text)
    calls = list(parsed.calls)
    if one_tool_only:
        calls = calls[:1]
    calls = [c if c.id else ToolCall(c.name, c.arguments, f"call_{episode.turns}_{i}")
             for i, c in enumerate(calls)]
    message: dict[str, Any] = {"role": "assistant", "content": parsed.content or ""}
    if calls:
        message["tool_calls"] = [c.to_openai() for c in calls]
    episode.messages.append(mode.history_message(message, reasoning))
    episode.turns += 1
    if not calls:
        return "answer"
    results = executor.run_calls(episode.key, episode.codes, calls, episode=episode.key
                                 if episode.state is not None else None, state=episode.state)
    episode.calls += calls
    episode.results += list(results)
    for call, result in zip(calls, results):
        episode.messages.append({"role": "tool", "content": result.content,
                                 "tool_call_id": call.id, "name": call.name})
    if stop_when is not None and stop_when(episode, calls):
        return "stopped"
    return ""
