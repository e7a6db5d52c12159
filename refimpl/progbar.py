"""The progress line ``fit`` and ``evaluate`` print, in Keras 3's format.

``verbose=1``: a live bar on a terminal (redrawn at most every 0.1 s), one final line
otherwise; ``verbose=2``: one line per epoch; ``verbose=0``: nothing.  For example::

    938/938 ━━━━━━━━━━━━━━━━━━━━ 9s 10ms/step - accuracy: 0.7513 - loss: 2.1044
    938/938 - 9s - 10ms/step - accuracy: 0.7513 - loss: 2.1044          (verbose=2)
"""

from __future__ import annotations

import sys
import time
from typing import Any

__all__ = ["Progbar", "format_logs", "format_step_time"]


def format_logs(logs: dict[str, Any]) -> str:
    """`` - name: value`` per entry, 4 decimals (scientific below 1e-3), as Keras.

    >>> format_logs({"accuracy": 0.75, "loss": 0.0001234})
    ' - accuracy: 0.7500 - loss: 1.2340e-04'
    """
    parts = []
    for k, v in logs.items():
        parts.append(f" - {k}: {v:.4f}" if abs(v) > 1e-3 else f" - {k}: {v:.4e}")
    return "".join(parts)


def format_step_time(seconds: float) -> str:
    """Time per step in s, ms or us, as Keras.

    >>> format_step_time(0.0123), format_step_time(2.0), format_step_time(5e-5)
    ('12ms/step', '2s/step', '50us/step')
    """
    if seconds >= 1 or seconds == 0:
        return f"{seconds:.0f}s/step"
    if seconds >= 1e-3:
        return f"{seconds * 1e3:.0f}ms/step"
    return f"{seconds * 1e6:.0f}us/step"


class Progbar:
    """Keras-style progress line for ``target`` steps at verbosity ``verbose``."""

    def __init__(self, target: int, verbose: int) -> None:
        self.target = target
        self.verbose = verbose
        self.start = time.perf_counter()
        self.last = 0.0
        self.dynamic = verbose == 1 and hasattr(sys.stdout, "isatty") and sys.stdout.isatty()
        self.width = len(str(target))

    def _line(self, current: int, logs: dict[str, Any], final: bool) -> str:
        now = time.perf_counter() - self.start
        per_step = now / max(current, 1)
        count = f"{current:{self.width}d}/{self.target}"
        if self.verbose == 2:
            return f"{count} - {now:.0f}s - {format_step_time(per_step)}{format_logs(logs)}"
        filled = int(20 * current / max(self.target, 1))
        bar = "━" * filled + " " * (20 - filled) if not final else "━" * 20
        eta = f"{now:.0f}s" if final else f"ETA {per_step * (self.target - current):.0f}s"
        return f"{count} {bar} {eta} {format_step_time(per_step)}{format_logs(logs)}"

    def update(self, current: int, logs: dict[str, Any]) -> None:
        """Redraw the live bar (terminal and ``verbose=1`` only) after step ``current``."""
        if not self.dynamic:
            return
        now = time.perf_counter()
        if now - self.last < 0.1:
            return
        self.last = now
        sys.stdout.write("\r" + self._line(current, logs, False))
        sys.stdout.flush()

    def finish(self, current: int, logs: dict[str, Any]) -> None:
        """Print the final line (unless ``verbose=0``)."""
        if self.verbose == 0:
            return
        prefix = "\r" if self.dynamic else ""
        sys.stdout.write(prefix + self._line(current, logs, True) + "\n")
        sys.stdout.flush()
