"""A tiny Qwen3-architecture causal LM built offline: the default model of tests and demos.

:func:`build_tiny_model` trains a byte-level BPE tokenizer on text generated here (tool
schemas, tool-call markup, chat markup, short sentences about a made-up world) and on
environment text (questions, tool schemas, golden calls and tool outputs of procedural
environments, shipped as ``data/tokenizer_corpus.txt``; callers may add their own with
``texts``), so prompts of built environments take few tokens; it wraps it
as a ``PreTrainedTokenizerFast`` with the Qwen chat special tokens and our own chat
template (tools in the system prompt, ``<tool_call>`` JSON, ``<tool_response>``,
``enable_thinking``), and saves a randomly initialised ``Qwen3ForCausalLM`` next to it.
Everything is seeded: the same seed and size give byte-identical files. Nothing downloads.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

from .errors import ToolfeedbackError

#: Added tokens that ``decode(skip_special_tokens=True)`` removes (chat framing).
SPECIAL_TOKENS = ("<|endoftext|>", "<|im_start|>", "<|im_end|>")
#: Added tokens that stay in decoded text: the tool-call and reasoning markup is parsed
#: from the text, so it must survive decoding (Qwen3 marks them non-special too).
MARKUP_TOKENS = ("<tool_call>", "</tool_call>", "<tool_response>", "</tool_response>",
                 "<think>", "</think>", "<tools>", "</tools>")

SIZES = {
    "tiny": dict(vocab=2048, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                 num_attention_heads=4, num_key_value_heads=2, head_dim=16),
    "small": dict(vocab=4096, hidden_size=128, intermediate_size=384, num_hidden_layers=4,
                  num_attention_heads=4, num_key_value_heads=2, head_dim=32),
    # Qwen2.5-0.5B's transformer shape (our small vocabulary): for throughput benchmarks.
    "0.5b": dict(vocab=4096, hidden_size=896, intermediate_size=4864, num_hidden_layers=24,
                 num_attention_heads=14, num_key_value_heads=2, head_dim=64),
}

# A Qwen3-style template written for this project (Qwen's tool prose shortened: every
# prompt carries it, and the tiny model trains on CPUs). Tools go into the system prompt;
# assistant tool calls render as <tool_call>{"name", "arguments"}</tool_call>; tool
# results are grouped into one user turn of <tool_response> blocks; reasoning
# (``reasoning_content``) is kept only for assistant turns after the last real user
# query, as Qwen3 does; ``enable_thinking=false`` pre-fills an empty think block.
CHAT_TEMPLATE = (
    "{%- set ns = namespace(last_query=-1) -%}"
    "{%- for m in messages -%}{%- if m.role == 'user' -%}{%- set ns.last_query = loop.index0 -%}"
    "{%- endif -%}{%- endfor -%}"
    "{%- if tools -%}"
    "{{- '<|im_start|>system\\n' -}}"
    "{%- if messages and messages[0].role == 'system' -%}{{- messages[0].content + '\\n\\n' -}}{%- endif -%}"
    "{{- '# Tools\\n\\nFunction signatures:\\n<tools>' -}}"
    "{%- for tool in tools -%}{{- '\\n' + (tool | tojson) -}}{%- endfor -%}"
    "{{- '\\n</tools>\\n\\nCall a function with:\\n<tool_call>\\n{\\\"name\\\": "
    "<function-name>, \\\"arguments\\\": <args-json-object>}\\n</tool_call><|im_end|>\\n' -}}"
    "{%- elif messages and messages[0].role == 'system' -%}"
    "{{- '<|im_start|>system\\n' + messages[0].content + '<|im_end|>\\n' -}}"
    "{%- endif -%}"
    "{%- for m in messages -%}"
    "{%- if m.role == 'system' and loop.first -%}"
    "{%- elif m.role == 'user' or m.role == 'system' -%}"
    "{{- '<|im_start|>' + m.role + '\\n' + m.content + '<|im_end|>\\n' -}}"
    "{%- elif m.role == 'assistant' -%}"
    "{{- '<|im_start|>assistant\\n' -}}"
    "{%- if m.reasoning_content and loop.index0 > ns.last_query -%}"
    "{{- '<think>\\n' + (m.reasoning_content | trim) + '\\n</think>\\n\\n' -}}"
    "{%- endif -%}"
    "{{- m.content or '' -}}"
    "{%- for call in (m.tool_calls or []) -%}"
    "{%- set fn = call.function if call.function is defined else call -%}"
    "{%- if m.content or not loop.first -%}{{- '\\n' -}}{%- endif -%}"
    "{{- '<tool_call>\\n{\\\"name\\\": \\\"' + fn.name + '\\\", \\\"arguments\\\": ' -}}"
    "{%- if fn.arguments is string -%}{{- fn.arguments -}}{%- else -%}{{- fn.arguments | tojson -}}{%- endif -%}"
    "{{- '}\\n</tool_call>' -}}"
    "{%- endfor -%}"
    "{{- '<|im_end|>\\n' -}}"
    "{%- elif m.role == 'tool' -%}"
    "{%- if loop.first or messages[loop.index0 - 1].role != 'tool' -%}{{- '<|im_start|>user' -}}{%- endif -%}"
    "{{- '\\n<tool_response>\\n' + m.content + '\\n</tool_response>' -}}"
    "{%- if loop.last or messages[loop.index0 + 1].role != 'tool' -%}{{- '<|im_end|>\\n' -}}{%- endif -%}"
    "{%- endif -%}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}"
    "{{- '<|im_start|>assistant\\n' -}}"
    "{%- if enable_thinking is defined and enable_thinking is false -%}"
    "{{- '<think>\\n\\n</think>\\n\\n' -}}{%- endif -%}"
    "{%- endif -%}"
)

_WORDS = ("city country river mountain person company film book song team player author "
          "director capital population founded born located height length area year "
          "language currency president mayor river_length elevation genre album award "
          "the of in is was what which who where when how many and with for by from "
          "answer question tool call result error name value arguments function search "
          "get find lookup query list filter format unit date number string object array").split()
_NAMES = ("Avalon Brindle Corvus Dunmore Elara Fenwick Galen Halvard Isolde Jorvik Kestrel "
          "Lumen Marrow Norrell Orin Pellam Quill Rowan Sable Tamsin Ulric Vesper Wren "
          "Yarrow Zephyr").split()


def _rendered_prose() -> str:
    """The literal text pieces of :data:`CHAT_TEMPLATE` (Jinja string escapes undone)."""
    import re

    pieces = re.findall(r"'((?:[^'\\]|\\.)*)'", CHAT_TEMPLATE)
    return "".join(p.replace("\\n", "\n").replace('\\"', '"') for p in pieces if len(p) > 12)


def _corpus(seed: int, n: int = 600) -> list[str]:
    """Training text for the tokenizer: markup, schemas, calls and sentences (seeded)."""
    rng = random.Random(seed)
    # The template's fixed prose, as rendered, once per 8 samples: it opens every prompt,
    # so its words are worth whole tokens (the raw template text holds them only once).
    lines = [CHAT_TEMPLATE] + [_rendered_prose()] * max(1, n // 8)
    for _ in range(n):
        rel, ent = rng.choice(_WORDS), rng.choice(_NAMES)
        fn = f"get_{rel}_of_{rng.choice(_WORDS)}"
        schema = {"type": "function", "function": {
            "name": fn, "description": f"Return the {rel} of a {rng.choice(_WORDS)}.",
            "parameters": {"type": "object", "properties": {
                "name": {"type": "string", "description": f"the {rng.choice(_WORDS)} name"},
                "year": {"type": "integer"}, "unit": {"type": "string", "enum": ["km", "m"]}},
                "required": ["name"]}}}
        call = {"name": fn, "arguments": {"name": ent, "year": rng.randint(1800, 2025)}}
        lines += [
            json.dumps(schema),
            f"<tool_call>\n{json.dumps(call)}\n</tool_call>",
            f"<tool_response>\n{json.dumps({rel: f'{rng.choice(_NAMES)} {rng.randint(1, 9999)}'})}\n</tool_response>",
            f"<|im_start|>user\nWhat is the {rel} of the {rng.choice(_WORDS)} {ent}?<|im_end|>",
            f"<think>\nI should call {fn} with {ent}.\n</think>\n\nThe answer is {rng.choice(_NAMES)}.",
            " ".join(rng.choice(_WORDS + _NAMES) for _ in range(rng.randint(5, 20))),
            "an error occured when call " + fn + ": missing argument",
        ]
    return lines


#: Environment text of default-scaled procedural builds (regenerate with
#: ``python benchmarks/bench_prompt_tokens.py --write-corpus``).
CORPUS_FILE = Path(__file__).parent / "data" / "tokenizer_corpus.txt"


def environment_texts(envs, trajectories=None, split: str | None = None) -> list[str]:
    """Tokenizer training text from an environments JSONL (questions, system prompts, tool
    schemas as chat templates print them, golden calls; only environments of ``split`` when
    given) and, optionally, a trajectories JSONL (tool outputs and answers). Files are read
    as written by ``build`` / ``rollout``."""
    from .ftrl import read_environments

    lines: list[str] = []
    for _, env in read_environments(envs):
        if split is not None and env.split != split:
            continue
        lines += [str(m.get("content") or "") for m in env.messages]
        lines += [json.dumps(t.to_openai(), ensure_ascii=False) for t in env.tools]
        for step in env.golden:
            lines += [f"<tool_call>\n{json.dumps({'name': c.name, 'arguments': c.arguments}, ensure_ascii=False)}"
                      f"\n</tool_call>" for c in step]
        if env.answer:
            lines.append(env.answer)
    if trajectories:
        from .jsonl import JsonlReader

        for _, record in JsonlReader(trajectories):
            for m in record.get("messages", []) if isinstance(record, dict) else []:
                if isinstance(m, dict) and m.get("role") == "tool":
                    lines.append(f"<tool_response>\n{m.get('content')}\n</tool_response>")
    return [line for line in lines if line]


#: A merge must occur this often in the tokenizer's training text. Entity names occur a few
#: times each: without the floor the train split's names became whole tokens while unseen
#: (test) names split into pieces, so copying a name into a call differed between train and
#: test (mean tokens per name 3.6 train / 4.2 test before, 5.0 / 5.1 with it; prompts 151
#: -> 153 tokens). With it every name is syllable pieces, seen or not.
MIN_FREQUENCY = 50


def _train_tokenizer(seed: int, vocab: int, texts=(), corpus_file: bool = True):
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    # A space before a capital letter is a token of its own, so that a name reads as the
    # same tokens in a question (" Zanmar") and in a call's JSON ("\"Zanmar"): copying a
    # name into the arguments is then the identity, which a tiny model learns quickly.
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(r" (?=\p{Lu})"), behavior="isolated"),
        pre_tokenizers.ByteLevel(add_prefix_space=False)])
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab, special_tokens=list(SPECIAL_TOKENS),
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                  min_frequency=MIN_FREQUENCY, show_progress=False)
    corpus = _corpus(seed) + list(texts)
    if corpus_file and CORPUS_FILE.is_file():
        corpus += CORPUS_FILE.read_text(encoding="utf-8").splitlines()
    tok.train_from_iterator(corpus, trainer=trainer)
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<|im_end|>",
                                   pad_token="<|endoftext|>", bos_token=None,
                                   additional_special_tokens=["<|im_start|>"],
                                   padding_side="left", model_max_length=32768)
    fast.add_tokens(list(MARKUP_TOKENS), special_tokens=False)
    fast.chat_template = CHAT_TEMPLATE
    return fast


def build_tiny_model(out_dir, seed: int = 0, size: str = "tiny", texts=(),
                     corpus_file: bool = True) -> Path:
    """Build and save the tiny model and tokenizer in ``out_dir``; return its path.

    ``texts`` are extra tokenizer training lines (e.g. :func:`environment_texts` of the
    environments the model will run in); ``corpus_file=False`` leaves out the shipped
    environment corpus (to measure what it saves).

    Loadable with ``AutoModelForCausalLM.from_pretrained(out_dir)`` and
    ``AutoTokenizer.from_pretrained(out_dir)``, by TRL and by lm-eval. Deterministic.
    """
    if size not in SIZES:
        raise ToolfeedbackError(f"unknown size {size!r}; expected one of {', '.join(SIZES)}")
    import torch
    from transformers import GenerationConfig, Qwen3Config, Qwen3ForCausalLM

    from .atomic import atomic_dir, check_output_dir

    spec = dict(SIZES[size])
    target = check_output_dir(out_dir)
    tokenizer = _train_tokenizer(seed, spec.pop("vocab"), texts, corpus_file)
    pad = tokenizer.convert_tokens_to_ids("<|endoftext|>")
    eos = [tokenizer.convert_tokens_to_ids("<|im_end|>"), pad]
    config = Qwen3Config(vocab_size=len(tokenizer), max_position_embeddings=32768,
                         tie_word_embeddings=True, bos_token_id=pad, eos_token_id=eos,
                         pad_token_id=pad, **spec)
    state = torch.random.get_rng_state()
    try:
        torch.manual_seed(seed)
        model = Qwen3ForCausalLM(config).eval()
    finally:
        torch.random.set_rng_state(state)
    model.generation_config = GenerationConfig(bos_token_id=pad, eos_token_id=eos,
                                               pad_token_id=pad, do_sample=False)
    with atomic_dir(target) as out:  # a failed or killed build leaves out_dir as it was
        model.save_pretrained(out)
        tokenizer.save_pretrained(out)
    return target
