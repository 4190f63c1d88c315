"""The ``toolfeedback`` command line: a thin shell over the plugin manager.

Verbs come from the ``register_commands`` hook, so plugins add verbs exactly like the
built-in ones do. User errors print ``error: <message>`` and exit 2, no traceback.
"""

from __future__ import annotations

import argparse
import sys

from . import __version__
from .errors import ToolfeedbackError

DESCRIPTION = """\
toolfeedback: build verifiable tool-use environments, roll models out in them,
score them with the tools' own feedback, and train with RL (GRPO, REINFORCE++, DPO).

Every verb below is a plugin (see `toolfeedback plugins`). Plugins can be blocked
with TOOLFEEDBACK_BLOCK_PLUGINS=name,name.
"""


#: Verbs that run tool code: each gets ``--isolation`` (the sandbox's process-wide default).
TOOL_VERBS = ("score", "rollout", "build", "verify", "train", "eval")


def build_parser(pm) -> argparse.ArgumentParser:
    """The argument parser with one sub-command per registered command."""
    from .registry import Catalog

    parser = argparse.ArgumentParser(prog="toolfeedback", description=DESCRIPTION,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"toolfeedback {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    parser.verb_parsers = {}  # name -> its parser, for errors shown with the verb's usage
    for name, command in Catalog(pm).items("commands"):
        sp = sub.add_parser(name, help=command.help, description=command.description
                            or command.help, formatter_class=argparse.RawDescriptionHelpFormatter)
        command.add_arguments(sp)
        if name in TOOL_VERBS:
            sp.add_argument("--isolation", choices=("auto", "strict", "basic"), default="auto",
                            help="tool sandbox: strict (kernel-enforced, one process per episode; "
                                 "refuses to run where the kernel lacks Landlock/seccomp), basic "
                                 "(Python-level checks only, warns) or auto (strict where available; "
                                 "see `toolfeedback doctor`)")
        sp.set_defaults(_command=command)
        parser.verb_parsers[name] = sp
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the console script; returns the exit status."""
    import os

    from .manager import create_plugin_manager

    # transformers' "Loading weights" / "Writing model shards" bars (and huggingface_hub's)
    # would interleave with ours on every model load and save; set it to 0 to see them.
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    args = None
    try:
        pm = create_plugin_manager()
        parser = build_parser(pm)
        args, unknown = parser.parse_known_args(argv)
        if unknown:  # argparse would show the top-level usage; the verb's says more
            where = parser.verb_parsers.get(getattr(args, "command", None), parser)
            where.error(f"unrecognized arguments: {' '.join(unknown)}")
        command = getattr(args, "_command", None)
        if command is None:
            parser.print_help()
            return 0
        if getattr(args, "isolation", None):
            import warnings

            from .runtime.sandbox_limits import IsolationWarning, set_default_isolation

            set_default_isolation(args.isolation)
            plain = warnings.formatwarning  # one line, no source quote, for the sandbox's warning
            warnings.formatwarning = lambda msg, cat, *a, **k: (
                f"warning: {msg}\n" if issubclass(cat, IsolationWarning) else plain(msg, cat, *a, **k))
        return int(command.run(args, pm) or 0)
    except ToolfeedbackError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except ModuleNotFoundError as exc:  # a half-installed setup: name the extra
        from .extras import extra_for

        verb = getattr(args, "command", None)
        missing = extra_for(exc, f"toolfeedback {verb}" if verb else None)
        if missing is None:
            raise
        print(f"error: {missing}", file=sys.stderr)
        return 2
    except RecursionError:  # last resort: readers name the line of a deep record themselves
        print("error: input nested too deeply to process", file=sys.stderr)
        return 2
    except BrokenPipeError:  # `toolfeedback ... | head`
        return 0
    except OSError as exc:
        if exc.filename is None:
            raise
        # a path the user gave: an output inside a file, a directory where a file belongs,
        # an unwritable folder, ...
        where = exc.filename if exc.filename2 is None else f"{exc.filename} -> {exc.filename2}"
        print(f"error: {where}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
