"""Which layers and modules did training change? (the paper's parameter-change analysis)

For every tensor present in both checkpoints: the relative change
``||W_tuned - W_base||_F / ||W_base||_F``. Aggregates pool the tensors of a group
(``sqrt(sum ||dW||^2) / sqrt(sum ||W||^2)``) by layer, by module type (q, k, v, o, gate,
up, down, norms, embeddings, lm_head) and by layer x module. Checkpoints are read lazily
from safetensors, one tensor at a time; a peft LoRA adapter directory is first merged
into the base (peft's ``merge_and_unload``). :func:`restore` builds the restoration
experiment's model: the tuned model with chosen layers / modules set back to base.

Example::

    from toolfeedback.evaluate.analysis import analyze, restore
    report = analyze("base/", "tuned/", out_dir="analysis/")
    report["ranking"]["layers"][:3]          # most-changed layers first
    restore("base/", "tuned/", "restored/", spec="layers=0-3,modules=mlp")
"""

from __future__ import annotations

import json
import math
import re
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

from ..errors import ConfigError, InputError

MODULE_TYPES = ("q", "k", "v", "o", "gate", "up", "down", "norms", "embeddings", "lm_head", "other")
GROUPS = {"attn": ("q", "k", "v", "o"), "mlp": ("gate", "up", "down"), "norms": ("norms",),
          "embeddings": ("embeddings",), "lm_head": ("lm_head",)}
_SUFFIX = {"q_proj": "q", "k_proj": "k", "v_proj": "v", "o_proj": "o", "gate_proj": "gate",
           "up_proj": "up", "down_proj": "down", "c_attn": "q", "c_proj": "o", "c_fc": "up"}
_LAYER_RE = re.compile(r"(?:^|\.)(?:layers|h|blocks|layer)\.(\d+)\.")


def classify(name: str) -> tuple[int | None, str]:
    """``(layer index or None, module type)`` of a parameter name (Llama/Qwen/GPT-2 style)."""
    match = _LAYER_RE.search(name)
    layer = int(match.group(1)) if match else None
    parts = name.split(".")
    for part in reversed(parts):
        if part in _SUFFIX:
            return layer, _SUFFIX[part]
    if "norm" in name or re.search(r"(?:^|\.)ln_", name):
        return layer, "norms"
    if "embed" in name or parts[-2:-1] in (["wte"], ["wpe"]):
        return layer, "embeddings"
    if "lm_head" in name:
        return layer, "lm_head"
    return layer, "other"


# --------------------------------------------------------------------------- loading


class Checkpoint:
    """Lazy ``name -> tensor`` access to a model directory's weights (safetensors preferred)."""

    def __init__(self, model_dir: str | Path):
        self.dir = Path(model_dir)
        if not self.dir.is_dir():
            raise InputError("not a model directory", path=str(self.dir))
        self._files: dict[str, Path] = {}
        self._handles: dict[Path, Any] = {}
        self._torch_state: dict[str, Any] | None = None
        index = self.dir / "model.safetensors.index.json"
        if index.exists():
            try:
                weight_map = json.loads(index.read_text(encoding="utf-8"))["weight_map"]
                self._files = {k: self.dir / v for k, v in weight_map.items()}
            except (ValueError, KeyError, TypeError, AttributeError, RecursionError):
                raise InputError("$.weight_map: not a safetensors index (an object of "
                                 "tensor name -> file)", path=str(index)) from None
        elif (self.dir / "model.safetensors").exists():
            from safetensors import safe_open

            path = self.dir / "model.safetensors"
            with safe_open(str(path), framework="pt") as handle:
                self._files = {k: path for k in handle.keys()}
        elif (self.dir / "pytorch_model.bin").exists():
            import torch

            self._torch_state = torch.load(self.dir / "pytorch_model.bin", map_location="cpu",
                                           mmap=True, weights_only=True)
        else:
            raise InputError("no model.safetensors(.index.json) or pytorch_model.bin", path=str(self.dir))

    def keys(self) -> list[str]:
        """Parameter names, in file order."""
        return list(self._torch_state) if self._torch_state is not None else list(self._files)

    def __contains__(self, name: str) -> bool:
        return name in (self._torch_state if self._torch_state is not None else self._files)

    def get(self, name: str):
        """One tensor (loaded now, nothing else)."""
        if self._torch_state is not None:
            return self._torch_state[name]
        from safetensors import safe_open

        path = self._files[name]
        if path not in self._handles:
            self._handles[path] = safe_open(str(path), framework="pt")
        return self._handles[path].get_tensor(name)


def is_adapter(model_dir: str | Path) -> bool:
    """True for a peft adapter directory (``adapter_config.json``)."""
    return (Path(model_dir) / "adapter_config.json").exists()


def merge_adapter(base_dir: str | Path, adapter_dir: str | Path, out_dir: str | Path) -> Path:
    """Merge a peft adapter into the base weights and save a full checkpoint in ``out_dir``.
    A base that is not a model directory, or not the adapter's base (other shapes or
    module names), is an :class:`InputError` naming it."""
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    if not (Path(base_dir) / "config.json").is_file():
        raise InputError("--base: not a model directory (no config.json); a LoRA adapter as "
                         "--tuned needs its base model as --base", path=str(base_dir))
    try:
        base = AutoModelForCausalLM.from_pretrained(str(base_dir), local_files_only=True)
    except (OSError, ValueError) as exc:
        raise InputError(f"--base: cannot load the model ({_first_line(exc)})",
                         path=str(base_dir)) from None
    try:
        merged = PeftModel.from_pretrained(base, str(adapter_dir), local_files_only=True).merge_and_unload()
    except (OSError, ValueError, RuntimeError, KeyError, AttributeError) as exc:
        raise InputError(f"--tuned: this LoRA adapter does not fit --base {str(base_dir)!r} "
                         f"(is it the adapter's base model?): {_first_line(exc)}",
                         path=str(adapter_dir)) from None
    merged.save_pretrained(str(out_dir))
    return Path(out_dir)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:200] if text else type(exc).__name__


@contextmanager
def tuned_checkpoint(base_dir, tuned_dir) -> Iterator[Path]:
    """The tuned model as a full checkpoint directory (merging a LoRA adapter into a temp dir)."""
    if not is_adapter(tuned_dir):
        yield Path(tuned_dir)
        return
    tmp = Path(tempfile.mkdtemp(prefix="tf-merged-"))
    try:
        yield merge_adapter(base_dir, tuned_dir, tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


# --------------------------------------------------------------------------- analysis


def tensor_changes(base_dir, tuned_dir) -> list[dict[str, Any]]:
    """Per tensor: name, layer, module, numel, squared norms of base and delta, relative change."""
    import torch

    with tuned_checkpoint(base_dir, tuned_dir) as tuned_path:
        base, tuned = Checkpoint(base_dir), Checkpoint(tuned_path)
        rows = []
        for name in base.keys():
            if name not in tuned:
                continue
            w0 = base.get(name).to(torch.float32)
            w1 = tuned.get(name).to(torch.float32)
            if w0.shape != w1.shape:
                raise InputError(f"tensor {name!r}: shape {tuple(w0.shape)} vs {tuple(w1.shape)}",
                                 path=str(tuned_dir))
            base_sq = float(w0.pow(2).sum())
            delta_sq = float((w1 - w0).pow(2).sum())
            layer, module = classify(name)
            rows.append({"name": name, "layer": layer, "module": module, "numel": w0.numel(),
                         "base_sq": base_sq, "delta_sq": delta_sq,
                         "relative": math.sqrt(delta_sq / base_sq) if base_sq else (0.0 if not delta_sq else math.inf)})
    if not rows:
        raise InputError("no tensor names in common with the base model", path=str(tuned_dir))
    return rows


def _pool(rows: list[dict]) -> dict[str, float]:
    base = sum(r["base_sq"] for r in rows)
    delta = sum(r["delta_sq"] for r in rows)
    return {"relative": math.sqrt(delta / base) if base else 0.0, "delta_norm": math.sqrt(delta),
            "base_norm": math.sqrt(base), "tensors": len(rows)}


def analyze(base_dir, tuned_dir, *, out_dir=None, plot: bool = True) -> dict[str, Any]:
    """Relative parameter change of ``tuned_dir`` against ``base_dir`` (see the module doc).

    Returns ``{"tensors", "by_layer", "by_module", "by_layer_module", "ranking"}``; with
    ``out_dir`` also writes ``changes.json``, ``changes.md`` and, when matplotlib is
    installed and ``plot``, ``changes.png`` (layer x module heat map).
    """
    if out_dir is not None:  # before the (long) comparison, not after it
        from ..atomic import check_output_dir

        check_output_dir(out_dir)
    rows = tensor_changes(base_dir, tuned_dir)
    layers = sorted({r["layer"] for r in rows if r["layer"] is not None})
    by_layer = {str(l): _pool([r for r in rows if r["layer"] == l]) for l in layers}
    modules = [m for m in MODULE_TYPES if any(r["module"] == m for r in rows)]
    by_module = {m: _pool([r for r in rows if r["module"] == m]) for m in modules}
    grid = {str(l): {m: _pool(sel)["relative"] for m in modules
                     if (sel := [r for r in rows if r["layer"] == l and r["module"] == m])}
            for l in layers}
    ranking = {
        "layers": sorted(by_layer, key=lambda k: -by_layer[k]["relative"]),
        "modules": sorted(by_module, key=lambda k: -by_module[k]["relative"]),
        "tensors": [r["name"] for r in sorted(rows, key=lambda r: -r["relative"])],
    }
    report = {"base": str(base_dir), "tuned": str(tuned_dir), "adapter": is_adapter(tuned_dir),
              "overall": _pool(rows), "by_layer": by_layer, "by_module": by_module,
              "by_layer_module": grid, "ranking": ranking,
              "tensors": [{k: r[k] for k in ("name", "layer", "module", "numel", "relative")} for r in rows]}
    if out_dir is not None:
        write_report(report, out_dir, plot=plot)
    return report


def markdown(report: dict[str, Any]) -> str:
    """The report as Markdown: layer x module table, then per module and ranking."""
    grid = report["by_layer_module"]
    modules = list(report["by_module"])
    lines = ["# Relative parameter change ||W_tuned - W_base|| / ||W_base||", "",
             f"base: `{report['base']}`  tuned: `{report['tuned']}`  "
             f"overall: {report['overall']['relative']:.3e}", "",
             "| layer | all | " + " | ".join(modules) + " |",
             "|---|---|" + "---|" * len(modules)]
    for layer, cells in grid.items():
        row = [f"{report['by_layer'][layer]['relative']:.3e}"]
        row += [f"{cells[m]:.3e}" if m in cells else "-" for m in modules]
        lines.append(f"| {layer} | " + " | ".join(row) + " |")
    lines += ["", "| module | relative change | tensors |", "|---|---|---|"]
    lines += [f"| {m} | {v['relative']:.3e} | {v['tensors']} |" for m, v in report["by_module"].items()]
    lines += ["", "Most changed layers: " + ", ".join(report["ranking"]["layers"][:5]),
              "Most changed modules: " + ", ".join(report["ranking"]["modules"][:5]), ""]
    return "\n".join(lines)


def write_report(report: dict[str, Any], out_dir, *, plot: bool = True) -> list[Path]:
    """Write ``changes.json``, ``changes.md`` (and ``changes.png`` if matplotlib is installed)."""
    from ..atomic import atomic_dir

    out = Path(out_dir)
    names = ["changes.json", "changes.md"]
    with atomic_dir(out) as staging:
        (staging / names[0]).write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
        (staging / names[1]).write_text(markdown(report), encoding="utf-8")
        if plot and _plot(report, staging / "changes.png"):
            names.append("changes.png")
    return [out / name for name in names]


def _plot(report: dict[str, Any], path: Path) -> Path | None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:  # optional: the JSON and Markdown carry the same numbers
        import sys

        print("analyze: changes.png not written: the heat map needs matplotlib "
              "(pip install 'toolfeedback[train]'); changes.json and changes.md have the numbers",
              file=sys.stderr)
        return None
    modules = list(report["by_module"])
    layers = list(report["by_layer_module"])
    data = [[report["by_layer_module"][l].get(m, float("nan")) for m in modules] for l in layers]
    fig, ax = plt.subplots(figsize=(1 + 0.8 * len(modules), 1 + 0.3 * len(layers)))
    image = ax.imshow(data, aspect="auto", cmap="viridis")
    ax.set_xticks(range(len(modules)), modules)
    ax.set_yticks(range(len(layers)), layers)
    ax.set_xlabel("module")
    ax.set_ylabel("layer")
    fig.colorbar(image, label="relative change")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


# --------------------------------------------------------------------------- restoration


def parse_spec(spec: str) -> dict[str, set]:
    """``"layers=0-3,5,modules=mlp,q"`` -> ``{"layers": {0,1,2,3,5}, "modules": {...types}}``.

    A value without ``=`` continues the previous key. Module names may be groups
    (``attn``, ``mlp``, ``norms``, ``embeddings``, ``lm_head``) or types (``q`` ... ``down``).
    """
    out: dict[str, set] = {}
    key = None
    for token in (t.strip() for t in spec.split(",")):
        if not token:
            continue
        if "=" in token:
            key, _, token = token.partition("=")
            key = key.strip()
            if key not in ("layers", "modules"):
                raise ConfigError(f"restore spec: unknown key {key!r} (use layers=..., modules=...)")
            out.setdefault(key, set())
        if key is None:
            raise ConfigError(f"restore spec: {token!r} has no key (use layers=..., modules=...)")
        if key == "layers":
            lo, sep, hi = token.partition("-")
            try:
                out[key].update(range(int(lo), int(hi) + 1) if sep else {int(lo)})
            except ValueError:
                raise ConfigError(f"restore spec: bad layer range {token!r}") from None
        else:
            if token in GROUPS:
                out[key].update(GROUPS[token])
            elif token in MODULE_TYPES:
                out[key].add(token)
            else:
                raise ConfigError(f"restore spec: unknown module {token!r} (known: "
                                  f"{', '.join([*GROUPS, *MODULE_TYPES[:7]])})")
    if not out:
        raise ConfigError("restore spec: empty (use layers=..., modules=...)")
    return out


def selected(name: str, spec: dict[str, set]) -> bool:
    """True when parameter ``name`` falls in the spec (all given keys must match)."""
    layer, module = classify(name)
    if "layers" in spec and layer not in spec["layers"]:
        return False
    if "modules" in spec and module not in spec["modules"]:
        return False
    return True


def restore(base_dir, tuned_dir, out_dir, *, spec: str | dict) -> dict[str, Any]:
    """Save the tuned model with the ``spec``-selected tensors set back to the base weights.

    Works for full checkpoints and LoRA adapters (merged first). Tokenizer files of the
    tuned (or base) directory are copied along, so ``out_dir`` loads like any model.
    Returns ``{"out", "restored": [names], "kept": count}``.
    """
    from safetensors.torch import save_file

    from ..atomic import atomic_dir

    chosen = parse_spec(spec) if isinstance(spec, str) else spec
    target = Path(out_dir)
    with atomic_dir(target) as out, tuned_checkpoint(base_dir, tuned_dir) as tuned_path:
        base, tuned = Checkpoint(base_dir), Checkpoint(tuned_path)
        state, restored = {}, []
        for name in tuned.keys():
            if selected(name, chosen) and name in base:
                state[name] = base.get(name).contiguous()
                restored.append(name)
            else:
                state[name] = tuned.get(name).contiguous()
        _dedupe_shared(state)
        save_file(state, str(out / "model.safetensors"), metadata={"format": "pt"})
        for src in (Path(tuned_path), Path(tuned_dir), Path(base_dir)):
            for f in src.glob("*.json"):
                if f.name.startswith(("model.safetensors", "adapter_")) or (out / f.name).exists():
                    continue
                shutil.copy(f, out / f.name)
            for f in list(src.glob("*.jinja")) + list(src.glob("*.txt")) + list(src.glob("*.model")):
                if not (out / f.name).exists():
                    shutil.copy(f, out / f.name)
        if not restored:  # raised inside: nothing is moved into out_dir
            raise ConfigError(f"restore spec {spec!r} selects no tensor")
    return {"out": str(target), "restored": restored, "kept": len(state) - len(restored)}


def _dedupe_shared(state: dict) -> None:
    # safetensors refuses tensors sharing memory (tied embeddings): clone the duplicates
    seen: dict[int, str] = {}
    for name, tensor in state.items():
        ptr = tensor.data_ptr()
        if ptr in seen:
            state[name] = tensor.clone()
        else:
            seen[ptr] = name
