"""``toolfeedback plugins``: list loaded plugins with distribution, version and hooks."""

from __future__ import annotations

import json

import attrs

from toolfeedback import hookimpl


class PluginsCommand:
    """Print every loaded plugin (a table, or ``--json``)."""

    name = "plugins"
    help = "list loaded plugins, their distributions, versions and hooks"

    def add_arguments(self, parser):
        parser.add_argument("--json", action="store_true",
                            help="print a JSON list of {name, distribution, version, hooks}")
        parser.add_argument("--catalog", action="store_true",
                            help="also list every registered name per category "
                                 "(rewards, backends, stages, ...)")

    def run(self, args, pm) -> int:
        from toolfeedback.manager import plugin_infos
        from toolfeedback.registry import CATEGORIES, Catalog

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


@hookimpl
def register_commands(register):
    register(PluginsCommand())
