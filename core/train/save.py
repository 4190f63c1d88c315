"""Saving what a trainer produced: full weights, or the LoRA adapter (optionally merged)."""

from __future__ import annotations

from pathlib import Path


def save_trained(trainer, job) -> Path:
    """Save the model (or adapter) and tokenizer into ``job.out``; when the adapter says so
    (lora's ``merge`` option) also a merged full model under ``job.out / "merged"`` that any backend can load.

    Every rank calls ``save_model`` (ZeRO-3 and FSDP gather the weights collectively; the
    Trainer writes on the main process only); the rest is written by the main process.
    """
    out = Path(job.out)
    out.mkdir(parents=True, exist_ok=True)
    trainer.save_model(str(out))
    if trainer.is_world_process_zero():
        tokenizer = trainer.processing_class
        tokenizer.save_pretrained(str(out))
        model = trainer.accelerator.unwrap_model(trainer.model)
        if job.adapter.merge_on_save(job.adapter_options) and hasattr(model, "merge_and_unload"):
            merged = model.merge_and_unload()
            merged.save_pretrained(str(out / "merged"))
            tokenizer.save_pretrained(str(out / "merged"))
    trainer.accelerator.wait_for_everyone()
    return out
