"""A real OpenAI-compatible HTTP server on 127.0.0.1 (ephemeral port) that replays answers.

Tests use it to exercise clients over a real socket. ``responses`` is a list consumed in
order; each item is a reply dict (sent with status 200), a ``(status, body)`` tuple, or a
callable ``request_body -> reply dict``. ``server.requests`` records every request body.

Example::

    with ReplayServer([{"choices": [...]}]) as server:
        client = OpenAIClient(server.url)
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable


def chat_reply(content: str = "", *, tool_calls=None, reasoning=None, n: int = 1,
               finish_reason: str = "stop", prompt_tokens: int = 5,
               completion_tokens: int = 3) -> dict[str, Any]:
    """A chat-completions reply dict with ``n`` identical choices."""
    message: dict[str, Any] = {"role": "assistant", "content": content}
    if tool_calls:
        message["tool_calls"] = tool_calls
    if reasoning is not None:
        message["reasoning_content"] = reasoning
    return {"id": "chatcmpl-test", "object": "chat.completion", "model": "replay",
            "choices": [{"index": i, "message": message, "finish_reason": finish_reason}
                        for i in range(n)],
            "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens * n}}


class ReplayServer:
    """Serve ``responses`` in order on ``/v1/chat/completions``; ``/v1/models`` lists one."""

    def __init__(self, responses: list[Any] | Callable[[dict], Any]):
        self.responses = responses
        self.requests: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        self._lock = threading.Lock()
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep test output clean
                pass

            def _send(self, status: int, body: Any) -> None:
                data = body if isinstance(body, bytes) else json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self):
                if self.path.rstrip("/").endswith("/models"):
                    self._send(200, {"data": [{"id": "replay"}]})
                else:
                    self._send(404, {"error": {"message": "not found"}})

            def do_POST(self):
                length = int(self.headers.get("Content-Length", 0))
                body = json.loads(self.rfile.read(length) or b"{}")
                with owner._lock:
                    owner.requests.append(body)
                    owner.headers.append(dict(self.headers))
                    item = owner._next(body)
                status, reply = item if isinstance(item, tuple) else (200, item)
                self._send(status, reply)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def _next(self, body: dict) -> Any:
        if callable(self.responses):
            item = self.responses(body)
        elif self.responses:
            item = self.responses.pop(0)
        else:
            item = (500, {"error": {"message": "replay server has no more responses"}})
        return item(body) if callable(item) else item

    @property
    def url(self) -> str:
        """Base URL, ``http://127.0.0.1:<port>/v1``."""
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    def __enter__(self) -> "ReplayServer":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()
