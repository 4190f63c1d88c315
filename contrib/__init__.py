"""Plugins with optional, heavier extras (lm-eval, OpenAI-compatible servers, vLLM,
benchmark adapters). Each guards its imports and reports a clear error when its extra is
missing."""
