"""`import toolfeedback` and loading every plugin must not pull in the heavy stack."""

import json
import subprocess
import sys

HEAVY = ["torch", "transformers", "trl", "peft", "lm_eval", "datasets", "accelerate"]

PROBE = """
import json, sys
import toolfeedback
from toolfeedback.registry import CATEGORIES, Catalog
pm = toolfeedback.create_plugin_manager()
catalog = Catalog(pm)
for category in CATEGORIES:
    catalog.names(category)
import toolfeedback.cli
toolfeedback.cli.build_parser(pm)
print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in %r)))
""" % (HEAVY,)


def test_import_and_plugin_loading_stay_light():
    proc = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout.strip().splitlines()[-1]) == []


def test_public_api_names():
    import toolfeedback
    import toolfeedback.api as api

    assert callable(toolfeedback.hookimpl) and callable(toolfeedback.create_plugin_manager)
    assert "score" in dir(api) and "build" in dir(api) and "rollout" in dir(api)
    assert api.list_plugins()[0].name
