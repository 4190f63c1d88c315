"""``toolfeedback plugins``: list loaded plugins with distribution, version and hooks."""

from __future__ import annotations

import json

import attrs

from toolfeedback import hookimpl
from toolfeedback.contracts import Command


class PluginsCommand(Command):
    """Print every loaded plugin (a table, or ``--json``)."""

    name = "plugins"
    help = "list loaded plugins, their distributions, versions and hooks"

    def add_arguments(self, parser):
        parser.add_argument("--json", action="store_true",
                            help="print a JSON list of {name, distribution, version, hooks}")
        parser.add_argument("--catalog", action="store_true",
                            help="also list every registered name per category "
                                 "(rewards, backends, stages, ...)")
        parser.add_argument("--options", action="store_true",
                            help="list the options each registered object takes (its [<verb>.<role>] "
                                 "table and --<role>-option KEY=VALUE)")

    def run(self, args, pm) -> int:
        from toolfeedback.manager import plugin_infos
        from toolfeedback.registry import CATEGORIES, Catalog

        if args.options:
            return self.print_options(pm, as_json=args.json)
        rows = plugin_infos(pm)
        catalog = {c: Catalog(pm).names(c) for c in CATEGORIES} if args.catalog else None
        if args.json:
            data = [attrs.asdict(r) for r in rows]
            for item in data:
                item["hooks"] = list(item["hooks"])
            print(json.dumps({"plugins": data, "catalog": catalog} if catalog else data, indent=2))
            return 0
        headers = ("plugin", "distribution", "version", "hooks")
        table = [(r.name, r.distribution or "-", r.version or "-", ", ".join(r.hooks)) for r in rows]
        widths = [max(len(h), *(len(t[i]) for t in table)) if table else len(h)
                  for i, h in enumerate(headers[:3])]
        print("  ".join(h.ljust(w) for h, w in zip(headers, widths)) + "  hooks")
        for row in table:
            print("  ".join(c.ljust(w) for c, w in zip(row, widths)) + "  " + row[3])
        for failure in getattr(pm, "load_failures", []):
            print(f"(failed to load: {failure.name} from {failure.distribution}: {failure.error})")
        if catalog:
            print()
            for category, names in catalog.items():
                print(f"{category}: {', '.join(names) or '-'}")
        return 0

    @staticmethod
    def print_options(pm, *, as_json: bool) -> int:
        """Every registered object that declares ``Options``, with each option's type,
        default and help."""
        from toolfeedback.plugin_options import option_help, options_class
        from toolfeedback.registry import CATEGORIES, Catalog

        catalog = Catalog(pm)
        found = {f"{category}:{name}": option_help(impl) for category in CATEGORIES
                 for name, impl in catalog.items(category) if options_class(impl) is not None}
        if as_json:
            print(json.dumps(found, indent=2))
            return 0
        for key, lines in found.items():
            print(key)
            for line in lines:
                print(f"  {line}")
        return 0


@hookimpl
def register_commands(register):
    register(PluginsCommand())
