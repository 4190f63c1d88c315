"""The contrib openai backend in a real rollout against an HTTP server on loopback, and
the vllm backend's import guard."""

import importlib.util
import json

import pytest

from helpers.replay_server import ReplayServer, chat_reply
from helpers.rollout_envs import solver, write_envs
from toolfeedback.runtime.executor import InProcessExecutor
from toolfeedback.generation import ChatRequest
from toolfeedback.manager import create_plugin_manager
from toolfeedback.registry import Catalog
from toolfeedback.rollout.collect import RolloutConfig, rollout


def structured(body):
    """Answer like a tool-parsing server: calls as structured ``tool_calls``, reasoning apart."""
    req = ChatRequest(tuple(body["messages"]), tuple(body.get("tools", ())))
    text = solver(req)
    if text.startswith("<tool_call>"):
        payload = json.loads(text.split("\n")[1])
        calls = [{"id": "c1", "type": "function", "function": {
            "name": payload["name"], "arguments": json.dumps(payload["arguments"])}}]
        return chat_reply("", tool_calls=calls, reasoning="let me look it up")
    return chat_reply(text)


def test_rollout_over_http_with_structured_calls(tmp_path):
    envs = tmp_path / "envs.jsonl"
    write_envs(envs, ("Avalonia", "Corvia"))
    with ReplayServer(structured) as server:
        cfg = RolloutConfig(model="served", envs=str(envs), out=str(tmp_path / "t.jsonl"),
                            backend="openai", mode="think", progress=False,
                            backend_options={"base_url": server.url, "retries": 0})
        summary = rollout(cfg, pm=create_plugin_manager(), executor=InProcessExecutor())
    assert summary["episodes"] == 2
    trajs = [json.loads(line) for line in (tmp_path / "t.jsonl").read_text().splitlines()]
    assert all(t["metrics"]["solve_f1"] == 1.0 and len(t["steps"]) == 3 for t in trajs)
    assert trajs[0]["steps"][0]["reasoning"] == "let me look it up"
    first = server.requests[0]
    assert first["model"] == "served" and first["chat_template_kwargs"] == {"enable_thinking": True}
    assert {t["function"]["name"] for t in first["tools"]} == {"get_capital", "get_population"}
    # later turns carry the tool results back
    assert any(m["role"] == "tool" for m in server.requests[-1]["messages"])


def test_openai_backend_needs_a_base_url(monkeypatch):
    from toolfeedback.errors import ConfigError

    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    with pytest.raises(ConfigError, match="base_url"):
        Catalog(create_plugin_manager()).get("backends", "openai").load("m")


@pytest.mark.skipif(importlib.util.find_spec("vllm") is not None, reason="vllm installed")
def test_vllm_backend_without_vllm_says_how_to_install(tmp_path):
    from toolfeedback.errors import ToolfeedbackError

    with pytest.raises(ToolfeedbackError, match="pip install vllm"):
        Catalog(create_plugin_manager()).get("backends", "vllm").load(str(tmp_path))


@pytest.mark.gpu
def test_vllm_backend_generates(tmp_path):
    pytest.importorskip("vllm")
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("vllm needs a CUDA device")
    from toolfeedback.generation import SamplingParams
    from toolfeedback.tiny_model import build_tiny_model

    model = build_tiny_model(tmp_path / "m", size="small")
    gen = Catalog(create_plugin_manager()).get("backends", "vllm").load(str(model), enforce_eager=True)
    out = gen.generate([ChatRequest(({"role": "user", "content": "hi"},))] * 3,
                       SamplingParams(max_new_tokens=8, temperature=1.0, n=2, seed=0))
    assert [len(o) for o in out] == [2, 2, 2] and all(c.completion_tokens >= 1 for o in out for c in o)
