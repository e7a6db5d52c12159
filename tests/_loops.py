"""Slow loop twins of the vectorised layers (tests only): the textbook sums, in float64.

Each function spells out the definition with explicit Python loops over samples,
output pixels, kernel offsets and channels, so that a vectorisation bug cannot hide
in a shared helper.  Shapes as in :mod:`refimpl.layers` (NHWC data, HWIO kernels).
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "conv2d_backward_loop",
    "conv2d_forward_loop",
    "dense_backward_loop",
    "dense_forward_loop",
    "same_padding",
]


def same_padding(size: int, k: int, s: int) -> tuple[int, int]:
    """TensorFlow's "same" padding (before, after) for one spatial axis."""
    out = -(-size // s)
    total = max((out - 1) * s + k - size, 0)
    return total // 2, total - total // 2


def _pads(x_shape, kernel_shape, strides, padding):  # type: ignore[no-untyped-def]
    _, h, w, _ = x_shape
    kh, kw = kernel_shape[:2]
    sh, sw = strides
    if padding == "same":
        (pt, _), (pl, _) = same_padding(h, kh, sh), same_padding(w, kw, sw)
        ho, wo = -(-h // sh), -(-w // sw)
    else:
        pt = pl = 0
        ho, wo = (h - kh) // sh + 1, (w - kw) // sw + 1
    return pt, pl, ho, wo


def conv2d_forward_loop(x, kernel, bias, strides=(1, 1), padding="valid"):  # type: ignore[no-untyped-def]
    """``z[b,i,j,f] = bias[f] + sum_{u,v,c} x[b, i*sh+u-pt, j*sw+v-pl, c] * K[u,v,c,f]``
    (out-of-range input pixels are zero)."""
    x = np.asarray(x, np.float64)
    kernel = np.asarray(kernel, np.float64)
    n, h, w, c = x.shape
    kh, kw, _, f = kernel.shape
    sh, sw = strides
    pt, pl, ho, wo = _pads(x.shape, kernel.shape, strides, padding)
    z = np.zeros((n, ho, wo, f))
    for b in range(n):
        for i in range(ho):
            for j in range(wo):
                for o in range(f):
                    acc = 0.0 if bias is None else float(bias[o])
                    for u in range(kh):
                        for v in range(kw):
                            p, q = i * sh + u - pt, j * sw + v - pl
                            if 0 <= p < h and 0 <= q < w:
                                for ch in range(c):
                                    acc += x[b, p, q, ch] * kernel[u, v, ch, o]
                    z[b, i, j, o] = acc
    return z


def conv2d_backward_loop(x, kernel, dz, strides=(1, 1), padding="valid"):  # type: ignore[no-untyped-def]
    """``(dL/dK, dL/dbias, dL/dx)`` for ``dL/dz``, by scattering every product term."""
    x = np.asarray(x, np.float64)
    kernel = np.asarray(kernel, np.float64)
    dz = np.asarray(dz, np.float64)
    n, h, w, c = x.shape
    kh, kw, _, f = kernel.shape
    sh, sw = strides
    pt, pl, ho, wo = _pads(x.shape, kernel.shape, strides, padding)
    dk = np.zeros_like(kernel)
    db = np.zeros(f)
    dx = np.zeros_like(x)
    for b in range(n):
        for i in range(ho):
            for j in range(wo):
                for o in range(f):
                    g = dz[b, i, j, o]
                    db[o] += g
                    for u in range(kh):
                        for v in range(kw):
                            p, q = i * sh + u - pt, j * sw + v - pl
                            if 0 <= p < h and 0 <= q < w:
                                for ch in range(c):
                                    dk[u, v, ch, o] += x[b, p, q, ch] * g
                                    dx[b, p, q, ch] += kernel[u, v, ch, o] * g
    return dk, db, dx


def dense_forward_loop(x, kernel, bias):  # type: ignore[no-untyped-def]
    """``z[b,o] = bias[o] + sum_i x[b,i] * K[i,o]``."""
    x = np.asarray(x, np.float64)
    n, d = x.shape
    units = kernel.shape[1]
    z = np.zeros((n, units))
    for b in range(n):
        for o in range(units):
            acc = 0.0 if bias is None else float(bias[o])
            for i in range(d):
                acc += x[b, i] * float(kernel[i, o])
            z[b, o] = acc
    return z


def dense_backward_loop(x, kernel, dz):  # type: ignore[no-untyped-def]
    """``(dL/dK, dL/dbias, dL/dx)`` for ``dL/dz``."""
    x = np.asarray(x, np.float64)
    n, d = x.shape
    units = kernel.shape[1]
    dk = np.zeros((d, units))
    db = np.zeros(units)
    dx = np.zeros((n, d))
    for b in range(n):
        for o in range(units):
            g = float(dz[b, o])
            db[o] += g
            for i in range(d):
                dk[i, o] += x[b, i] * g
                dx[b, i] += float(kernel[i, o]) * g
    return dk, db, dx
