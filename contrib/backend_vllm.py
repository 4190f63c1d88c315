"""The ``vllm`` backend (GPU): vLLM's offline engine, prompts rendered by the model's chat
template exactly as the ``hf`` backend renders them.

vLLM is imported only when a model is loaded; without it, loading says how to install it.
Options: ``gpu_memory_utilization`` (default 0.85), ``dtype`` (default ``auto``),
``max_model_len``, ``tensor_parallel_size``, ``enforce_eager``.
"""

from __future__ import annotations

from typing import Any, Sequence

from toolfeedback import hookimpl
from toolfeedback.errors import ToolfeedbackError
from toolfeedback.generation import ChatRequest, Completion, SamplingParams


class VLLMGenerator:
    """A vLLM ``LLM`` behind the Generator contract."""

    def __init__(self, model: str, **options: Any):
        from toolfeedback.plugins.backend_hf import END_OF_TURN, check_model_dir

        check_model_dir(model)
        try:
            import vllm
        except ImportError:
            raise ToolfeedbackError("the vllm backend needs vLLM (pip install vllm; CUDA GPU only)") from None
        self._vllm = vllm
        self.model_name = model
        options.setdefault("gpu_memory_utilization", 0.85)
        options.setdefault("dtype", "auto")
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


class VLLMBackend:
    """``vllm``: see the module doc for options."""

    name = "vllm"

    def load(self, model: str, **options: Any) -> VLLMGenerator:
        return VLLMGenerator(model, **options)


@hookimpl
def register_backends(register):
    register(VLLMBackend())
