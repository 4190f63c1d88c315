"""The stdlib OpenAI-compatible client against a real HTTP server on loopback."""

import pytest

from helpers.replay_server import ReplayServer, chat_reply
from toolfeedback.contrib.openai_client import OpenAIClient, OpenAIError, completions_from_response


def test_chat_sends_tools_and_parses_choices():
    call = {"id": "c1", "type": "function",
            "function": {"name": "get_x", "arguments": "{\"a\": 1}"}}
    with ReplayServer([chat_reply("hi", tool_calls=[call], reasoning="because", n=2)]) as srv:
        client = OpenAIClient(srv.url, api_key="k", retries=0)
        reply = client.chat([{"role": "user", "content": "q"}], model="m",
                            tools=[{"type": "function", "function": {"name": "get_x"}}],
                            max_tokens=7, n=2, extra={"chat_template_kwargs": {"enable_thinking": False}})
    body = srv.requests[0]
    assert body["tools"][0]["function"]["name"] == "get_x"
    assert body["max_tokens"] == 7 and body["n"] == 2
    assert body["chat_template_kwargs"] == {"enable_thinking": False}
    assert srv.headers[0]["Authorization"] == "Bearer k"
    comps = completions_from_response(reply)
    assert len(comps) == 2
    assert comps[0].text == "hi" and comps[0].reasoning == "because"
    assert comps[0].tool_calls[0]["function"]["name"] == "get_x"


def test_retries_transient_then_succeeds():
    with ReplayServer([(503, {"error": {"message": "busy"}}), chat_reply("ok")]) as srv:
        client = OpenAIClient(srv.url, retries=2, backoff=0.01)
        reply = client.chat([{"role": "user", "content": "q"}], model="m")
    assert reply["choices"][0]["message"]["content"] == "ok"
    assert len(srv.requests) == 2


def test_client_error_is_clear_and_not_retried():
    with ReplayServer([(400, {"error": {"message": "model 'x' does not support tools"}})]) as srv:
        client = OpenAIClient(srv.url, retries=3, backoff=0.01)
        with pytest.raises(OpenAIError, match="HTTP 400: model 'x' does not support tools"):
            client.chat([{"role": "user", "content": "q"}], model="x")
    assert len(srv.requests) == 1


def test_unreachable_server_names_url():
    client = OpenAIClient("http://127.0.0.1:9/v1", retries=1, backoff=0.01, timeout=2)
    with pytest.raises(OpenAIError, match=r"127\.0\.0\.1:9/v1/chat/completions: cannot reach"):
        client.chat([{"role": "user", "content": "q"}], model="m")


def test_bad_base_url():
    with pytest.raises(OpenAIError, match="http://"):
        OpenAIClient("localhost:8000")


def test_lone_surrogates_from_a_server_survive_the_trajectory_file(tmp_path):
    from toolfeedback.jsonl import JsonlWriter, read_jsonl

    with ReplayServer([b'{"choices": [{"index": 0, "message": {"content": "x\\ud800y"}}]}']) as srv:
        (comp,) = completions_from_response(OpenAIClient(srv.url, retries=0).chat([], model="m"))
    assert comp.text == "x\ud800y"
    with JsonlWriter(tmp_path / "o.jsonl") as writer:
        writer.write({"response": comp.text})
    assert list(read_jsonl(tmp_path / "o.jsonl")) == [{"response": "x\ud800y"}]
