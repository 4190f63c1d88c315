"""The ``hf`` backend: transformers ``generate``, batched across many chats.

Prompts are rendered with the model's own chat template (tools and template arguments
such as ``enable_thinking`` included), left-padded into micro-batches of ``batch_size``,
generated with the model's stop tokens, and only the new tokens are decoded. Tool-call
and reasoning markup survives decoding because those are non-special added tokens in
Qwen-style tokenizers (and in our tiny model). Nothing is downloaded: models load with
``local_files_only=True``.
"""

from __future__ import annotations

import os
from typing import Any, Sequence

from toolfeedback import hookimpl
from toolfeedback.errors import ToolfeedbackError
from toolfeedback.generation import ChatRequest, Completion, SamplingParams

#: End-of-turn tokens of common chat formats, used as extra stop tokens when present.
END_OF_TURN = ("<|im_end|>", "<|endoftext|>", "<|eot_id|>", "<|eom_id|>", "<end_of_turn>")


class ModelLoadError(ToolfeedbackError):
    """The model or tokenizer cannot be used (missing path, no chat template, ...)."""


def check_model_dir(model: str) -> None:
    """Refuse a path that does not exist (we never download at run time)."""
    if not os.path.isdir(model):
        raise ModelLoadError(f"model {model!r}: no such directory (models are loaded from "
                             f"local paths only; build one with `toolfeedback tiny-model DIR`)")


class HFGenerator:
    """A transformers model and tokenizer behind the Generator contract."""

    def __init__(self, model: str, *, device: str | None = None, dtype: str | None = None,
                 batch_size: int = 64, require_tools: bool = True):
        check_model_dir(model)
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self.model_name = model
        self.batch_size = max(1, int(batch_size))
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(model, local_files_only=True)
        except (OSError, ValueError) as exc:
            raise ModelLoadError(f"model {model!r}: cannot load the tokenizer ({exc})") from None
        template = self.tokenizer.chat_template
        if not template:
            raise ModelLoadError(f"model {model!r}: the tokenizer has no chat template")
        if require_tools and "tools" not in str(template):
            raise ModelLoadError(f"model {model!r}: the chat template does not render tools "
                                 f"(no 'tools' variable); use a tool-capable model")
        self.tokenizer.padding_side = "left"
        if self.tokenizer.pad_token_id is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        kwargs: dict[str, Any] = {"local_files_only": True}
        if dtype:
            kwargs["dtype"] = getattr(torch, dtype) if dtype != "auto" else "auto"
        try:
            self.model = AutoModelForCausalLM.from_pretrained(model, **kwargs).to(self.device).eval()
        except (OSError, ValueError) as exc:
            raise ModelLoadError(f"model {model!r}: cannot load the weights ({exc})") from None
        self.eos_ids = self._stop_ids()
        self.supports_thinking = "enable_thinking" in str(template)

    def _stop_ids(self) -> list[int]:
        ids: list[int] = []
        gen_eos = getattr(self.model.generation_config, "eos_token_id", None)
        for value in (gen_eos, self.tokenizer.eos_token_id):
            ids += value if isinstance(value, list) else ([value] if value is not None else [])
        vocab = self.tokenizer.get_vocab()
        ids += [vocab[t] for t in END_OF_TURN if t in vocab]
        return sorted(set(ids))

    def render(self, request: ChatRequest) -> str:
        """The prompt text of one request, through the model's chat template."""
        return self.tokenizer.apply_chat_template(
            list(request.messages), tools=list(request.tools) or None, tokenize=False,
            add_generation_prompt=True, **request.template_kwargs)

    def generate(self, requests: Sequence[ChatRequest], params: SamplingParams
                 ) -> list[list[Completion]]:
        """Batched generation: ``params.n`` completions per request, in order."""
        if params.n > 1 and params.temperature <= 0:
            raise ToolfeedbackError("n > 1 samples need temperature > 0 (greedy decoding "
                                    "would repeat one answer)")
        prompts = [self.render(r) for r in requests]
        out: list[list[Completion]] = []
        for start in range(0, len(prompts), self.batch_size):
            out += self._generate_batch(prompts[start:start + self.batch_size], params)
        return out

    def _generate_batch(self, prompts: list[str], params: SamplingParams) -> list[list[Completion]]:
        import torch

        enc = self.tokenizer(prompts, return_tensors="pt", padding=True, add_special_tokens=False)
        enc = {k: v.to(self.device) for k, v in enc.items()}
        width = enc["input_ids"].shape[1]
        prompt_lens = enc["attention_mask"].sum(dim=1).tolist()
        gen: dict[str, Any] = dict(max_new_tokens=params.max_new_tokens,
                                   eos_token_id=self.eos_ids,
                                   pad_token_id=self.tokenizer.pad_token_id,
                                   num_return_sequences=params.n)
        if params.temperature > 0:
            gen.update(do_sample=True, temperature=params.temperature, top_p=params.top_p)
        else:
            gen.update(do_sample=False, temperature=None, top_p=None, top_k=None)
        if params.stop:
            gen.update(stop_strings=list(params.stop), tokenizer=self.tokenizer)
        if params.seed is not None:
            torch.manual_seed(params.seed)
        with torch.inference_mode():
            sequences = self.model.generate(**enc, **gen)
        new = sequences[:, width:].tolist()
        stops = set(self.eos_ids)
        results: list[list[Completion]] = []
        for i, prompt_len in enumerate(prompt_lens):
            group = []
            for tokens in new[i * params.n:(i + 1) * params.n]:
                end = next((j for j, t in enumerate(tokens) if t in stops), None)
                kept = tokens if end is None else tokens[:end]
                text = self.tokenizer.decode(kept, skip_special_tokens=True)
                finish = "stop" if end is not None else "length"
                for stop in params.stop:
                    cut = text.find(stop)
                    if cut >= 0:
                        text, finish = text[:cut], "stop"
                group.append(Completion(text=text, prompt_tokens=int(prompt_len),
                                        completion_tokens=len(kept) + (end is not None),
                                        finish_reason=finish))
            results.append(group)
        return results

    def close(self) -> None:
        """Drop the model (frees GPU memory when nothing else holds it)."""
        self.model = None


class HFBackend:
    """``hf``: options ``device`` (cpu/cuda), ``dtype`` (float32, bfloat16, auto),
    ``batch_size`` (micro-batch of chats per ``generate`` call)."""

    name = "hf"

    def load(self, model: str, **options: Any) -> HFGenerator:
        return HFGenerator(model, **options)


@hookimpl
def register_backends(register):
    register(HFBackend())
