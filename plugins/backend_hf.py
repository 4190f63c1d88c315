"""The ``hf`` backend: transformers ``generate``, batched across many chats.

Prompts are rendered with the model's own chat template (tools and template arguments
such as ``enable_thinking`` included), left-padded into micro-batches of ``batch_size``,
generated with the model's stop tokens, and only the new tokens are decoded. Tool-call
and reasoning markup survives decoding because those are non-special added tokens in
Qwen-style tokenizers (and in our tiny model). Nothing is downloaded: models load with
``local_files_only=True``.
"""

from __future__ import annotations

from typing import Any, Sequence

from attrs import field, frozen

from toolfeedback import hookimpl
from toolfeedback.errors import ToolfeedbackError
from toolfeedback.checks import at_least
from toolfeedback.generation import END_OF_TURN, ChatRequest, Completion, SamplingParams, check_model_dir
from toolfeedback.contracts import Backend

#: Markup the tool formats and modes parse; never dropped when decoding.
MARKUP = ("<tool_call>", "</tool_call>", "<think>", "</think>", "<|python_tag|>",
          "<tool_response>", "</tool_response>")


class ModelLoadError(ToolfeedbackError):
    """The model or tokenizer cannot be used (missing path, no chat template, ...)."""


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
            value = "auto" if dtype == "auto" else getattr(torch, str(dtype), None)
            if not isinstance(value, (str, torch.dtype)):
                raise ModelLoadError(f"dtype {dtype!r}: expected auto, float32, bfloat16 or float16")
            kwargs["dtype"] = value
        try:
            self.model = AutoModelForCausalLM.from_pretrained(model, **kwargs).to(self.device).eval()
        except (OSError, ValueError) as exc:
            raise ModelLoadError(f"model {model!r}: cannot load the weights ({exc})") from None
        self.eos_ids = self._stop_ids()
        # Decoding drops special tokens except tool-call / reasoning markup, which some
        # tokenizers mark special (Qwen's are not) but which must reach the parser.
        vocab = self.tokenizer.get_vocab()
        keep = {vocab[t] for t in MARKUP if t in vocab}
        self._drop_ids = set(self.tokenizer.all_special_ids) - keep
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
        if len(prompts) <= self.batch_size:
            return self._generate_batch(prompts, params)
        # Several micro-batches: group prompts of similar length to waste less on padding.
        order = sorted(range(len(prompts)), key=lambda i: len(prompts[i]))
        out: list[list[Completion] | None] = [None] * len(prompts)
        for start in range(0, len(order), self.batch_size):
            chunk = order[start:start + self.batch_size]
            for i, result in zip(chunk, self._generate_batch([prompts[i] for i in chunk], params)):
                out[i] = result
        return out  # type: ignore[return-value]

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
                text = self.tokenizer.decode([t for t in kept if t not in self._drop_ids],
                                             skip_special_tokens=False)
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


@frozen
class HFOptions:
    """Options of the ``hf`` backend (``[rollout.backend]``, ``--backend-option``)."""

    device: str | None = field(default=None, metadata={"help": "torch device (default: cuda if available)"})
    dtype: str | None = field(default=None, metadata={"help": "float32, bfloat16, float16 or auto"})
    batch_size: int = field(default=64, validator=at_least(1), metadata={
        "help": "micro-batch of chats per generate call"})
    require_tools: bool = field(default=True, metadata={
        "help": "refuse a chat template that does not render tools"})


class HFBackend(Backend):
    """``hf``: options ``device`` (cpu/cuda), ``dtype`` (float32, bfloat16, auto),
    ``batch_size`` (micro-batch of chats per ``generate`` call)."""

    name = "hf"
    Options = HFOptions

    def load(self, model: str, **options: Any) -> HFGenerator:
        """An :class:`HFGenerator` for the local model directory ``model``."""
        return HFGenerator(model, **options)


@hookimpl
def register_backends(register):
    register(HFBackend())
