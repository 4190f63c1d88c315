"""A small, stdlib-only client for OpenAI-compatible chat servers (vLLM, SGLang, hosted APIs).

Used by the contrib ``openai`` backend and by the ``llm`` construction stages. Only the
chat-completions endpoint with tools is covered: timeouts, retries with backoff on
transient failures (connection errors, 408/409/429/5xx), and errors that say what the
server answered, never a traceback of ours.

Example::

    client = OpenAIClient("http://127.0.0.1:8000/v1", api_key="none", timeout=60)
    reply = client.chat([{"role": "user", "content": "hi"}], model="qwen", max_tokens=32)
    completions = completions_from_response(reply)
"""

from __future__ import annotations

import json
import os
import socket
import time
import urllib.error
import urllib.request
from typing import Any, Sequence

from toolfeedback.errors import ToolfeedbackError
from toolfeedback.generation import Completion

RETRY_STATUS = frozenset({408, 409, 429, 500, 502, 503, 504})


class OpenAIError(ToolfeedbackError):
    """The server could not be reached, or refused the request; ``status`` is the HTTP
    status (None when there was no HTTP answer)."""

    def __init__(self, message: str, status: int | None = None):
        super().__init__(message)
        self.status = status


class OpenAIClient:
    """Chat completions against ``base_url`` (e.g. ``http://host:8000/v1``).

    ``api_key`` defaults to ``$OPENAI_API_KEY`` (sent as a bearer token when set);
    ``timeout`` is per HTTP attempt in seconds; ``retries`` extra attempts are made on
    transient failures, waiting ``backoff * 2**attempt`` seconds between them.
    """

    def __init__(self, base_url: str, *, api_key: str | None = None, timeout: float = 120.0,
                 retries: int = 2, backoff: float = 0.5):
        if not base_url.startswith(("http://", "https://")):
            raise OpenAIError(f"base URL must start with http:// or https://, got {base_url!r}")
        self.base_url = base_url.rstrip("/")
        self.api_key = api_key if api_key is not None else os.environ.get("OPENAI_API_KEY")
        self.timeout = timeout
        self.retries = max(0, retries)
        self.backoff = backoff

    # ------------------------------------------------------------------ requests
    def chat(self, messages: Sequence[dict[str, Any]], *, model: str,
             tools: Sequence[dict[str, Any]] = (), temperature: float | None = None,
             top_p: float | None = None, max_tokens: int | None = None, n: int = 1,
             seed: int | None = None, stop: Sequence[str] = (),
             extra: dict[str, Any] | None = None) -> dict[str, Any]:
        """POST ``/chat/completions`` and return the decoded JSON reply.

        ``extra`` is merged into the body as is (e.g. ``{"chat_template_kwargs":
        {"enable_thinking": False}}`` for vLLM / SGLang).
        """
        body: dict[str, Any] = {"model": model, "messages": list(messages), "n": n}
        if tools:
            body["tools"] = list(tools)
        for key, value in (("temperature", temperature), ("top_p", top_p),
                           ("max_tokens", max_tokens), ("seed", seed)):
            if value is not None:
                body[key] = value
        if stop:
            body["stop"] = list(stop)
        body.update(extra or {})
        reply = self._post("/chat/completions", body)
        if not isinstance(reply, dict) or not isinstance(reply.get("choices"), list):
            raise OpenAIError(f"{self.base_url}/chat/completions: reply has no 'choices' list")
        return reply

    def models(self) -> list[str]:
        """Model ids the server lists under ``/models``."""
        reply = self._request("GET", "/models", None)
        return [m.get("id", "") for m in reply.get("data", []) if isinstance(m, dict)]

    def _post(self, path: str, body: dict[str, Any]) -> Any:
        return self._request("POST", path, body)

    def _request(self, method: str, path: str, body: dict[str, Any] | None) -> Any:
        url = self.base_url + path
        data = None if body is None else json.dumps(body, ensure_ascii=False).encode()
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        last: OpenAIError | None = None
        for attempt in range(self.retries + 1):
            if attempt:
                time.sleep(self.backoff * 2 ** (attempt - 1))
            req = urllib.request.Request(url, data=data, headers=headers, method=method)
            try:
                with urllib.request.urlopen(req, timeout=self.timeout) as resp:  # noqa: S310
                    raw = resp.read()
            except urllib.error.HTTPError as exc:
                last = OpenAIError(f"{url}: HTTP {exc.code}: {_server_message(exc)}", exc.code)
                if exc.code in RETRY_STATUS:
                    continue
                raise last from None
            except (urllib.error.URLError, socket.timeout, TimeoutError, ConnectionError) as exc:
                reason = getattr(exc, "reason", exc)
                last = OpenAIError(f"{url}: cannot reach the server ({reason})")
                continue
            try:
                return json.loads(raw)
            except (json.JSONDecodeError, UnicodeDecodeError):
                raise OpenAIError(f"{url}: reply is not JSON: {raw[:200]!r}") from None
        assert last is not None
        raise OpenAIError(f"{last} (after {self.retries + 1} attempts)", last.status)


def _server_message(exc: urllib.error.HTTPError) -> str:
    """The error message of an OpenAI-style error body, else the body's start."""
    try:
        raw = exc.read()
    except Exception:  # noqa: BLE001 - a broken body still yields a message
        return exc.reason or ""
    try:
        obj = json.loads(raw)
        err = obj.get("error", obj) if isinstance(obj, dict) else obj
        if isinstance(err, dict) and err.get("message"):
            return str(err["message"])
        if isinstance(err, str):
            return err
    except (json.JSONDecodeError, UnicodeDecodeError):
        pass
    return raw[:300].decode("utf-8", "replace") or (exc.reason or "")


def completions_from_response(reply: dict[str, Any]) -> list[Completion]:
    """Turn a chat-completions reply into :class:`Completion` objects (one per choice).

    Structured ``tool_calls`` are kept as OpenAI dicts; a separate reasoning field
    (``reasoning_content`` of vLLM / SGLang / DeepSeek, or ``reasoning``) goes to
    ``Completion.reasoning``. Token usage is split evenly over choices.
    """
    choices = sorted(reply.get("choices", []), key=lambda c: c.get("index", 0))
    usage = reply.get("usage") or {}
    n = max(1, len(choices))
    out = []
    for choice in choices:
        msg = choice.get("message") or {}
        calls = tuple(c for c in (msg.get("tool_calls") or []) if isinstance(c, dict))
        reasoning = msg.get("reasoning_content") or msg.get("reasoning")
        out.append(Completion(
            text=msg.get("content") or "",
            prompt_tokens=int(usage.get("prompt_tokens", 0) or 0),
            completion_tokens=int(usage.get("completion_tokens", 0) or 0) // n,
            finish_reason=choice.get("finish_reason") or "stop",
            tool_calls=calls,
            reasoning=reasoning if isinstance(reasoning, str) else None,
        ))
    return out
