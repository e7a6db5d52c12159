"""Keras 3 on its JAX and PyTorch backends: keras_adapter's schedules train, save and
load there, and the rate real ``model.fit`` applies is refimpl's ``mode="jax"`` /
``mode="torch"`` prediction, bit for bit.

Keras fixes its backend at import, so each backend runs in a fresh Python
(``tests/_backend_worker.py``, ``KERAS_BACKEND`` set), which measures; this process
draws the configurations, predicts with refimpl and compares.  One worker per backend
does everything: the pinned facts (hand-derived cases, ``torch.compile``), random
configurations of every schedule class (float32 and float64, the Keras built-ins and
the adapters, from step 0 and around their edges), ``.keras`` round trips of every
class and the import and error checks.
"""

from __future__ import annotations

import math
import os
import pickle
import subprocess
import sys
import tempfile
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from refimpl.exceptions import ScheduleWarning
from refimpl.modes.trace import run
from refimpl.schedules import (
    SCHEDULES,
    CosineDecay,
    CosineDecayRestarts,
    ExponentialDecay,
    InverseTimeDecay,
    LinearCosineDecay,
    LinearWarmup,
    NaturalExpDecay,
    NoisyLinearCosineDecay,
    PiecewiseConstantDecay,
    PolynomialDecay,
    SequentialSchedule,
    TimeBasedDecay,
)
from refimpl.testing import schedule_batches

pytestmark = pytest.mark.tf

ROOT = Path(__file__).resolve().parents[1]


def run_worker(backend: str, request: dict[str, Any], timeout: float = 900) -> dict[str, Any]:
    """Run ``tests/_backend_worker.py`` under ``KERAS_BACKEND=backend``; its answer."""
    pytest.importorskip("keras")
    pytest.importorskip(backend)
    with tempfile.TemporaryDirectory() as directory:
        request_path = os.path.join(directory, "request.pkl")
        answer_path = os.path.join(directory, "answer.pkl")
        with open(request_path, "wb") as f:
            pickle.dump(request, f)
        path = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p)
        env = {
            **os.environ,
            "KERAS_BACKEND": backend,
            "PYTHONPATH": path,
            "TF_CPP_MIN_LOG_LEVEL": "2",
            "CUDA_VISIBLE_DEVICES": "",
        }
        done = subprocess.run(
            [sys.executable, "-m", "tests._backend_worker", request_path, answer_path],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if done.returncode != 0:
            pytest.fail(f"the {backend} worker failed:\n{done.stderr[-4000:]}")
        with open(answer_path, "rb") as f:
            answer: dict[str, Any] = pickle.load(f)
    assert answer["backend"] == backend
    return answer


def torch_exact(schedule: Any, steps: np.ndarray) -> np.ndarray:
    """refimpl's torch-mode graph run with torch's own kernels (MKL's cos/log/exp/sqrt)."""
    pytest.importorskip("torch")
    from keras_adapter.backends import torch_kernels

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ScheduleWarning)
        return run(schedule.trace("torch"), steps, kernels=torch_kernels())


def mode_rates(mode: str) -> Callable[[Any, np.ndarray], np.ndarray]:
    def predict(schedule: Any, steps: np.ndarray) -> np.ndarray:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ScheduleWarning)
            return np.asarray(schedule(steps, mode=mode), np.float32)

    return predict


#: What each backend applies, as refimpl predicts it exactly.
PREDICT: dict[str, Callable[[Any, np.ndarray], np.ndarray]] = {
    "jax": mode_rates("jax"),
    "torch": torch_exact,
}


def same(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Elementwise: equal bits as SGD applies them (NaN equals NaN; +0 equals -0)."""
    return (a == b) | (np.isnan(a) & np.isnan(b))


def fit(
    schedules: Sequence[Any], steps: int, start: Any = 0, *, adapter: Any = False, mode: Any = None
) -> dict[str, Any]:
    flags = list(adapter) if isinstance(adapter, list) else [adapter] * len(schedules)
    starts = list(start) if isinstance(start, list) else [start] * len(schedules)
    return {
        "schedules": list(schedules),
        "adapter": flags,
        "steps": steps,
        "start": starts,
        "mode": mode,
    }


# --- pinned facts, one worker per backend --------------------------------------------------

#: fl(1/3) = 11184811 * 2**-25, so 3 * fl(1/3) = 1 + 2**-25 exactly, and one rounding
#: of 1 - 3 * fl(1/3) (an FMA) is -2**-25: PolynomialDecay(1.0, 3, 0.0) at and past
#: its end on JAX, where the step's minimum is not split off (TensorFlow with XLA: 0.0).
POLY_END = PolynomialDecay(1.0, 3, 0.0)
#: A shared product fused once per fusion on JAX (98 of the first 300 steps differ
#: from refimpl's TensorFlow-XLA mode).
SGDR_T2 = CosineDecayRestarts(0.3, 10, t_mul=2.0, m_mul=0.9, alpha=0.0)
#: A float64 rate: Keras computes it in float32 on JAX (no x64) and on torch
#: (np.float64 is a Python float, which Keras's torch backend makes float32).
FLOAT64 = ExponentialDecay(np.float64(0.1), 7, 0.3)
#: 1000**13 overflows float32: the rate is inf from step 13.
OVERFLOW = ExponentialDecay(1.0, 1, 1000.0)
#: 0.01**19 = 1e-38 is subnormal: torch keeps it, TensorFlow flushes it to 0.
SUBNORMAL = ExponentialDecay(1.0, 1, 0.01)
#: cos at steps 11, 31, 32 and 39: MKL's vmsCos and glibc's cosf differ there.
COSINE = CosineDecay(1.0, 40)
#: The counter-based noise hashes in uint32 (int64 on Keras's torch backend).
NOISY = NoisyLinearCosineDecay(0.1, 100, seed=3)

ROUND_TRIPS = [
    {
        "kind": "adapter",
        "reference": CosineDecay(0.01, 100, alpha=0.1, warmup_target=0.1, warmup_steps=5),
    },
    {"kind": "adapter", "reference": LinearWarmup(CosineDecayRestarts(0.05, 7), 3)},
    {
        "kind": "adapter",
        "reference": SequentialSchedule(
            [ExponentialDecay(0.1, 3, 0.5), InverseTimeDecay(0.05, 2, 0.5)], [2]
        ),
    },
    {
        "kind": "adapter",
        "reference": TimeBasedDecay(PolynomialDecay(0.1, 50, 0.001, power=2.0), 0.01),
    },
    {"kind": "adapter", "reference": NOISY},
    {
        "kind": "adapter",
        "reference": SequentialSchedule(
            [
                PiecewiseConstantDecay([1, 3], [0.1, 0.05, 0.02]),
                NaturalExpDecay(0.02, 5, 0.5, staircase=True),
                LinearCosineDecay(0.01, 20, num_periods=2.0),
            ],
            [4, 9],
        ),
    },
    {"kind": "legacy", "reference": CosineDecay(0.02, 30), "decay": 0.05},
]


#: Steps the schedules loaded from ``.keras`` files train for.
LOADED_STEPS = 30


def class_names(schedule: Any) -> set[str]:
    """The refimpl classes in ``schedule``, nested ones too (by their configs)."""

    def walk(value: Any) -> set[str]:
        if isinstance(value, dict):
            here = {value["class_name"]} if "class_name" in value else set()
            return here.union(*(walk(v) for v in value.values()))
        if isinstance(value, list):
            return set().union(*(walk(v) for v in value))
        return set()

    return {type(schedule).__name__} | walk(schedule.get_config())


def pinned_request(backend: str) -> dict[str, Any]:
    fits = [
        fit([POLY_END, POLY_END], 8, adapter=[False, True]),
        fit(
            [SGDR_T2, SGDR_T2, FLOAT64, FLOAT64, SUBNORMAL, COSINE, NOISY],
            300,
            adapter=[False, True, False, True, False, False, True],
        ),
        fit([OVERFLOW, OVERFLOW], 1, start=[13, 40]),  # one-step horizons read inf exactly
        fit([OVERFLOW], 20),  # a longer horizon: every row NaN (dense gradients), a warning
    ]
    if backend == "torch":
        fits.append(fit([COSINE, SGDR_T2, NOISY], 12, adapter=[False, True, True], mode="compile"))
    return {"fits": fits, "round_trips": ROUND_TRIPS, "loaded_steps": LOADED_STEPS}


def draw_once(strategy: st.SearchStrategy[Any]) -> Any:
    """One example of ``strategy``, drawn by Hypothesis under the active profile
    (derandomized in CI): the worker is too slow to run once per example."""
    drawn: list[Any] = []

    @settings(
        max_examples=1,
        database=None,
        deadline=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(strategy)
    def keep(value: Any) -> None:
        drawn.append(value)

    keep()
    return drawn[0]


class Measured:
    """One backend's worker answer, with the request it answered.

    ``answer["fits"]`` holds the pinned fits (:func:`pinned_request`) first, then those
    of :attr:`random` (a :class:`RandomPlan`)."""

    def __init__(self, backend: str) -> None:
        self.backend = backend
        self.pinned = pinned_request(backend)
        self.random = RandomPlan(draw_once(configurations()), PREDICT[backend])
        request = {
            "fits": self.pinned["fits"] + self.random.fits,
            "round_trips": self.pinned["round_trips"],
            "loaded_steps": self.pinned["loaded_steps"],
        }
        self.answer = run_worker(backend, request)
        self.random_fits = self.answer["fits"][len(self.pinned["fits"]) :]


_MEASURED: dict[str, Measured] = {}


_FAILED: dict[str, BaseException] = {}


def measured(backend: str) -> Measured:
    """The (cached) measurement of ``backend``: one worker process per backend per run
    (a failed or skipped worker is not run again)."""
    if backend in _FAILED:
        raise _FAILED[backend]
    if backend not in _MEASURED:
        try:
            _MEASURED[backend] = Measured(backend)
        except (Exception, pytest.fail.Exception, pytest.skip.Exception) as error:
            _FAILED[backend] = error
            raise
    return _MEASURED[backend]


@pytest.fixture
def jax_answer() -> dict[str, Any]:
    """The JAX worker's answer to :func:`pinned_request` (and the random plan)."""
    return measured("jax").answer


@pytest.fixture
def torch_answer() -> dict[str, Any]:
    """The torch worker's answer to :func:`pinned_request` (and the random plan)."""
    return measured("torch").answer


@pytest.fixture(params=["jax", "torch"])
def pinned(request: pytest.FixtureRequest) -> tuple[str, dict[str, Any]]:
    """``(backend, answer)`` for each backend."""
    backend: str = request.param
    return backend, measured(backend).answer


def test_import_needs_no_tensorflow_and_compiled_rates_says_so(
    pinned: tuple[str, dict[str, Any]],
) -> None:
    backend, answer = pinned
    assert answer["tensorflow_after_import"] is False
    message = answer["compiled_rates_error"]
    assert "KERAS_BACKEND=tensorflow" in message
    assert repr(backend) in message


def test_every_pinned_rate_is_the_prediction(pinned: tuple[str, dict[str, Any]]) -> None:
    """The built-ins and the adapters apply what refimpl predicts for the backend, at
    every step of the pinned cases (finite horizons)."""
    backend, answer = pinned
    request = pinned_request(backend)
    predict = PREDICT[backend]
    for spec, (got, _) in zip(request["fits"][:2], answer["fits"][:2], strict=True):
        for schedule, first, row in zip(spec["schedules"], spec["start"], got, strict=True):
            want = predict(schedule, np.arange(first, first + spec["steps"]))
            bad = np.flatnonzero(~same(row, want))
            assert bad.size == 0, (
                f"{backend} {schedule!r}: steps {bad[:5]}: {row[bad[:5]]} vs {want[bad[:5]]}"
            )


def test_jax_does_not_split_the_minimum_past_the_end(jax_answer: dict[str, Any]) -> None:
    rows = jax_answer["fits"][0][0]
    end = np.float32(-(2.0**-25))
    assert np.float32(3) * np.float32(1 / 3) == np.float32(1)  # rounded: the FMA is needed
    for row in rows:
        assert row[0] == 1.0
        assert (row[3:] == end).all()
    assert POLY_END([4], mode="xla")[0] == 0.0  # TensorFlow with XLA: split off, folded


def test_jax_fuses_a_product_shared_across_fusions(jax_answer: dict[str, Any]) -> None:
    steps = np.arange(300)
    xla, jax = SGDR_T2(steps, mode="xla"), SGDR_T2(steps, mode="jax")
    differ = np.flatnonzero(xla != jax)
    assert differ.size > 50
    for row in jax_answer["fits"][1][0][:2]:
        assert (row == jax).all()
        assert (row[differ] != xla[differ]).all()


def test_a_float64_rate_trains_in_float32(pinned: tuple[str, dict[str, Any]]) -> None:
    backend, answer = pinned
    steps = np.arange(300)
    float32 = FLOAT64.with_dtype("float32")
    rows = answer["fits"][1][0][2:4]
    wide = np.asarray(FLOAT64(steps), np.float32)  # TensorFlow eager: float64, then SGD's cast
    assert (wide != float32(steps)).any()
    for row in rows:
        assert (row == PREDICT[backend](float32, steps)).all()


def test_subnormal_rates(pinned: tuple[str, dict[str, Any]]) -> None:
    """torch keeps subnormal rates; XLA (JAX) flushes them to zero, as TensorFlow does."""
    backend, answer = pinned
    row = answer["fits"][1][0][4]
    tiny = row[19:22]
    if backend == "torch":
        assert ((tiny > 0) & (tiny < np.finfo(np.float32).smallest_normal)).all()
        assert (SUBNORMAL(np.arange(19, 22)) == 0).all()  # TensorFlow eager flushes
    else:
        assert (tiny == 0).all()


def test_torch_runs_mkl_for_cos_and_glibc_under_torch_compile(torch_answer: dict[str, Any]) -> None:
    """Eager torch computes cos with MKL (refimpl's default glibc differs at 4 of 40
    steps); torch.compile's C++ calls std::cos (glibc): refimpl's default torch mode."""
    steps = np.arange(300)
    eager = torch_answer["fits"][1][0][5]
    glibc = COSINE(steps, mode="torch")
    assert np.flatnonzero(eager[:40] != glibc[:40]).tolist() == [11, 31, 32, 39]
    compiled, _ = torch_answer["fits"][4]
    for schedule, row in zip([COSINE, SGDR_T2, NOISY], compiled, strict=True):
        assert (row == schedule(np.arange(12), mode="torch")).all(), schedule
    assert (compiled[0] != eager[:12]).any()  # step 11


def test_non_finite_rates(pinned: tuple[str, dict[str, Any]]) -> None:
    """A one-step horizon reads an infinite rate; a longer one cannot (dense gradients:
    inf * 0 is NaN in every row) and says so."""
    backend, answer = pinned
    probes, _ = answer["fits"][2]
    assert np.isposinf(probes[:, 0]).all()
    assert np.isposinf(PREDICT[backend](OVERFLOW, np.array([13, 40]))).all()
    rows, caught = answer["fits"][3]
    assert np.isnan(rows).all()
    assert len(caught) == 1
    assert "non-finite" in caught[0]
    assert "[0]" in caught[0]


def test_keras_files_round_trip(pinned: tuple[str, dict[str, Any]]) -> None:
    """Saved in a .keras file and loaded in the same process, each schedule comes back as
    its class with its config, gives the same rates, and training resumes identically."""
    backend, answer = pinned
    assert set().union(*(class_names(e["reference"]) for e in ROUND_TRIPS)) == set(SCHEDULES)
    for entry, trip in zip(ROUND_TRIPS, answer["round_trips"], strict=True):
        name = "LegacyDecay" if entry["kind"] == "legacy" else type(entry["reference"]).__name__
        assert trip["class_before"] == trip["class_after"] == name
        assert trip["module_after"].startswith("keras_adapter.")
        assert trip["config_after"] == trip["config_before"]
        assert trip["values_after"] == trip["values_before"]
        assert all(math.isfinite(v) for v in trip["values_after"])
        assert trip["iterations_before"] == trip["iterations_after"] == 4
        for a, b in zip(trip["weights_original"], trip["weights_loaded"], strict=True):
            assert (a == b).all(), f"{backend} {name}: training after load_model differs"


def test_loaded_schedules_apply_the_prediction(pinned: tuple[str, dict[str, Any]]) -> None:
    """The schedules loaded from the .keras files, trained side by side: refimpl's
    prediction for the backend at every step (``LegacyDecay`` over a Keras built-in is
    refimpl's ``TimeBasedDecay`` over its twin)."""
    backend, answer = pinned
    steps = np.arange(LOADED_STEPS)
    for entry, row in zip(ROUND_TRIPS, answer["loaded_rates"], strict=True):
        reference = entry["reference"]
        if entry["kind"] == "legacy":
            reference = TimeBasedDecay(reference, entry["decay"])
        want = PREDICT[backend](reference, steps)
        assert np.isfinite(want).all()
        bad = np.flatnonzero(~same(row, want))
        assert bad.size == 0, f"{backend} {reference!r}: steps {bad[:5]}: {row[bad]} vs {want[bad]}"


# --- random configurations of every class, in the same worker ----------------------------

#: Steps read from step 0, and around each edge (three steps from ``edge - 1``).
FIRST_STEPS = 40
EDGE_STEPS = 3
EDGES_PER_SCHEDULE = 4


@st.composite
def configurations(draw: st.DrawFn) -> list[tuple[Any, bool]]:
    """Two float32 and one float64 configuration of every class; the six Keras
    classes as the Keras built-in and as the adapter."""
    chosen = []
    for name in SCHEDULES:
        batch = draw(schedule_batches(name, size=2)) + draw(
            schedule_batches(name, size=1, dtype="float64")
        )
        for schedule in batch:
            chosen.append((schedule, False))
            if type(schedule).family == "keras":
                chosen.append((schedule, True))
    return chosen


def edge_windows(schedule: Any) -> list[int]:
    """The first step of up to :data:`EDGES_PER_SCHEDULE` windows around its edges
    (2**24 included), below int32's limit."""
    edges = sorted({e for e in schedule.edge_steps() if 1 <= e < 2**31 - EDGE_STEPS})
    keep = edges[-1:] + edges[: EDGES_PER_SCHEDULE - 1]
    return sorted({e - 1 for e in keep})


class RandomPlan:
    """What to train for random configurations ``chosen`` (``(schedule, adapter)``
    pairs): every one from step 0, every edge window, and one-step probes where the
    prediction is not finite (a dense update cannot read those in a longer horizon)."""

    def __init__(
        self, chosen: list[tuple[Any, bool]], predict: Callable[[Any, np.ndarray], np.ndarray]
    ) -> None:
        self.chosen = chosen
        self.windows = [(s, a, w) for s, a in chosen for w in edge_windows(s)]
        self.probes = []
        for s, a in chosen:
            for first, count in [(0, FIRST_STEPS)] + [(w, EDGE_STEPS) for w in edge_windows(s)]:
                want = predict(s, np.arange(first, first + count))
                bad = np.flatnonzero(~np.isfinite(want))
                if bad.size:
                    self.probes.append((s, a, first + int(bad[0])))
        self.fits = [
            fit([s for s, _ in chosen], FIRST_STEPS, adapter=[a for _, a in chosen]),
            fit(
                [s for s, _, _ in self.windows],
                EDGE_STEPS,
                [w for _, _, w in self.windows],
                adapter=[a for _, a, _ in self.windows],
            ),
        ]
        if self.probes:
            self.fits.append(
                fit(
                    [s for s, _, _ in self.probes],
                    1,
                    [k for _, _, k in self.probes],
                    adapter=[a for _, a, _ in self.probes],
                )
            )


@pytest.mark.parametrize("backend", ["jax", "torch"])
def test_random_configurations_apply_the_prediction(backend: str) -> None:
    """Every schedule class, random configurations (float32 and float64, built-in and
    adapter), at its first steps and around its edges (2**24 too): the rate training
    applies is refimpl's prediction, bit for bit.  Windows whose prediction is not
    finite are read one step at a time."""
    done = measured(backend)
    plan, answers = done.random, done.random_fits
    predict = PREDICT[backend]
    first, edges = answers[0][0], answers[1][0]
    single = answers[2][0] if plan.probes else np.empty((0, 1), np.float32)
    checked = 0
    for (s, _), row in zip(plan.chosen, first, strict=True):
        want = predict(s, np.arange(FIRST_STEPS))
        if np.isfinite(want).all():
            assert same(row, want).all(), f"{backend} {s!r}: {np.flatnonzero(~same(row, want))[:5]}"
            checked += 1
    for (s, _, w), row in zip(plan.windows, edges, strict=True):
        want = predict(s, np.arange(w, w + EDGE_STEPS))
        if np.isfinite(want).all():
            assert same(row, want).all(), f"{backend} {s!r} from step {w}: {row} vs {want}"
            checked += 1
    for (s, _, k), row in zip(plan.probes, single, strict=True):
        assert same(row, predict(s, np.array([k]))).all(), f"{backend} {s!r} at step {k}"
    assert checked >= len(plan.chosen)  # most windows are finite
    classes = {type(s).__name__ for s, _ in plan.chosen}
    assert classes == set(SCHEDULES)
    assert {str(s.dtype) for s, _ in plan.chosen} == {"float32", "float64"}
