"""Saving what a trainer produced: full weights, or the LoRA adapter (optionally merged)."""

from __future__ import annotations

from pathlib import Path


def save_trained(trainer, job) -> Path:
    """Save the model (or adapter) and tokenizer into ``job.out``; with ``merge_lora`` also a
    merged full model under ``job.out / "merged"`` that any backend can load."""
    out = Path(job.out)
    out.mkdir(parents=True, exist_ok=True)
    trainer.save_model(str(out))
    tokenizer = trainer.processing_class
    tokenizer.save_pretrained(str(out))
    model = trainer.model
    if job.config.merge_lora and hasattr(model, "merge_and_unload"):
        merged = model.merge_and_unload()
        merged.save_pretrained(str(out / "merged"))
        tokenizer.save_pretrained(str(out / "merged"))
    return out
