"""Alias of :mod:`refimpl.schedules`, where Keras keeps its schedules."""

from refimpl.schedules import *  # noqa: F403
from refimpl.schedules import __all__ as __all__
