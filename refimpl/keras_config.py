"""A learning-rate schedule out of what Keras saves, read without TensorFlow.

Keras keeps a model's schedule in the optimizer's config: ``model.save("m.keras")``
writes a zip archive whose ``config.json`` holds the model config, with the compiled
optimizer under ``compile_config.optimizer`` and its schedule under
``config.learning_rate`` (a serialized schedule, or a plain number for a constant
rate).  This module finds that serialized schedule in

- a ``.keras`` archive (:func:`read_config_file` reads its ``config.json``),
- a JSON file or dict holding a serialized schedule (``{"class_name": ..., "config":
  ...}``, Keras 2, Keras 3 or refimpl form), a serialized optimizer, an optimizer's
  ``get_config()``, or a model config;

and hands it to :func:`refimpl.schedules.deserialize`.  A legacy (``tf_keras``)
optimizer's ``decay=`` is kept: the schedule becomes a :class:`TimeBasedDecay` around
the learning rate, which is what that optimizer applied.

>>> config = {"compile_config": {"optimizer": {"class_name": "SGD", "config": {
...     "learning_rate": {"class_name": "ExponentialDecay", "config": {
...         "initial_learning_rate": 0.1, "decay_steps": 10, "decay_rate": 0.5}}}}}}
>>> schedule_config(config)["class_name"]
'ExponentialDecay'
"""

from __future__ import annotations

import json
import os
import zipfile
from collections.abc import Mapping
from typing import Any

__all__ = ["MAX_CONFIG_BYTES", "read_config_file", "schedule_config"]

#: The largest config file (or ``config.json`` inside a ``.keras`` archive) read: a
#: schedule's config is a few hundred bytes, a large model's config a few megabytes.
MAX_CONFIG_BYTES = 64 * 2**20


def read_config_file(path: str | os.PathLike[str]) -> Any:
    """The JSON in the file at ``path``; for a ``.keras`` archive (a zip file, whatever
    its name), the JSON of its ``config.json``.

    Raises ``ValueError`` naming ``path`` for a file that is neither, is larger than
    :data:`MAX_CONFIG_BYTES` or is nested too deeply to parse; ``OSError`` (e.g.
    ``FileNotFoundError``) when it cannot be read.
    """
    name = os.fspath(path)
    if zipfile.is_zipfile(name):
        try:
            with zipfile.ZipFile(name) as archive:
                try:
                    info = archive.getinfo("config.json")
                except KeyError:
                    raise ValueError(
                        f"{name}: a zip archive without config.json, so not a .keras model file"
                    ) from None
                if info.file_size > MAX_CONFIG_BYTES:
                    raise ValueError(
                        f"{name}: config.json is larger than {MAX_CONFIG_BYTES:,} bytes"
                    )
                data = archive.read(info)[: MAX_CONFIG_BYTES + 1]
        except (zipfile.BadZipFile, NotImplementedError, EOFError) as exc:
            raise ValueError(f"{name}: a damaged .keras (zip) archive ({exc})") from None
        what = f"{name} (config.json)"
    else:
        with open(name, "rb") as file:
            data = file.read(MAX_CONFIG_BYTES + 1)
        what = name
    if len(data) > MAX_CONFIG_BYTES:
        raise ValueError(f"{what} is larger than {MAX_CONFIG_BYTES:,} bytes: not a config file")
    try:
        return json.loads(data.decode("utf-8"))
    except UnicodeDecodeError:
        raise ValueError(f"{what}: not a JSON file or a .keras model (not UTF-8 text)") from None
    except json.JSONDecodeError as exc:
        raise ValueError(f"{what}: not valid JSON ({exc})") from None
    except RecursionError:
        raise ValueError(f"{what}: JSON nested too deeply") from None


def _is_serialized(obj: Mapping[str, Any]) -> bool:
    return isinstance(obj.get("class_name"), str) and isinstance(obj.get("config"), Mapping)


def schedule_config(obj: Any) -> dict[str, Any] | None:
    """The serialized schedule in ``obj``: a serialized schedule (returned as is), a
    model config (its compiled optimizer's), a serialized optimizer or an optimizer's
    ``get_config()`` (its ``learning_rate``, wrapped in a ``TimeBasedDecay`` when a
    legacy optimizer's ``decay`` is not 0).

    Returns None for a dict that is none of these (a bare schedule config, whose class
    the caller has to know).  Raises ``ValueError`` for a model saved without an
    optimizer and for an optimizer with a constant rate.

    >>> schedule_config({"learning_rate": 0.01, "momentum": 0.9})
    Traceback (most recent call last):
    ValueError: the optimizer's learning_rate is the constant 0.01, not a schedule
    >>> schedule_config({"initial_learning_rate": 0.1, "decay_steps": 10}) is None
    True
    """
    if not isinstance(obj, Mapping):
        raise ValueError(
            f"expected a JSON object (a serialized schedule, optimizer or model); "
            f"found {type(obj).__name__} {_short(obj)}"
        )
    if "compile_config" in obj:  # a model
        optimizer = (obj.get("compile_config") or {}).get("optimizer")
        if optimizer is None:
            raise ValueError("the model was saved without an optimizer (not compiled)")
        if not isinstance(optimizer, Mapping):
            raise ValueError(f"the model's optimizer is {_short(optimizer)}, not a config")
        return schedule_config(optimizer)
    if _is_serialized(obj) and "learning_rate" in obj["config"]:  # a serialized optimizer
        return schedule_config(obj["config"])
    if _is_serialized(obj):
        return dict(obj)
    if "learning_rate" in obj:  # an optimizer's get_config()
        rate = obj["learning_rate"]
        decay = obj.get("decay", 0.0)
        if isinstance(rate, Mapping) and _is_serialized(rate):
            schedule: Any = dict(rate)
        elif isinstance(rate, (int, float)) and not isinstance(rate, bool):
            schedule = rate
        else:
            raise ValueError(f"the optimizer's learning_rate is {_short(rate)}, not a schedule")
        if isinstance(decay, (int, float)) and not isinstance(decay, bool) and decay != 0:
            return {
                "class_name": "TimeBasedDecay",
                "config": {"initial_learning_rate": schedule, "decay": decay},
            }
        if not isinstance(schedule, dict):
            raise ValueError(
                f"the optimizer's learning_rate is the constant {schedule!r}, not a schedule"
            )
        return schedule
    return None


def _short(value: Any, width: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= width else text[: width - 3] + "..."
