"""Slow loop twins of the vectorised layers (tests only): the textbook sums, in float64.

Each function spells out the definition with explicit Python loops over samples,
output pixels, kernel offsets and channels, so that a vectorisation bug cannot hide
in a shared helper.  Shapes as in :mod:`refimpl.layers` (NHWC data, HWIO kernels).
The activations' twins work on pre-activations ``z`` of any shape ``(..., classes)``
(softmax over the last axis); ``activation_loop``/``activation_backward_loop`` pick one
by the layers' activation name.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = [
    "activation_backward_loop",
    "activation_loop",
    "conv2d_backward_loop",
    "conv2d_forward_loop",
    "dense_backward_loop",
    "dense_forward_loop",
    "flatten_backward_loop",
    "flatten_forward_loop",
    "relu_backward_loop",
    "relu_loop",
    "same_padding",
    "softmax_backward_loop",
    "softmax_loop",
    "winograd_correlate_loop",
    "winograd_kernel_gradient_loop",
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


def flatten_forward_loop(x):  # type: ignore[no-untyped-def]
    """``out[b, k]`` with ``k`` the C-order (row-major) position of ``x[b, i1, i2, ...]``:
    ``k = (...((i1 * d2 + i2) * d3 + i3)...)``."""
    x = np.asarray(x, np.float64)
    dims = x.shape[1:]
    out = np.zeros((x.shape[0], math.prod(dims)))
    for b in range(x.shape[0]):
        for idx in np.ndindex(*dims):
            k = 0
            for i, d in zip(idx, dims):
                k = k * d + i
            pixel = (b, *idx)
            out[b, k] = x[pixel]
    return out


def flatten_backward_loop(dy, x_shape):  # type: ignore[no-untyped-def]
    """``dL/dx[b, i1, i2, ...] = dL/dy[b, k]`` for the same ``k`` as the forward twin."""
    dy = np.asarray(dy, np.float64)
    dims = tuple(x_shape[1:])
    dx = np.zeros(tuple(x_shape))
    for b in range(x_shape[0]):
        for idx in np.ndindex(*dims):
            k = 0
            for i, d in zip(idx, dims):
                k = k * d + i
            pixel = (b, *idx)
            dx[pixel] = dy[b, k]
    return dx


def relu_loop(z):  # type: ignore[no-untyped-def]
    """``y = z`` where ``z > 0``, else ``0``."""
    z = np.asarray(z, np.float64)
    y = np.zeros_like(z)
    for idx in np.ndindex(*z.shape):
        if z[idx] > 0:
            y[idx] = z[idx]
    return y


def relu_backward_loop(dy, z):  # type: ignore[no-untyped-def]
    """``dL/dz = dL/dy`` where ``z > 0``, else ``0`` (derivative 0 at 0, as TensorFlow)."""
    z = np.asarray(z, np.float64)
    dz = np.zeros_like(z)
    for idx in np.ndindex(*z.shape):
        if z[idx] > 0:
            dz[idx] = dy[idx]
    return dz


def softmax_loop(z):  # type: ignore[no-untyped-def]
    """``s_i = exp(z_i - m) / sum_j exp(z_j - m)`` over the last axis, ``m = max_j z_j``."""
    z = np.asarray(z, np.float64)
    s = np.zeros_like(z)
    for row in np.ndindex(*z.shape[:-1]):
        m = max(float(v) for v in z[row])
        e = [math.exp(float(v) - m) for v in z[row]]
        total = sum(e)
        for i, ei in enumerate(e):
            at = (*row, i)
            s[at] = ei / total
    return s


def softmax_backward_loop(dy, s):  # type: ignore[no-untyped-def]
    """``dL/dz_i = sum_j dL/dy_j * ds_j/dz_i`` with the Jacobian
    ``ds_j/dz_i = s_j * ([i == j] - s_i)`` written out, over the last axis."""
    s = np.asarray(s, np.float64)
    dz = np.zeros_like(s)
    classes = s.shape[-1]
    for row in np.ndindex(*s.shape[:-1]):
        for i in range(classes):
            at_i, acc = (*row, i), 0.0
            for j in range(classes):
                at_j = (*row, j)
                jac = s[at_j] * ((1.0 if i == j else 0.0) - s[at_i])
                acc += float(dy[at_j]) * jac
            dz[at_i] = acc
    return dz


def activation_loop(z, activation):  # type: ignore[no-untyped-def]
    """``y = activation(z)`` for ``"linear"``, ``"relu"`` or ``"softmax"``."""
    if activation == "relu":
        return relu_loop(z)
    if activation == "softmax":
        return softmax_loop(z)
    assert activation == "linear", activation
    return np.array(z, np.float64)


def activation_backward_loop(dy, z, activation):  # type: ignore[no-untyped-def]
    """``dL/dz`` for ``dL/dy`` and the pre-activation ``z``."""
    if activation == "relu":
        return relu_backward_loop(dy, z)
    if activation == "softmax":
        return softmax_backward_loop(dy, softmax_loop(z))
    assert activation == "linear", activation
    return np.array(dy, np.float64)


def _tile_transform(mat, tile):  # type: ignore[no-untyped-def]
    """``mat @ tile @ mat.T`` written out: ``out[a, b] = sum_{k, l} P[a, k] P[b, l] t[k, l]``."""
    rows, cols = len(mat), len(mat[0])
    out = np.zeros((rows, rows))
    for a in range(rows):
        for b in range(rows):
            acc = 0.0
            for k in range(cols):
                for j in range(cols):
                    acc += float(mat[a][k]) * float(mat[b][j]) * tile[k][j]
            out[a, b] = acc
    return out


def winograd_correlate_loop(xpad, kernel, m, at, g, bt, out_h, out_w):  # type: ignore[no-untyped-def]
    """Winograd's algorithm tile by tile, in float64: for every ``m x m`` output tile
    ``(ti, tj)``, sample ``b`` and output channel ``f``::

        d_c = xpad[ti*m : ti*m + alpha, tj*m : tj*m + alpha, b, c]     (alpha x alpha)
        M   = sum_c (G @ K[:, :, c, f] @ G.T) * (BT @ d_c @ BT.T)      (elementwise)
        out[ti*m : ti*m + m, tj*m : tj*m + m, b, f] = AT @ M @ AT.T

    ``xpad`` is ``(H, W, N, C)`` (HWNC), zero beyond the data; ``at``, ``g``, ``bt`` the
    transform matrices; the result is cropped to ``(out_h, out_w)``.
    """
    xpad = np.asarray(xpad, np.float64)
    kernel = np.asarray(kernel, np.float64)
    alpha = m + 2
    _, _, n, c = xpad.shape
    f = kernel.shape[3]
    th, tw = -(-out_h // m), -(-out_w // m)
    out = np.zeros((th * m, tw * m, n, f))
    u = [[_tile_transform(g, kernel[:, :, ci, fi]) for fi in range(f)] for ci in range(c)]
    for ti in range(th):
        for tj in range(tw):
            for b in range(n):
                v = [
                    _tile_transform(
                        bt, xpad[ti * m : ti * m + alpha, tj * m : tj * m + alpha, b, ci]
                    )
                    for ci in range(c)
                ]
                for fi in range(f):
                    prod = np.zeros((alpha, alpha))
                    for ci in range(c):
                        for a in range(alpha):
                            for bb in range(alpha):
                                prod[a, bb] += u[ci][fi][a, bb] * v[ci][a, bb]
                    y = _tile_transform(at, prod)
                    out[ti * m : ti * m + m, tj * m : tj * m + m, b, fi] = y
    return out[:out_h, :out_w]


def winograd_kernel_gradient_loop(xpad, dz, m, at, g, bt):  # type: ignore[no-untyped-def]
    """``dL/dK`` of the tile-by-tile algorithm, in float64, as the adjoint of
    :func:`winograd_correlate_loop`: per tile, sample and channels
    ``S[c, f] += (BT @ d_c @ BT.T) * (A @ dz_f @ A.T)`` with ``A = AT.T`` (``dz`` zero
    beyond its ``(out_h, out_w)``), then ``dK[:, :, c, f] = G.T @ S[c, f] @ G``."""
    xpad = np.asarray(xpad, np.float64)
    dz = np.asarray(dz, np.float64)
    alpha = m + 2
    out_h, out_w, n, f = dz.shape
    c = xpad.shape[3]
    th, tw = -(-out_h // m), -(-out_w // m)
    dzt = np.zeros((th * m, tw * m, n, f))
    dzt[:out_h, :out_w] = dz
    a_mat = [list(col) for col in zip(*at)]  # A = AT.T, alpha x m
    g_t = [list(col) for col in zip(*g)]  # G.T, 3 x alpha
    s = np.zeros((c, f, alpha, alpha))
    for ti in range(th):
        for tj in range(tw):
            for b in range(n):
                for ci in range(c):
                    v = _tile_transform(
                        bt, xpad[ti * m : ti * m + alpha, tj * m : tj * m + alpha, b, ci]
                    )
                    for fi in range(f):
                        mg = _tile_transform(
                            a_mat, dzt[ti * m : ti * m + m, tj * m : tj * m + m, b, fi]
                        )
                        s[ci, fi] += v * mg
    dk = np.zeros((3, 3, c, f))
    for ci in range(c):
        for fi in range(f):
            dk[:, :, ci, fi] = _tile_transform(g_t, s[ci, fi])
    return dk
