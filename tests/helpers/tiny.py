"""A session-wide tiny model for tests (built once, offline, in a few seconds)."""

import pytest


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory):
    from toolfeedback.tiny_model import build_tiny_model

    return str(build_tiny_model(tmp_path_factory.mktemp("tiny") / "model", seed=0))
