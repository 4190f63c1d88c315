"""What backends exchange: chat requests in, completions out (no torch here).

A :class:`~toolfeedback.contracts.Backend` plugin is a factory: ``backend.load(model,
**options)`` returns a :class:`Generator` whose ``generate`` takes a batch of
:class:`ChatRequest` and returns, per request, ``params.n`` :class:`Completion` objects.
"""

from __future__ import annotations

from typing import Any, Protocol, Sequence, runtime_checkable

from attrs import field, frozen


@frozen
class SamplingParams:
    """Sampling settings shared by every backend."""

    max_new_tokens: int = field(default=1024, metadata={"help": "token budget per response"})
    temperature: float = field(default=0.0, metadata={"help": "0 means greedy decoding"})
    top_p: float = field(default=1.0, metadata={"help": "nucleus sampling mass"})
    n: int = field(default=1, metadata={"help": "completions per request"})
    seed: int | None = field(default=None, metadata={"help": "sampling seed, if the backend takes one"})
    stop: tuple[str, ...] = field(default=(), metadata={"help": "extra stop strings"})


@frozen
class ChatRequest:
    """One chat to continue: ``messages`` (OpenAI style), ``tools`` (OpenAI schemas), and
    keyword arguments for the chat template (e.g. ``{"enable_thinking": False}``)."""

    messages: tuple[dict[str, Any], ...]
    tools: tuple[dict[str, Any], ...] = ()
    template_kwargs: dict[str, Any] = field(factory=dict)


@frozen
class Completion:
    """One generated assistant turn.

    ``text`` is the raw decoded text (tool-call markup included, special tokens removed);
    servers that return structured calls fill ``tool_calls`` (OpenAI form) and
    ``reasoning`` (a separate reasoning field) instead.
    """

    text: str
    prompt_tokens: int = 0
    completion_tokens: int = 0
    finish_reason: str = "stop"
    tool_calls: tuple[dict[str, Any], ...] = ()
    reasoning: str | None = None


@runtime_checkable
class Generator(Protocol):
    """A loaded model (or a connection to a server) that completes batches of chats."""

    model_name: str

    def generate(self, requests: Sequence[ChatRequest], params: SamplingParams
                 ) -> list[list[Completion]]:
        """One list of ``params.n`` completions per request, in request order."""

    def close(self) -> None:
        """Free the model / connection."""


#: End-of-turn tokens of common chat formats, used as extra stop tokens when present.
END_OF_TURN = ("<|im_end|>", "<|endoftext|>", "<|eot_id|>", "<|eom_id|>", "<end_of_turn>")


def check_model_dir(model: str) -> None:
    """Refuse a model path that does not exist (we never download at run time)."""
    import os

    from .errors import ToolfeedbackError

    if not os.path.isdir(model):
        raise ToolfeedbackError(f"model {model!r}: no such directory (models are loaded from "
                                f"local paths only; build one with `toolfeedback tiny-model DIR`)")


def load_backend(backend: Any, model: str, options: dict[str, Any] | None = None, *,
                 path: str = "$.backend", hints: dict[str, Any] | None = None) -> Any:
    """``backend.load(model, **options)`` with only the options its ``Options`` declares.

    ``options`` are the user's (unknown keys are an error naming ``path``); ``hints`` are
    a verb's offers (``batch_size``, ``device``) that reach the backend only when it
    declares them.
    """
    import attrs

    from .plugin_options import resolve_options

    resolved = resolve_options(backend, options, path=path, hints=hints)
    kwargs = {f.name: getattr(resolved, f.name) for f in attrs.fields(type(resolved))} \
        if resolved is not None else {}
    return backend.load(model, **kwargs)
