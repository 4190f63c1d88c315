"""The demo's evaluations and its report: ``report.md`` with PNG plots (matplotlib).

Plots: the GRPO reward (and SFT loss) per training step; Solve-P/R/F1 per pattern for the
base, SFT and RL models; paired gained / lost counts (per test environment, did Solve-F1
go up or down from one model to the next).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

STAGE_NAMES = {"base": "untrained", "sft": "SFT", "rl": "SFT + GRPO"}
SCORES = ("solve_p", "solve_r", "solve_f1")


def per_env_f1(trajectories: Path) -> dict[str, float]:
    """Each episode's Solve-F1 by ``env_id`` (for paired comparisons)."""
    out = {}
    with open(trajectories, encoding="utf-8") as handle:
        for line in handle:
            if line.strip():
                record = json.loads(line)
                out[record["env_id"]] = record["metrics"]["solve_f1"]
    return out


def evaluate_on(model: Path, envs: Path, out: Path, c, pm) -> dict[str, Any]:
    """Greedy Solve-P/R/F1 of ``model`` on the first ``c.eval_limit`` environments of the test
    split of ``envs`` (as ``iterate`` evaluates), with each episode's Solve-F1 (``per_env``)."""
    from toolfeedback.evaluate.driver import EvalConfig, evaluate
    from toolfeedback.rollout.collect import RolloutConfig, rollout

    out.mkdir(parents=True, exist_ok=True)
    traj = out / "trajectories.jsonl"
    rollout(RolloutConfig(model=str(model), envs=str(envs), split="test", out=str(traj),
                          limit=c.eval_limit, mode=c.mode, max_turns=4, max_new_tokens=c.max_new_tokens, batch_size=64,
                          threads=c.threads, resume=False, progress=False), pm=pm)
    report = evaluate(EvalConfig(evaluator="solve", trajectories=str(traj), data=str(envs),
                                 split="test", out=str(out / "report.json"), quiet=True), pm)
    return {**report, "per_env": per_env_f1(traj)}


def iterate_eval(where: Path) -> dict[str, Any]:
    """The report of one ``iterate`` evaluation folder, with ``per_env``."""
    report = json.loads((where / "report.json").read_text(encoding="utf-8"))
    return {**report, "per_env": per_env_f1(where / "trajectories.jsonl")}


def paired(before: dict[str, float], after: dict[str, float]) -> dict[str, int]:
    """Per environment: how many gained, lost or kept their Solve-F1 from ``before`` to ``after``."""
    counts = {"gained": 0, "lost": 0, "same": 0}
    for key, old in before.items():
        new = after.get(key, 0.0)
        counts["gained" if new > old + 1e-9 else "lost" if new < old - 1e-9 else "same"] += 1
    return counts


def _table(stages: dict[str, dict]) -> list[str]:
    patterns = sorted(next(iter(stages.values()))["by_pattern"])
    lines = ["| model | pattern | Solve-P | Solve-R | Solve-F1 |", "|---|---|---:|---:|---:|"]
    for name, stage in stages.items():
        for pattern in ["overall", *patterns]:
            row = stage["overall"] if pattern == "overall" else stage["by_pattern"].get(pattern, {})
            lines.append(f"| {STAGE_NAMES.get(name, name)} | {pattern} | " + " | ".join(
                f"{100 * row.get(k, 0.0):.2f}" for k in SCORES) + " |")
    return lines


def _plots(out: Path, summary: dict, stages: dict[str, dict], pairs: dict) -> list[str]:
    """Write the PNGs; return their file names (none without matplotlib)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return []
    written = []
    logs = summary.get("train_logs", {})
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.5))
    sft = [(e["step"], e["loss"]) for e in logs.get("sft", []) if "loss" in e]
    if sft:
        axes[0].plot(*zip(*sft), marker=".")
    axes[0].set(title="SFT loss (assistant tokens)", xlabel="optimizer step", ylabel="loss")
    rl = [(e["step"], e["reward"]) for e in logs.get("grpo", []) if "reward" in e]
    if rl:
        axes[1].plot(*zip(*rl), marker=".", alpha=0.5, label="per step")
        window = max(1, len(rl) // 8)
        smooth = [sum(r for _, r in rl[max(0, i - window + 1):i + 1]) / len(rl[max(0, i - window + 1):i + 1])
                  for i in range(len(rl))]
        axes[1].plot([s for s, _ in rl], smooth, label=f"mean of {window}")
        axes[1].legend()
    axes[1].set(title="GRPO reward (Solve-F1 step reward)", xlabel="optimizer step", ylabel="mean reward")
    fig.tight_layout()
    fig.savefig(out / "training.png", dpi=100)
    plt.close(fig)
    written.append("training.png")

    patterns = ["overall", *sorted(next(iter(stages.values()))["by_pattern"])]
    fig, axes = plt.subplots(1, len(SCORES), figsize=(12, 3.5), sharey=True)
    width = 0.8 / len(stages)
    for ax, score in zip(axes, SCORES):
        for i, (name, stage) in enumerate(stages.items()):
            values = [100 * (stage["overall"] if p == "overall" else stage["by_pattern"].get(p, {})).get(score, 0.0)
                      for p in patterns]
            ax.bar([x + i * width for x in range(len(patterns))], values, width,
                   label=STAGE_NAMES.get(name, name))
        ax.set_xticks([x + width * (len(stages) - 1) / 2 for x in range(len(patterns))], patterns,
                      rotation=15, fontsize=8)
        ax.set(title=score.replace("solve_", "Solve-").upper().replace("SOLVE-", "Solve-"))
    axes[0].set_ylabel("percent (test split)")
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out / "solve_by_pattern.png", dpi=100)
    plt.close(fig)
    written.append("solve_by_pattern.png")

    fig, ax = plt.subplots(figsize=(5, 3.5))
    labels = list(pairs)
    for i, key in enumerate(("gained", "same", "lost")):
        ax.bar([x + (i - 1) * 0.27 for x in range(len(labels))], [pairs[k][key] for k in labels], 0.27, label=key)
    ax.set_xticks(range(len(labels)), labels, fontsize=8)
    ax.set(title="paired test environments", ylabel="environments")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out / "paired.png", dpi=100)
    plt.close(fig)
    written.append("paired.png")
    return written


def write_report(out: Path, summary: dict, stages: dict[str, dict]) -> Path:
    """``report.md`` (+ PNGs) from the stages' evaluations; adds ``paired`` to ``summary``."""
    names = list(stages)
    pairs = {f"{STAGE_NAMES[a]} -> {STAGE_NAMES[b]}": paired(stages[a]["per_env"], stages[b]["per_env"])
             for a, b in zip(names, names[1:])}
    summary["paired"] = pairs
    f1 = summary["test_solve_f1"]
    lines = ["# toolfeedback demo", "",
             f"Test-split Solve-F1 (percent): untrained {f1['base']:.2f}, SFT {f1['sft']:.2f}, "
             f"SFT + GRPO {f1['rl']:.2f} (RL gain {f1['rl'] - f1['sft']:+.2f} points).", "",
             "## Solve-P/R/F1 per pattern (test split, greedy)", "", *_table(stages), "",
             "## Paired changes per test environment", "",
             "| from -> to | gained | lost | same |", "|---|---:|---:|---:|",
             *[f"| {k} | {v['gained']} | {v['lost']} | {v['same']} |" for k, v in pairs.items()], ""]
    plots = _plots(out, summary, stages, pairs)
    if plots:
        lines += ["## Plots", "", *[f"![{p}]({p})" for p in plots], ""]
    else:
        lines += ["(install matplotlib for the plots)", ""]
    seconds = summary.get("seconds", {})
    lines += ["## Time (seconds)", "", " | ".join(f"{k} {v:.0f}" for k, v in seconds.items()) +
              f" | total {sum(seconds.values()):.0f}", "",
              "Settings: `" + json.dumps(summary.get("config", {})) + "`", ""]
    from toolfeedback.atomic import write_text

    return write_text(out / "report.md", "\n".join(lines))
