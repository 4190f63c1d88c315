"""The pluggy markers of the ``toolfeedback`` project (re-exported at the package top)."""

import pluggy

PROJECT = "toolfeedback"

hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)
