"""Shared fixtures. Everything is offline and on the CPU."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).resolve().parent / "fixtures"
SHARED_DATA = REPO.parent / "shared" / "data"


@pytest.fixture(autouse=True)
def _clean_plugin_env(monkeypatch):
    # A developer's shell setting must not change what the tests see.
    monkeypatch.delenv("TOOLFEEDBACK_BLOCK_PLUGINS", raising=False)


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory) -> str:
    """The tiny Qwen3-architecture model, built once per session (offline, a few seconds)."""
    from toolfeedback.tiny_model import build_tiny_model

    return str(build_tiny_model(tmp_path_factory.mktemp("tiny") / "model", seed=0, size="tiny"))


@pytest.fixture
def repo_root() -> Path:
    return REPO


@pytest.fixture
def fixtures_dir() -> Path:
    return FIXTURES


@pytest.fixture
def shared_data() -> Path:
    """``../shared/data`` beside the checkout; tests using it skip cleanly when it is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip("../shared/data is not present beside this checkout")
    return SHARED_DATA


def run_cli(*args: str, env: dict | None = None, cwd: str | None = None, timeout: float = 120):
    """Run the installed ``toolfeedback`` console entry in a subprocess."""
    import subprocess

    full_env = {**os.environ, **(env or {})}
    full_env.pop("TOOLFEEDBACK_BLOCK_PLUGINS", None) if env is None or \
        "TOOLFEEDBACK_BLOCK_PLUGINS" not in env else None
    return subprocess.run([sys.executable, "-m", "toolfeedback.cli", *args], capture_output=True,
                          text=True, env=full_env, cwd=cwd, timeout=timeout)


@pytest.fixture
def cli():
    """``cli(*args, env=None)`` -> CompletedProcess of ``toolfeedback`` in a subprocess."""
    return run_cli
