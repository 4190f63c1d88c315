"""The ``openai`` backend: any OpenAI-compatible chat server (vLLM, SGLang, llama.cpp,
hosted APIs) through the stdlib client :mod:`toolfeedback.contrib.openai_client`.

Options: ``base_url`` (default ``$OPENAI_BASE_URL``), ``api_key`` (default
``$OPENAI_API_KEY``), ``timeout``, ``retries``, ``concurrency`` (requests in flight, default
16), ``template_kwargs`` (``"chat_template_kwargs"``, as vLLM / SGLang take them; set to
``""`` for servers that reject unknown fields). A batch is sent as concurrent requests,
one per chat, each asking for ``params.n`` choices.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Sequence

from attrs import field, frozen

from toolfeedback import hookimpl
from toolfeedback.checks import at_least, positive
from toolfeedback.errors import ConfigError
from toolfeedback.generation import ChatRequest, Completion, SamplingParams
from toolfeedback.contracts import Backend


class OpenAIGenerator:
    """Chats completed by a server; structured tool calls and reasoning are kept."""

    def __init__(self, model: str, *, base_url: str | None = None, api_key: str | None = None,
                 timeout: float = 120.0, retries: int = 2, concurrency: int = 16,
                 template_kwargs: str = "chat_template_kwargs"):
        from toolfeedback.contrib.openai_client import OpenAIClient

        base_url = base_url or os.environ.get("OPENAI_BASE_URL")
        if not base_url:
            raise ConfigError("openai backend: give --backend-option base_url=http://host:port/v1 "
                              "(or set OPENAI_BASE_URL)")
        self.model_name = model
        self.client = OpenAIClient(base_url, api_key=api_key, timeout=timeout, retries=retries)
        self.template_key = template_kwargs
        self.pool = ThreadPoolExecutor(max_workers=max(1, int(concurrency)))

    def _one(self, request: ChatRequest, params: SamplingParams) -> list[Completion]:
        from toolfeedback.contrib.openai_client import completions_from_response

        extra = {self.template_key: dict(request.template_kwargs)} \
            if self.template_key and request.template_kwargs else None
        reply = self.client.chat(list(request.messages), model=self.model_name, tools=request.tools,
                                 temperature=params.temperature, top_p=params.top_p,
                                 max_tokens=params.max_new_tokens, n=params.n, seed=params.seed,
                                 stop=params.stop, extra=extra)
        return completions_from_response(reply)

    def generate(self, requests: Sequence[ChatRequest], params: SamplingParams
                 ) -> list[list[Completion]]:
        """One concurrent request per chat; results in request order."""
        return list(self.pool.map(lambda r: self._one(r, params), requests))

    def close(self) -> None:
        """Stop the request threads."""
        self.pool.shutdown(wait=True)


@frozen
class OpenAIOptions:
    """Options of the ``openai`` backend (``[rollout.backend]``, ``--backend-option``)."""

    base_url: str | None = field(default=None, metadata={
        "help": "server URL, e.g. http://127.0.0.1:8000/v1 (default: $OPENAI_BASE_URL)"})
    api_key: str | None = field(default=None, metadata={"help": "API key (default: $OPENAI_API_KEY)"})
    timeout: float = field(default=120.0, validator=positive(), metadata={"help": "seconds per request"})
    retries: int = field(default=2, validator=at_least(0), metadata={"help": "retries per request"})
    concurrency: int = field(default=16, validator=at_least(1), metadata={"help": "requests in flight"})
    template_kwargs: str = field(default="chat_template_kwargs", metadata={
        "help": "request field carrying chat-template arguments; '' for servers that reject it"})


class OpenAIBackend(Backend):
    """``openai``: see the module doc for options."""

    name = "openai"
    Options = OpenAIOptions

    def load(self, model: str, **options: Any) -> OpenAIGenerator:
        """An :class:`OpenAIGenerator` for the served ``model``."""
        return OpenAIGenerator(model, **options)


@hookimpl
def register_backends(register):
    register(OpenAIBackend())
