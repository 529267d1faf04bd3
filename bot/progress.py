"""Progress for `segbot train`: a bar on a terminal, nothing otherwise."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Iterator


@contextlib.contextmanager
def terminal_progress(stream=None) -> Iterator[Callable[[str, float], None]]:
    stream = stream or sys.stderr
    if not stream.isatty():
        yield lambda stage, fraction: None
        return
    from tqdm import tqdm

    bar = tqdm(total=100, file=stream, bar_format="{l_bar}{bar}| {elapsed}", leave=False)

    def update(stage: str, fraction: float) -> None:
        bar.set_description(stage)
        bar.update(max(0, round(fraction * 100) - bar.n))

    try:
        yield update
    finally:
        bar.close()
