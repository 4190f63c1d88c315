"""Built-in plugins. Each module is registered through its own entry point (group
``toolfeedback``) exactly like a third-party plugin, and can be blocked by name."""
