"""A session-wide tiny model for tests (built once, offline, in a few seconds)."""

import pytest

_BUILT: dict[str, str] = {}


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory):
    # Test modules import this fixture, which gives each its own fixture definition;
    # the cache makes them share one build.
    if "path" not in _BUILT:
        from toolfeedback.tiny_model import build_tiny_model

        _BUILT["path"] = str(build_tiny_model(tmp_path_factory.mktemp("tiny") / "model", seed=0))
    return _BUILT["path"]
