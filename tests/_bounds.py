"""Rounding-error bounds of the float32 convolutions (tests only), derived, not measured.

A value computed in floating point through ``k`` successive roundings of sums of
products is within ``gamma_k = k u / (1 - k u)`` (``u`` the unit roundoff) times the
same computation carried out on absolute values (Higham, *Accuracy and Stability of
Numerical Algorithms*, 2nd ed., lemma 3.3 and section 3.1).  For Winograd that
computation runs the algorithm on ``|x|``, ``|K|`` and the absolute transform matrices,
which is where F(4x4)'s larger transform entries cost accuracy.  The roundings counted
(``alpha = m + 2``; BLAS sums in any order):

* forward: the kernel transform rounded once to float32 (1), the input transform's two
  passes of ``alpha`` terms (``2 alpha``), the sum over ``C`` channels (``C``), the
  bias (1), the output transform's two passes (``2 alpha``);
* kernel gradient: the input transform (``2 alpha``), the output gradient's transform
  (``2 m``), the sum over the ``T`` tiles of the batch (``T``), ``G.T S G`` rounded once,
  the add into ``grads`` (1), one spare;
* input gradient: the forward's, with ``F`` channels;
* im2col: one dot product of ``kh kw C`` terms (+1 for the bias), ``T`` rows for the
  kernel gradient (+2), ``kh kw F`` for the input gradient.

Arrays are HWNC (the trainer's layout): ``xpad`` is the zero-padded input.
"""

from __future__ import annotations

import itertools

import numpy as np

from refimpl.winograd import WinogradPlan, error_bound_terms

__all__ = [
    "U32",
    "conv_bounds",
    "direct64",
    "gamma",
    "kernel_grad64",
]

U32 = 2.0**-24  # float32's unit roundoff


def gamma(k: int, u: float = U32) -> float:
    """``gamma_k = k u / (1 - k u)``."""
    return k * u / (1 - k * u)


def direct64(xpad: np.ndarray, kernel: np.ndarray, out_h: int, out_w: int) -> np.ndarray:
    """Float64 correlation of an HWNC ``xpad`` with a ``kh x kw`` kernel (vectorised
    over the offsets; tests check it against the loop twin)."""
    kh, kw = kernel.shape[:2]
    xpad = np.asarray(xpad, np.float64)
    kernel = np.asarray(kernel, np.float64)
    out = np.zeros((out_h, out_w, xpad.shape[2], kernel.shape[3]))
    for u, v in itertools.product(range(kh), range(kw)):
        out += np.einsum("hwnc,cf->hwnf", xpad[u : u + out_h, v : v + out_w], kernel[u, v])
    return out


def kernel_grad64(xpad: np.ndarray, dz: np.ndarray, kh: int = 3, kw: int = 3) -> np.ndarray:
    """Float64 ``dL/dK[u, v] = sum xpad[i + u, j + v] * dz[i, j]`` (HWIO)."""
    h, w = dz.shape[:2]
    xpad = np.asarray(xpad, np.float64)
    dz = np.asarray(dz, np.float64)
    return np.stack(
        [
            np.stack(
                [np.einsum("hwnc,hwnf->cf", xpad[u : u + h, v : v + w], dz) for v in range(kw)]
            )
            for u in range(kh)
        ]
    )


def _winograd_abs(m: int, xpad: np.ndarray, kernel: np.ndarray, h: int, w: int) -> np.ndarray:
    """The Winograd forward on absolute values with absolute transforms (float64)."""
    at, g, bt = error_bound_terms(m)
    plan = WinogradPlan(m, h, w, xpad.shape[2], xpad.shape[3], kernel.shape[3], dtype=np.float64)
    plan.at, plan.bt = at, bt
    u = np.einsum("au,uvcf,bv->abcf", g, np.abs(kernel), g)
    rows = min(xpad.shape[0], plan.padded.shape[0])
    cols = min(xpad.shape[1], plan.padded.shape[1])
    plan.padded[:rows, :cols] = np.abs(xpad[:rows, :cols])
    return plan.correlate(None, u.reshape(plan.alpha**2, *kernel.shape[2:])).copy()


def _winograd_kernel_grad_abs(m: int, xpad: np.ndarray, dz: np.ndarray) -> np.ndarray:
    at, g, bt = error_bound_terms(m)
    h, w, n, f = dz.shape
    c = xpad.shape[3]
    plan = WinogradPlan(m, h, w, n, c, f, dtype=np.float64)
    plan.at, plan.bt, plan.a = at, bt, np.ascontiguousarray(at.T)
    rows = min(xpad.shape[0], plan.padded.shape[0])
    cols = min(xpad.shape[1], plan.padded.shape[1])
    plan.padded[:rows, :cols] = np.abs(xpad[:rows, :cols])
    plan.correlate(None, np.zeros((plan.alpha**2, c, f)))  # V of |x|
    dz_plan = WinogradPlan(m, plan.th * m, plan.tw * m, n, f, 1, (1, 1, h, w), dtype=np.float64)
    dz_plan.input[...] = np.abs(dz)
    s = np.zeros((plan.alpha**2, c, f))
    plan.accumulate_kernel_gradient(dz_plan.padded, 1, 1, s)
    s4 = s.reshape(plan.alpha, plan.alpha, c, f)
    return np.einsum("au,abcf,bv->uvcf", g, s4, g)


def conv_bounds(
    algorithm: str,
    xpad: np.ndarray,
    kernel: np.ndarray,
    bias: np.ndarray | None,
    dz: np.ndarray,
    dzpad: np.ndarray,
) -> dict[str, np.ndarray]:
    """Elementwise bounds on the float32 errors of a stride-1 convolution computed by
    ``algorithm``: ``"forward"`` (pre-activation ``(h, w, n, f)``), ``"kernel"``,
    ``"bias"`` and ``"input"`` (the gradient w.r.t. the unpadded input, from ``dzpad``,
    ``dz`` zero-padded by ``k - 1 - pad``), for ``dz`` ``(h, w, n, f)``."""
    kernel = np.asarray(kernel, np.float64)
    kh, kw, c, f = kernel.shape
    h, w, n, _ = dz.shape
    x_h, x_w = dzpad.shape[0] - kh + 1, dzpad.shape[1] - kw + 1
    flipped = np.abs(kernel[::-1, ::-1].transpose(0, 1, 3, 2))
    abs_bias = 0.0 if bias is None else np.abs(np.asarray(bias, np.float64))
    outputs = h * w * n
    if algorithm == "im2col":
        forward = gamma(kh * kw * c + 1) * (direct64(np.abs(xpad), np.abs(kernel), h, w) + abs_bias)
        kernel_b = gamma(outputs + 2) * kernel_grad64(np.abs(xpad), np.abs(dz), kh, kw)
        input_b = gamma(kh * kw * f) * direct64(np.abs(dzpad), flipped, x_h, x_w)
        bias_k = outputs + 2
    else:
        m = int(algorithm.removeprefix("winograd"))
        alpha = m + 2
        tiles = (-(-h // m)) * (-(-w // m)) * n
        forward = gamma(4 * alpha + c + 2) * (_winograd_abs(m, xpad, kernel, h, w) + abs_bias)
        kernel_b = gamma(2 * alpha + 2 * m + tiles + 3) * _winograd_kernel_grad_abs(m, xpad, dz)
        input_b = gamma(4 * alpha + f + 2) * _winograd_abs(m, dzpad, flipped, x_h, x_w)
        # The bias component's row of A is all ones: its transform sums each tile's
        # m x m outputs (2 m roundings), then the tiles are summed.
        bias_k = 2 * m + tiles + 2
    bias_b = gamma(bias_k) * np.abs(np.asarray(dz, np.float64)).sum(axis=(0, 1, 2))
    return {"forward": forward, "kernel": kernel_b, "bias": bias_b, "input": input_b}
