"""The offline tiny model: deterministic, loadable, a tool- and thinking-aware template."""

import hashlib
from pathlib import Path

from toolfeedback.tiny_model import MARKUP_TOKENS, build_tiny_model

TOOLS = [{"type": "function", "function": {"name": "get_x", "description": "d",
          "parameters": {"type": "object", "properties": {"a": {"type": "string"}}}}}]


def digests(folder):
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(Path(folder).iterdir())}


def test_same_seed_same_files_other_seed_other_weights(tmp_path, tiny_model):
    again = build_tiny_model(tmp_path / "again", seed=0)
    assert digests(again) == digests(tiny_model)
    other = build_tiny_model(tmp_path / "other", seed=1)
    assert digests(other)["model.safetensors"] != digests(tiny_model)["model.safetensors"]


def test_loads_with_transformers_and_renders_tools_calls_and_thinking(tiny_model):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_model, local_files_only=True)
    model = AutoModelForCausalLM.from_pretrained(tiny_model, local_files_only=True)
    assert model.config.model_type == "qwen3"
    msgs = [{"role": "user", "content": "q"},
            {"role": "assistant", "content": "", "reasoning_content": "plan",
             "tool_calls": [{"id": "1", "type": "function",
                             "function": {"name": "get_x", "arguments": '{"a": "b"}'}}]},
            {"role": "tool", "content": "42", "tool_call_id": "1"}]
    text = tok.apply_chat_template(msgs, tools=TOOLS, tokenize=False, add_generation_prompt=True,
                                   enable_thinking=False)
    assert '"name": "get_x"' in text.split("</tools>\n\nFor each")[0]  # tool schema in the system prompt
    assert '<tool_call>\n{"name": "get_x", "arguments": {"a": "b"}}\n</tool_call>' in text
    assert "<tool_response>\n42\n</tool_response>" in text
    assert "<think>\nplan\n</think>" in text  # reasoning after the last query is kept
    assert text.endswith("<|im_start|>assistant\n<think>\n\n</think>\n\n")
    thinking = tok.apply_chat_template(msgs, tools=TOOLS, tokenize=False, add_generation_prompt=True,
                                       enable_thinking=True)
    assert thinking.endswith("<|im_start|>assistant\n")
    # A later user query drops earlier reasoning, as Qwen3 does.
    later = tok.apply_chat_template(msgs + [{"role": "assistant", "content": "ok"},
                                            {"role": "user", "content": "next"}], tokenize=False)
    assert "plan" not in later
    # Markup survives decoding; chat framing does not.
    ids = tok("<think>x</think><tool_call>y</tool_call><|im_end|>", add_special_tokens=False)["input_ids"]
    assert tok.decode(ids, skip_special_tokens=True) == "<think>x</think><tool_call>y</tool_call>"
    for token in MARKUP_TOKENS:
        assert len(tok(token, add_special_tokens=False)["input_ids"]) == 1


def test_cli_builds_a_model(tmp_path, capsys):
    from toolfeedback.cli import main

    assert main(["tiny-model", str(tmp_path / "m"), "--seed", "3"]) == 0
    assert (tmp_path / "m" / "model.safetensors").exists()
    assert (tmp_path / "m" / "chat_template.jinja").exists() or \
        "chat_template" in (tmp_path / "m" / "tokenizer_config.json").read_text()


def test_lm_eval_loads_it_like_a_hub_model(tiny_model):
    from lm_eval.api.instance import Instance
    from lm_eval.models.huggingface import HFLM

    lm = HFLM(pretrained=tiny_model, device="cpu", batch_size=2)
    ((logprob, greedy),) = lm.loglikelihood([Instance(
        request_type="loglikelihood", doc={}, arguments=("The capital is", " Brindle"), idx=0)])
    assert logprob < 0 and isinstance(greedy, bool)
