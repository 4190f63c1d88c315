"""Saving what a trainer produced: full weights, or the LoRA adapter (optionally merged)."""

from __future__ import annotations

from pathlib import Path


def save_trained(trainer, job) -> Path:
    """Save the model (or adapter) and tokenizer into ``job.out``; when the adapter says so
    (lora's ``merge`` option) also a merged full model under ``job.out / "merged"`` that any backend can load.

    Every rank calls ``save_model`` (ZeRO-3 and FSDP gather the weights collectively; the
    Trainer writes on the main process only); the rest is written by the main process.
    Files go to a staging directory beside ``job.out`` and are moved in only when all are
    written: a failed or killed save never leaves half a checkpoint over a previous one.
    """
    from ..atomic import atomic_dir

    out = Path(job.out)
    with atomic_dir(out) as staging:  # per process; only the main one's receives files
        trainer.save_model(str(staging))
        if trainer.is_world_process_zero():
            tokenizer = trainer.processing_class
            tokenizer.save_pretrained(str(staging))
            model = trainer.accelerator.unwrap_model(trainer.model)
            if job.adapter.merge_on_save(job.adapter_options) and hasattr(model, "merge_and_unload"):
                merged = model.merge_and_unload()
                merged.save_pretrained(str(staging / "merged"))
                tokenizer.save_pretrained(str(staging / "merged"))
        trainer.accelerator.wait_for_everyone()
    trainer.accelerator.wait_for_everyone()  # the main process has moved the files in
    return out
