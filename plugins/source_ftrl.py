"""Sources of ready environments: ``ftrl`` (the release's JSONL format) and ``toolhop``.

Both yield :class:`~toolfeedback.types.Environment` objects, which skip the construction
stages and go straight to verification, so ``toolfeedback build --source ftrl`` filters
a released file down to the records that pass. ToolHop rows (either layout of
``functions``) go through :func:`toolfeedback.toolhop.to_environment`, the converter the
``toolhop`` benchmark uses too.
"""

from __future__ import annotations

from typing import Iterator

from toolfeedback import hookimpl
from toolfeedback.errors import ConfigError
from toolfeedback.types import Environment
from toolfeedback.contracts import Source


def _need_input(config) -> str:
    if not config.input:
        raise ConfigError(f"--source {config.source} needs --input FILE")
    return config.input


class FtrlSource(Source):
    """Environments read from a JSONL file in the FTRL release format (``--input``)."""

    name = "ftrl"
    default_stages = "procedural"

    def scenarios(self, config, ctx) -> Iterator[Environment]:
        """Yield each record as an environment; a bad record stops with file:line:field."""
        from toolfeedback.ftrl import read_environments

        for _, env in read_environments(_need_input(config)):
            yield env


class ToolhopSource(Source):
    """ToolHop rows (``--input``, e.g. ``../shared/data/toolhop/*.jsonl``) as environments."""

    name = "toolhop"
    default_stages = "procedural"

    def scenarios(self, config, ctx) -> Iterator[Environment]:
        """Yield each converted row; a bad row stops with file:line:field."""
        from toolfeedback.jsonl import JsonlReader
        from toolfeedback.toolhop import to_environment

        for _, env in JsonlReader(_need_input(config), to_environment):
            yield env


@hookimpl
def register_sources(register):
    register(FtrlSource())
    register(ToolhopSource())

