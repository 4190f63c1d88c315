"""One progress-bar rule for every verb: a tqdm bar on stderr, shown only on a terminal."""

from __future__ import annotations

import sys


def progress_bar(total: int | None, desc: str, *, quiet: bool = False, unit: str = "it"):
    """A tqdm bar on stderr; disabled with ``quiet`` or when stderr is not a terminal."""
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, unit=unit, file=sys.stderr,
                disable=quiet or not sys.stderr.isatty())
