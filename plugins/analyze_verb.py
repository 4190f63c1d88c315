"""``toolfeedback analyze``: which layers and modules changed, and the restoration model."""

from __future__ import annotations

import json

from toolfeedback import hookimpl
from toolfeedback.contracts import Command

_EXAMPLES = """\
examples:
  toolfeedback analyze --base ./base --tuned ./ckpt --out analysis/
  toolfeedback analyze --base ./base --tuned ./lora-adapter --out analysis/
  toolfeedback analyze --base ./base --tuned ./ckpt --out analysis/ \\
      --restore layers=0-3,modules=mlp --restored-out ./ckpt-restored
"""


class AnalyzeCommand(Command):
    """Relative parameter change per layer and module; optional restoration model."""

    name = "analyze"
    help = "relative parameter change per layer / module between two checkpoints (+ restoration)"
    description = help + "\n\n" + _EXAMPLES

    def add_arguments(self, parser):
        parser.add_argument("--base", required=True, metavar="DIR", help="base model directory")
        parser.add_argument("--tuned", required=True, metavar="DIR",
                            help="tuned model directory, or a peft LoRA adapter directory (merged first)")
        parser.add_argument("--out", metavar="DIR",
                            help="write changes.json, changes.md (and changes.png with matplotlib) here")
        parser.add_argument("--no-plot", action="store_true", help="do not write the PNG heat map")
        parser.add_argument("--restore", metavar="SPEC",
                            help="also build the tuned model with these tensors set back to base, "
                                 "e.g. layers=0-3,modules=mlp (modules: attn, mlp, norms, "
                                 "embeddings, lm_head, q, k, v, o, gate, up, down)")
        parser.add_argument("--restored-out", metavar="DIR", help="where to save the restored model")
        parser.add_argument("--top", type=int, default=5, help="layers/modules to print (default 5)")

    def run(self, args, pm) -> int:
        from toolfeedback.evaluate.analysis import analyze, restore
        from toolfeedback.errors import ConfigError

        if args.restore and not args.restored_out:
            raise ConfigError("--restore needs --restored-out DIR")
        if args.top < 1:
            raise ConfigError("--top must be at least 1")
        report = analyze(args.base, args.tuned, out_dir=args.out, plot=not args.no_plot)
        summary = {"overall": report["overall"]["relative"],
                   "top_layers": {l: report["by_layer"][l]["relative"]
                                  for l in report["ranking"]["layers"][:args.top]},
                   "top_modules": {m: report["by_module"][m]["relative"]
                                   for m in report["ranking"]["modules"][:args.top]}}
        if args.out:
            summary["written"] = args.out
        if args.restore:
            done = restore(args.base, args.tuned, args.restored_out, spec=args.restore)
            summary["restored"] = {"out": done["out"], "tensors": len(done["restored"])}
        print(json.dumps(summary, indent=2))
        return 0


@hookimpl
def register_commands(register):
    register(AnalyzeCommand())
