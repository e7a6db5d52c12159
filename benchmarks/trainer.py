"""One training epoch of the lesson's CNN: refimpl vs Keras 3 (TensorFlow CPU), interleaved.

Each measurement runs in its own child process (so peak memory is that system's alone,
read with ``resource.getrusage`` in the child) and the two systems alternate, round
after round, in one run: timings on shared machines drift by up to 1.7x within minutes,
so only ratios taken side by side mean anything.

Per child: load Fashion-MNIST (raw uint8 pixels, one-hot float64 labels, as the lesson),
build the lesson's model, warm up on 256 images (Keras traces its train step there),
then time ``fit(epochs=1, batch_size=B, verbose=0)`` on the 60,000 training images with
SGD(0.001).  Reported: seconds per epoch, images per second, peak RSS, achieved GFLOP/s
(23.3 MFLOP per training image, counted from the layer shapes), and refimpl/Keras ratios.

Usage::

    .venv/bin/python benchmarks/trainer.py                     # batch 64 and 256, 2 rounds
    .venv/bin/python benchmarks/trainer.py --batch-sizes 64 --rounds 3
    .venv/bin/python benchmarks/trainer.py --profile           # where refimpl's time goes

Targets (issue 5): refimpl epoch time <= 0.75x Keras's, peak RSS <= 0.35x Keras's.

BLAS kernels: on this machine kind (AMD EPYC with AVX-512) NumPy's OpenBLAS 0.3.31
already selects its SkylakeX (AVX-512) kernels (``threadpoolctl.threadpool_info()``
reports ``architecture: SkylakeX``).  Forcing ``OPENBLAS_CORETYPE`` (an environment
variable read when NumPy loads, so not something the library could set) to Haswell,
SkylakeX, Zen or Cooperlake changes the conv products' single-thread speed by no more
than the run-to-run noise (71-88 GFLOP/s on the lesson's shapes, 94 on 1024^3): the
kernel choice is not the gap to close.  Tests and CI leave BLAS settings alone.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from typing import Any

SAMPLES = 60_000


def _flops_per_training_image() -> float:
    """Multiply-adds x 2 of forward, weight-gradient and input-gradient products."""
    conv1 = 2 * 28 * 28 * (3 * 3 * 1) * 32
    conv2 = 2 * 28 * 28 * (3 * 3 * 32) * 16
    dense = 2 * (28 * 28 * 16) * 10
    # conv1 needs no input gradient (it is the first layer)
    return 2 * conv1 + 3 * conv2 + 3 * dense


def _load(samples: int) -> tuple[Any, Any]:
    import numpy as np

    try:
        from refimpl.datasets import fashion_mnist

        (x, y), _ = fashion_mnist.load_data()
        source = "fashion-mnist"
    except Exception as exc:  # no data set here: same shapes and dtypes, random pixels
        print(f"# Fashion-MNIST unavailable ({exc}); using random uint8 images", file=sys.stderr)
        rng = np.random.default_rng(0)
        x = rng.integers(0, 256, (SAMPLES, 28, 28), dtype=np.uint8)
        y = rng.integers(0, 10, SAMPLES).astype(np.uint8)
        source = "random"
    x = x[:samples].reshape(-1, 28, 28, 1)
    onehot = np.zeros((len(x), 10))  # float64, as keras.utils.to_categorical
    onehot[np.arange(len(x)), y[:samples]] = 1
    os.environ["BENCH_DATA_SOURCE"] = source
    return x, onehot


def _child(system: str, batch: int, samples: int, profile: bool) -> dict[str, Any]:
    x, y = _load(samples)
    if system == "keras":
        os.environ.setdefault("KERAS_BACKEND", "tensorflow")
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")
        import keras
        from keras import layers

        keras.utils.set_random_seed(0)
        model = keras.Sequential(
            [
                keras.Input(shape=(28, 28, 1)),
                layers.Conv2D(32, (3, 3), padding="same", activation="relu"),
                layers.Conv2D(16, (3, 3), padding="same", activation="relu"),
                layers.Flatten(),
                layers.Dense(10, activation="softmax"),
            ]
        )
        optimizer: Any = keras.optimizers.SGD(learning_rate=0.001)
    else:
        import refimpl as keras_like
        from refimpl import layers as rlayers

        keras_like.utils.set_random_seed(0)
        model = keras_like.Sequential(
            [
                rlayers.Conv2D(
                    32, (3, 3), padding="same", activation="relu", input_shape=(28, 28, 1)
                ),
                rlayers.Conv2D(16, (3, 3), padding="same", activation="relu"),
                rlayers.Flatten(),
                rlayers.Dense(10, activation="softmax"),
            ]
        )
        optimizer = keras_like.optimizers.SGD(learning_rate=0.001)
    model.compile(optimizer=optimizer, loss="categorical_crossentropy", metrics=["accuracy"])
    t0 = time.perf_counter()
    model.fit(x[:256], y[:256], batch_size=batch, epochs=1, verbose=0)
    warmup = time.perf_counter() - t0
    prof = None
    if profile and system == "refimpl":
        prof = _instrument(model)
    t0 = time.perf_counter()
    cpu0 = time.process_time()
    hist = model.fit(x, y, batch_size=batch, epochs=1, verbose=0)
    seconds = time.perf_counter() - t0
    cpu = time.process_time() - cpu0
    rss_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    result = {
        "system": system,
        "batch": batch,
        "samples": len(x),
        "seconds": seconds,
        "cpu_seconds": cpu,
        "warmup_seconds": warmup,
        "peak_rss_mb": rss_kb / 1024,
        "loss": float(hist.history["loss"][0]),
        "accuracy": float(hist.history["accuracy"][0]),
        "data": os.environ.get("BENCH_DATA_SOURCE"),
    }
    if prof is not None:
        result["profile"] = {k: round(v, 3) for k, v in sorted(prof.items(), key=lambda kv: -kv[1])}
    return result


def _instrument(model: Any) -> dict[str, float]:
    """Wrap every layer's forward/backward (and the loss) to sum their wall time per thread.

    Times are summed over the worker threads, so with 2 threads they add up to about
    twice the epoch's wall time; the shares are what matter.
    """
    totals: dict[str, float] = {}

    def wrap(obj: Any, attr: str, key: str) -> None:
        fn = getattr(obj, attr)

        def timed(*args: Any, **kwargs: Any) -> Any:
            t = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                totals[key] = totals.get(key, 0.0) + time.perf_counter() - t

        setattr(obj, attr, timed)

    for layer in model.layers:
        wrap(layer, "forward", f"{layer.name}.forward")
        wrap(layer, "backward", f"{layer.name}.backward")
        wrap(layer, "end_batch", f"{layer.name}.end_batch (deferred gradients)")
    wrap(model.loss, "value_and_grad", "loss+grad")
    wrap(model.optimizer, "apply", "optimizer.apply (main thread)")
    return totals


def _run_child(system: str, batch: int, samples: int, profile: bool) -> dict[str, Any]:
    cmd = [sys.executable, os.path.abspath(__file__), "--child", system, "--batch", str(batch)]
    cmd += ["--samples", str(samples)] + (["--profile"] if profile else [])
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"{system} child failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[64, 256])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--samples", type=int, default=SAMPLES)
    parser.add_argument("--profile", action="store_true", help="refimpl only, per-layer times")
    parser.add_argument("--child", choices=["refimpl", "keras"], help=argparse.SUPPRESS)
    parser.add_argument("--batch", type=int, default=64, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.child:
        print(json.dumps(_child(args.child, args.batch, args.samples, args.profile)))
        return 0

    if args.profile:
        for batch in args.batch_sizes:
            prof = _run_child("refimpl", batch, args.samples, True)
            print(
                f"refimpl batch {batch}: {prof['seconds']:.1f} s/epoch, cpu "
                f"{prof['cpu_seconds']:.1f} s; summed thread time:"
            )
            for k, v in prof["profile"].items():
                print(f"  {k:44s} {v:8.2f} s")
        return 0

    flops = _flops_per_training_image()
    print(
        f"# {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}; "
        f"{flops / 1e6:.1f} MFLOP per training image; {args.rounds} rounds, interleaved"
    )
    summary = []
    for batch in args.batch_sizes:
        runs: dict[str, list[dict[str, Any]]] = {"refimpl": [], "keras": []}
        for r in range(args.rounds):
            order = ["refimpl", "keras"] if r % 2 == 0 else ["keras", "refimpl"]
            for system in order:
                res = _run_child(system, batch, args.samples, False)
                runs[system].append(res)
                n = res["samples"]
                print(
                    f"batch {batch:4d} round {r + 1} {system:8s}: {res['seconds']:6.1f} s/epoch "
                    f"{n / res['seconds']:7.0f} img/s  {res['peak_rss_mb']:6.0f} MB peak RSS  "
                    f"{flops * n / res['seconds'] / 1e9:5.1f} GFLOP/s  "
                    f"(cpu {res['cpu_seconds']:.0f} s, warm-up {res['warmup_seconds']:.1f} s, "
                    f"loss {res['loss']:.3f}, acc {res['accuracy']:.3f}, data {res['data']})",
                    flush=True,
                )
        med = {s: statistics.median(x["seconds"] for x in v) for s, v in runs.items()}
        cpu = {s: statistics.median(x["cpu_seconds"] for x in v) for s, v in runs.items()}
        rss = {s: max(x["peak_rss_mb"] for x in v) for s, v in runs.items()}
        per_round = [
            a["seconds"] / b["seconds"] for a, b in zip(runs["refimpl"], runs["keras"], strict=True)
        ]
        summary.append((batch, med, cpu, rss, per_round))
    print("\n# summary (median seconds per epoch; ratio = refimpl / keras; cpu = user+sys)")
    print(
        f"{'batch':>5} {'refimpl s':>10} {'keras s':>9} {'time ratio':>10} {'per round':>20} "
        f"{'cpu ours':>8} {'cpu keras':>9} {'cpu ratio':>9} "
        f"{'refimpl MB':>10} {'keras MB':>9} {'RSS ratio':>9} {'img/s ours':>10} "
        f"{'GFLOP/s ours':>12} {'GFLOP/s keras':>13}"
    )
    for batch, med, cpu, rss, per_round in summary:
        n = args.samples
        print(
            f"{batch:5d} {med['refimpl']:10.1f} {med['keras']:9.1f} "
            f"{med['refimpl'] / med['keras']:10.2f} {' '.join(f'{p:.2f}' for p in per_round):>20} "
            f"{cpu['refimpl']:8.1f} {cpu['keras']:9.1f} {cpu['refimpl'] / cpu['keras']:9.2f} "
            f"{rss['refimpl']:10.0f} {rss['keras']:9.0f} {rss['refimpl'] / rss['keras']:9.2f} "
            f"{n / med['refimpl']:10.0f} {flops * n / med['refimpl'] / 1e9:12.1f} "
            f"{flops * n / med['keras'] / 1e9:13.1f}"
        )
    print("targets: time ratio <= 0.75, RSS ratio <= 0.35")
    print(f"# load average at the end {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
