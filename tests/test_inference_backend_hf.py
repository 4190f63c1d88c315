"""The hf backend on the tiny model: batching is exact, n samples, stop strings, bad models."""

import json

import pytest

from toolfeedback.errors import ToolfeedbackError
from toolfeedback.generation import ChatRequest, SamplingParams
from toolfeedback.plugins.backend_hf import HFBackend

TOOLS = ({"type": "function", "function": {"name": "get_x", "description": "d",
          "parameters": {"type": "object", "properties": {}}}},)


def requests(k):
    # Different lengths, so left padding matters.
    return [ChatRequest(({"role": "user", "content": "word " * (1 + 7 * i)},), TOOLS,
                        {"enable_thinking": False}) for i in range(k)]


@pytest.fixture(scope="module")
def gen(tiny_model):
    return HFBackend().load(tiny_model, device="cpu")


def test_batched_equals_one_by_one(gen):
    params = SamplingParams(max_new_tokens=12)
    batched = gen.generate(requests(4), params)
    single = [gen.generate([r], params)[0] for r in requests(4)]
    assert [b[0].text for b in batched] == [s[0].text for s in single]
    assert all(b[0].completion_tokens >= 1 and b[0].prompt_tokens > 10 for b in batched)
    assert batched[0][0].prompt_tokens < batched[3][0].prompt_tokens


def test_micro_batches_keep_request_order(tiny_model, gen):
    small = HFBackend().load(tiny_model, device="cpu", batch_size=2)
    params = SamplingParams(max_new_tokens=6)
    reqs = list(reversed(requests(5)))
    assert [c[0].text for c in small.generate(reqs, params)] == \
        [c[0].text for c in gen.generate(reqs, params)]
    assert [c[0].prompt_tokens for c in small.generate(reqs, params)] == \
        sorted((c[0].prompt_tokens for c in gen.generate(reqs, params)), reverse=True)


def test_n_samples_and_seed(gen):
    params = SamplingParams(max_new_tokens=6, temperature=1.0, n=3, seed=7)
    out = gen.generate(requests(2), params)
    assert [len(g) for g in out] == [3, 3]
    assert gen.generate(requests(2), params)[1][2].text == out[1][2].text  # seeded
    with pytest.raises(ToolfeedbackError, match="temperature"):
        gen.generate(requests(1), SamplingParams(n=2))


def test_stop_string_cuts_the_text(gen):
    params = SamplingParams(max_new_tokens=20, temperature=1.0, seed=0)
    text = gen.generate(requests(1), params)[0][0].text
    assert len(text) > 2
    stop = text[1:3]
    cut = gen.generate(requests(1), SamplingParams(max_new_tokens=20, temperature=1.0, seed=0,
                                                   stop=(stop,)))[0][0]
    assert stop not in cut.text and text.startswith(cut.text) and cut.finish_reason == "stop"


def test_missing_model_and_template_without_tools(tmp_path, tiny_model):
    import shutil

    with pytest.raises(ToolfeedbackError, match="no such directory"):
        HFBackend().load(str(tmp_path / "nope"))
    broken = tmp_path / "notools"
    shutil.copytree(tiny_model, broken)
    (broken / "chat_template.jinja").write_text(
        "{% for m in messages %}{{ m.content }}{% endfor %}")
    cfg = json.loads((broken / "tokenizer_config.json").read_text())
    cfg.pop("chat_template", None)
    (broken / "tokenizer_config.json").write_text(json.dumps(cfg))
    with pytest.raises(ToolfeedbackError, match="does not render tools"):
        HFBackend().load(str(broken))


def test_markup_survives_decoding_even_when_marked_special(tmp_path, tiny_model):
    import shutil

    from transformers import AutoTokenizer

    model = tmp_path / "special"
    shutil.copytree(tiny_model, model)
    tok = AutoTokenizer.from_pretrained(model)
    tok.add_special_tokens({"additional_special_tokens": ["<|im_start|>", "<tool_call>", "</tool_call>"]})
    tok.save_pretrained(model)
    gen = HFBackend().load(str(model), device="cpu")
    ids = gen.tokenizer("<|im_start|>a<tool_call>{}</tool_call>", add_special_tokens=False)["input_ids"]
    assert gen.tokenizer.decode(ids, skip_special_tokens=True) == "a{}"  # what naive decoding does
    kept = [t for t in ids if t not in gen._drop_ids]
    assert gen.tokenizer.decode(kept) == "a<tool_call>{}</tool_call>"
