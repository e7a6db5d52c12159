"""Figures for the lesson: a learning rate per step, and validation metrics per epoch.

matplotlib is imported inside the functions only (``import refimpl.plotting`` stays
cheap and works without it) and drives the Agg canvas directly: no pyplot, no global
backend switch, no window.  Every function returns the image as bytes (PNG by default,
SVG or PDF on request); :func:`save` writes them atomically.

Conventions a reader can rely on in every figure:

* x is the optimizer step: step 0 is the first update, one step per batch;
* epoch boundaries are dotted vertical lines, each epoch labelled along the top;
* the rate axis starts at 0 (so the size of a change is honest) unless the rates span
  more than a factor of 10, when it is logarithmic (and says so);
* the reference (NumPy) run is a solid line, Keras's a dashed one.
"""

from __future__ import annotations

import io
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from refimpl._atomic import atomic_write_bytes

__all__ = [
    "BACKEND_STYLES",
    "EpochSeries",
    "RateSeries",
    "color_for",
    "marker_for",
    "matplotlib_available",
    "needs_log_scale",
    "plain_number",
    "rate_figure",
    "save",
    "validation_figure",
]

#: Line style per backend: (label, line style, marker, line width).
BACKEND_STYLES: dict[str, tuple[str, str, str, float]] = {
    "numpy": ("refimpl (NumPy)", "-", "o", 2.2),
    "keras": ("Keras 3 (TensorFlow)", "--", "s", 1.4),
}

_PALETTE = (
    "#1f77b4",
    "#ff7f0e",
    "#2ca02c",
    "#d62728",
    "#9467bd",
    "#8c564b",
    "#e377c2",
    "#7f7f7f",
    "#bcbd22",
    "#17becf",
)
_DPI = 110
_MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*", "h", "<")


def plain_number(value: float) -> str:
    """A tick label without scientific notation: ``0.00005``, ``0.003``, ``10000``.

    >>> plain_number(5e-05), plain_number(0.003), plain_number(1e4), plain_number(2.5)
    ('0.00005', '0.003', '10000', '2.5')
    >>> plain_number(1e300), plain_number(5e-324), plain_number(float("inf"))
    ('1e+300', '4.94066e-324', 'inf')
    """
    if value == 0:
        return "0"
    if not math.isfinite(value) or not 1e-7 <= abs(value) < 1e7:
        return f"{value:g}"  # inf, nan; 1e+300 rather than 301 digits
    digits = max(0, -math.floor(math.log10(abs(value))) + 3)
    text = f"{value:.{digits}f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def marker_for(index: int) -> str:
    """A marker shape per configuration, the same in every figure.

    >>> marker_for(0), marker_for(1)
    ('o', 's')
    """
    return _MARKERS[index % len(_MARKERS)]


@dataclass(frozen=True)
class RateSeries:
    """One line of a rate figure: the rate at each of ``steps``."""

    label: str
    steps: np.ndarray
    rates: np.ndarray
    backend: str = "numpy"
    color: str = _PALETTE[0]


@dataclass(frozen=True)
class EpochSeries:
    """One run's validation metrics, one value per finished epoch (epoch 1 first)."""

    label: str
    val_accuracy: Sequence[float]
    val_loss: Sequence[float]
    backend: str = "numpy"
    color: str = _PALETTE[0]
    marker: str = "o"


def color_for(index: int) -> str:
    """A colour per configuration, the same in every figure.

    >>> color_for(0), color_for(10) == color_for(0)
    ('#1f77b4', True)
    """
    return _PALETTE[index % len(_PALETTE)]


def matplotlib_available() -> bool:
    """Whether matplotlib can be imported (``pip install 'lr-refimpl[plot]'``)."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return False
    return True


def needs_log_scale(values: Any) -> bool:
    """True when the positive finite ``values`` span more than a factor of 10.

    >>> needs_log_scale([0.003, 0.0001]), needs_log_scale([0.003, 0.001]), needs_log_scale([0, 1])
    (True, False, False)
    """
    arr = np.asarray(values, dtype=np.float64)
    arr = arr[np.isfinite(arr)]
    if arr.size == 0 or np.any(arr <= 0):
        return False
    return bool(arr.max() / arr.min() > 10)


def _figure(width: float, height: float) -> Any:
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError as exc:
        raise ImportError(
            "plots need matplotlib: pip install 'lr-refimpl[plot]' (or matplotlib)"
        ) from exc
    fig = Figure(figsize=(width, height), dpi=_DPI, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _bytes(fig: Any, fmt: str) -> bytes:
    buf = io.BytesIO()
    metadata = {"Software": None} if fmt == "png" else None  # reproducible bytes
    fig.savefig(buf, format=fmt, metadata=metadata)
    return buf.getvalue()


def _mark_epochs(ax: Any, steps_per_epoch: int, first: int, last: int) -> None:
    """Dotted lines between epochs and an "epoch k" label over each (at most ~12 labels)."""
    from matplotlib.transforms import blended_transform_factory

    trans = blended_transform_factory(ax.transData, ax.transAxes)
    e_first, e_last = first // steps_per_epoch, last // steps_per_epoch
    every = max(1, math.ceil((e_last - e_first + 1) / 12))
    for e in range(e_first, e_last + 1):
        start = e * steps_per_epoch
        if start > first:
            ax.axvline(start, color="0.45", lw=0.9, ls=":", zorder=1)
        if (e - e_first) % every == 0:
            centre = (max(start, first) + min(start + steps_per_epoch - 1, last)) / 2
            ax.text(
                centre,
                0.985,
                f"epoch {e + 1}",
                transform=trans,
                ha="center",
                va="top",
                fontsize=8.5,
                color="0.3",
            )


def _plain_log_axis(axis: Any) -> None:
    """Log ticks at 1, 2 and 5 times each power of ten, labelled as plain numbers."""
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    axis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    axis.set_minor_locator(LogLocator(base=10, subs=tuple(range(1, 10))))
    axis.set_major_formatter(FuncFormatter(lambda v, _: plain_number(v)))
    axis.set_minor_formatter(NullFormatter())


def _within_float64(wanted: float, fallback: float) -> float:
    """``wanted`` where it is a finite, nonzero number, else ``fallback`` (an axis
    limit beyond float64's range or rounded to 0 would be refused)."""
    return wanted if math.isfinite(wanted) and wanted != 0 else fallback


def _style_rate_axis(ax: Any, values: np.ndarray, log: bool | None) -> bool:
    from matplotlib.ticker import FuncFormatter

    use_log = needs_log_scale(values) if log is None else log
    finite = values[np.isfinite(values)]
    if use_log and finite.size and np.all(finite > 0):
        ax.set_yscale("log")
        lo, hi = float(finite.min()), float(finite.max())
        # headroom for the epoch labels, as far as float64 reaches
        ax.set_ylim(_within_float64(lo / 1.6, lo), _within_float64(hi * 2.2, hi))
        _plain_log_axis(ax.yaxis)
        ax.set_ylabel("learning rate (log scale)")
        return True
    top = float(finite.max()) if finite.size else 1.0
    ax.set_ylim(0, _within_float64(top * 1.15, top) if top > 0 else 1.0)
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: plain_number(v)))
    ax.set_ylabel("learning rate")
    return False


def _integer_axis(axis: Any) -> None:
    from matplotlib.ticker import FuncFormatter, MaxNLocator

    axis.set_major_locator(MaxNLocator(integer=True))
    axis.set_major_formatter(FuncFormatter(lambda v, _: f"{round(v):,}"))


def rate_figure(
    series: Sequence[RateSeries],
    *,
    title: str,
    subtitle: str | None = None,
    steps_per_epoch: int | None = None,
    xlabel: str = "optimizer step (one update per batch; step 0 is the first)",
    log: bool | None = None,
    note: str | None = None,
    fmt: str = "png",
) -> bytes:
    """The learning rate per step: one line per series, epochs marked.

    Over consecutive steps the line is a staircase: the rate of step ``s`` holds from
    ``x = s`` to ``x = s + 1``, so a change shows exactly at the step it happens and
    an epoch boundary is the line ``x = epoch * steps_per_epoch``.

    >>> import numpy as np
    >>> steps = np.arange(100)
    >>> png = rate_figure([RateSeries("r", steps, 0.1 * 0.9 ** (steps // 10))], title="t",
    ...                   steps_per_epoch=25)
    >>> png[:8] == b"\\x89PNG\\r\\n\\x1a\\n"
    True
    """
    series = [s for s in series if len(s.steps)]
    if not series:
        raise ValueError("rate_figure needs at least one series with steps")
    fig = _figure(8.6, 4.6)
    ax = fig.add_subplot()
    values = np.concatenate([np.asarray(s.rates, dtype=np.float64) for s in series])
    first = min(int(s.steps[0]) for s in series)
    end = max(int(s.steps[-1]) for s in series) + 1
    for s in series:
        label, ls, _, lw = BACKEND_STYLES.get(s.backend, (s.backend, "-", "o", 1.5))
        steps = np.asarray(s.steps)
        rates = np.asarray(s.rates, dtype=np.float64)
        style = {
            "ls": ls,
            "lw": lw,
            "color": s.color if s.backend == "numpy" else "black",
            "label": s.label or label,
            "zorder": 3 if s.backend == "numpy" else 4,
        }
        if steps.size > 1 and np.all(np.diff(steps) == 1):
            ax.step(
                np.append(steps, steps[-1] + 1), np.append(rates, rates[-1]), where="post", **style
            )
        else:
            ax.plot(steps, rates, marker="." if steps.size < 200 else None, **style)
    use_log = _style_rate_axis(ax, values, log)
    ax.set_xlim(first, end + (end - first) * 0.005)
    _integer_axis(ax.xaxis)
    if steps_per_epoch:
        _mark_epochs(ax, steps_per_epoch, first, end - 1)
    ax.set_xlabel(xlabel)
    ax.grid(True, which="major", color="0.88", lw=0.7)
    if use_log:
        ax.grid(True, which="minor", axis="y", color="0.94", lw=0.5)
    if subtitle:
        ax.text(
            0.0,
            1.015,
            subtitle,
            transform=ax.transAxes,
            fontsize=8.5,
            family="monospace",
            color="0.25",
            va="bottom",
        )
        title += "\n"
    ax.set_title(title, loc="left", fontsize=11, fontweight="bold")
    if len(series) > 1:
        ax.legend(loc="lower left", fontsize=8.5, framealpha=0.9)
    if note:
        fig.text(0.01, 0.005, note, fontsize=8, color="0.3", ha="left", va="bottom", wrap=True)
    return _bytes(fig, fmt)


def _same_as(series: Sequence[EpochSeries]) -> dict[str, str]:
    """For each configuration whose lines equal an earlier one's in every backend: that one."""
    by_label: dict[str, dict[str, tuple[tuple[float, ...], tuple[float, ...]]]] = {}
    for s in series:
        by_label.setdefault(s.label, {})[s.backend] = (
            tuple(float(v) for v in s.val_accuracy),
            tuple(float(v) for v in s.val_loss),
        )
    labels = list(by_label)
    out: dict[str, str] = {}
    for i, label in enumerate(labels):
        for earlier in labels[:i]:
            if earlier not in out and by_label[earlier] == by_label[label]:
                out[label] = earlier
                break
    return out


def validation_figure(
    series: Sequence[EpochSeries], *, title: str | None = None, fmt: str = "png"
) -> bytes:
    """Validation accuracy (%) and loss per epoch for every run, side by side.

    A configuration whose numbers equal an earlier one's (the same rate at every step
    gives the same run) is drawn on top of it and labelled "(same as ...)".

    >>> png = validation_figure([EpochSeries("a", [0.5, 0.7], [1.0, 0.8])])
    >>> png[:4] == b"\\x89PNG"
    True
    """
    from matplotlib.lines import Line2D
    from matplotlib.ticker import FuncFormatter

    series = [s for s in series if len(s.val_loss)]
    if not series:
        raise ValueError("validation_figure needs at least one series with an epoch")
    fig = _figure(10.5, 5.4)
    acc_ax, loss_ax = fig.subplots(1, 2)
    longest = max(len(s.val_loss) for s in series)
    for s in series:
        _, ls, _, lw = BACKEND_STYLES.get(s.backend, (s.backend, "-", "o", 1.5))
        epochs = np.arange(1, len(s.val_loss) + 1)
        acc = 100 * np.asarray(s.val_accuracy, dtype=np.float64)
        face = s.color if s.backend == "numpy" else "white"
        for ax, y in ((acc_ax, acc), (loss_ax, np.asarray(s.val_loss, dtype=np.float64))):
            ax.plot(
                epochs,
                y,
                ls=ls,
                lw=lw,
                marker=s.marker,
                ms=6.5,
                color=s.color,
                markerfacecolor=face,
                alpha=0.9,
            )
    losses = np.concatenate([np.asarray(s.val_loss, dtype=np.float64) for s in series])
    if needs_log_scale(losses):
        loss_ax.set_yscale("log")
        _plain_log_axis(loss_ax.yaxis)
        loss_ax.set_ylabel("validation loss (cross-entropy, log scale; lower is better)")
    else:
        loss_ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: plain_number(v)))
        loss_ax.set_ylabel("validation loss (cross-entropy; lower is better)")
    acc_ax.set_ylabel("validation accuracy (%; higher is better)")
    for ax in (acc_ax, loss_ax):
        ax.set_xlabel("epoch")
        ax.set_xticks(range(1, longest + 1, max(1, math.ceil(longest / 12))))
        ax.set_xlim(0.6, longest + 0.4)
        ax.grid(True, color="0.88", lw=0.7)
    acc_ax.set_title("Validation accuracy after each epoch", loc="left", fontsize=10.5)
    loss_ax.set_title("Validation loss after each epoch", loc="left", fontsize=10.5)
    same = _same_as(series)
    handles, seen = [], set()
    for s in series:
        if s.label not in seen:
            seen.add(s.label)
            label = s.label + (f" (same as {same[s.label]})" if s.label in same else "")
            handles.append(
                Line2D([], [], color=s.color, lw=2.2, marker=s.marker, ms=6.5, label=label)
            )
    backends = [b for b in BACKEND_STYLES if any(s.backend == b for s in series)]
    if len(backends) > 1:
        for b in backends:
            label, ls, _, lw = BACKEND_STYLES[b]
            face = "0.3" if b == "numpy" else "white"
            handles.append(
                Line2D(
                    [], [], color="0.3", ls=ls, marker="o", markerfacecolor=face, lw=lw, label=label
                )
            )
    fig.legend(
        handles=handles,
        loc="outside lower center",
        ncol=min(4, len(handles)),
        fontsize=8.5,
        frameon=False,
    )
    if title:
        fig.suptitle(title, fontsize=11.5, fontweight="bold")
    return _bytes(fig, fmt)


def save(path: str | os.PathLike[str], data: bytes) -> None:
    """Write an image atomically (a temporary file in the same directory, then rename)."""
    atomic_write_bytes(path, data)
