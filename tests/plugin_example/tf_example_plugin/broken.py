"""A plugin that fails at import: the host must report it and go on."""

raise ImportError("this example plugin is broken on purpose")
