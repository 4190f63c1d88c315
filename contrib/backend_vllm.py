"""The ``vllm`` backend (GPU): vLLM's offline engine, prompts rendered by the model's chat
template exactly as the ``hf`` backend renders them.

vLLM is imported only when a model is loaded; without it, loading says how to install it.
Options: ``gpu_memory_utilization`` (default 0.85), ``dtype`` (default ``auto``),
``max_model_len``, ``tensor_parallel_size``, ``enforce_eager``.
"""

from __future__ import annotations

from typing import Any, Sequence

from attrs import field, frozen

from toolfeedback import hookimpl
from toolfeedback.checks import at_least, in_range
from toolfeedback.errors import ToolfeedbackError
from toolfeedback.generation import END_OF_TURN, ChatRequest, Completion, SamplingParams, check_model_dir
from toolfeedback.contracts import Backend


class VLLMGenerator:
    """A vLLM ``LLM`` behind the Generator contract."""

    def __init__(self, model: str, **options: Any):
        check_model_dir(model)
        try:
            import vllm
        except ImportError:
            raise ToolfeedbackError("the vllm backend needs vLLM (pip install vllm; CUDA GPU only)") from None
        self._vllm = vllm
        self.model_name = model
        options = {k: v for k, v in options.items() if v is not None}  # vLLM's own defaults
        self.llm = vllm.LLM(model=model, **options)
        self.tokenizer = self.llm.get_tokenizer()
        vocab = self.tokenizer.get_vocab()
        self.stop_ids = sorted({vocab[t] for t in END_OF_TURN if t in vocab}
                               | ({self.tokenizer.eos_token_id} if self.tokenizer.eos_token_id is not None else set()))

    def generate(self, requests: Sequence[ChatRequest], params: SamplingParams
                 ) -> list[list[Completion]]:
        """All requests in one vLLM call (continuous batching inside)."""
        prompts = [self.tokenizer.apply_chat_template(
            list(r.messages), tools=list(r.tools) or None, tokenize=False, add_generation_prompt=True,
            **r.template_kwargs) for r in requests]
        sp = self._vllm.SamplingParams(n=params.n, temperature=params.temperature, top_p=params.top_p,
                                       max_tokens=params.max_new_tokens, seed=params.seed,
                                       stop=list(params.stop) or None, stop_token_ids=self.stop_ids,
                                       skip_special_tokens=True)
        outputs = self.llm.generate(prompts, sp, use_tqdm=False)
        return [[Completion(text=o.text, prompt_tokens=len(out.prompt_token_ids or ()),
                            completion_tokens=len(o.token_ids),
                            finish_reason="length" if o.finish_reason == "length" else "stop")
                 for o in out.outputs] for out in outputs]

    def close(self) -> None:
        """Drop the engine."""
        self.llm = None


@frozen
class VLLMOptions:
    """Options of the ``vllm`` backend, passed to ``vllm.LLM`` (unset ones keep vLLM's defaults)."""

    gpu_memory_utilization: float = field(default=0.85, validator=in_range(0, 1, low_open=True),
                                          metadata={"help": "share of GPU memory vLLM may take"})
    dtype: str = field(default="auto", metadata={"help": "weights dtype (auto, bfloat16, float16)"})
    max_model_len: int | None = field(default=None, validator=at_least(1), metadata={
        "help": "context length (default: the model's)"})
    tensor_parallel_size: int | None = field(default=None, validator=at_least(1), metadata={
        "help": "GPUs per model"})
    enforce_eager: bool | None = field(default=None, metadata={"help": "no CUDA graphs"})


class VLLMBackend(Backend):
    """``vllm``: see the module doc for options."""

    name = "vllm"
    Options = VLLMOptions

    def load(self, model: str, **options: Any) -> VLLMGenerator:
        """A :class:`VLLMGenerator` for the local model directory ``model``."""
        return VLLMGenerator(model, **options)


@hookimpl
def register_backends(register):
    register(VLLMBackend())
