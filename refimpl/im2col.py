"""Convolution as one matrix product: ``im2col`` (any kernel, stride and padding).

Data are ``(H, W, N, C)`` (the trainer's layout, see :mod:`refimpl.layers`), kernels
HWIO ``(kh, kw, C, F)``.  With strides ``(sh, sw)`` and the input zero-padded by
``(pt, pl)`` on the top and left::

    cols[(i, j, b), (u, v, c)] = xpad[i*sh + u, j*sw + v, b, c]            (im2col)
    z = cols @ K.reshape(kh*kw*C, F) + bias                                forward
    dL/dK = cols.T @ dL/dz                                                 kernel gradient
    dL/dbias = sum over rows of dL/dz
    dL/dx: stride 1 -- the "full" correlation of dL/dz, padded by ``k - 1 - pad``, with
           the kernel flipped in space and its channel axes swapped (im2col again);
           strided -- ``dcols = dL/dz @ K.T``, scattered back patch by patch (col2im).

The patch matrix is one copy of a strided view of the padded input.  With a bias, it has
one more column of ones and the kernel one more row holding the bias, so the product
adds the bias and the kernel-gradient product yields the bias gradient as its last row.
With few channels (``C < 8``) the copy would move runs of only ``C`` floats, so the
matrix is filled "K-major", ``(kh*kw*C + 1, H*W*N)``, moving runs of ``Wo * N`` floats,
and used transposed (BLAS takes either layout at the same speed).
"""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np

from refimpl.workspace import aligned_zeros

__all__ = ["K_MAJOR_BELOW", "Im2colPlan"]

#: Channel counts below this fill the patch matrix K-major (see the module docstring).
K_MAJOR_BELOW = 8


def _reshaped(view: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """``view`` with ``shape`` as a view; ``ValueError`` if that needs a copy."""
    out = view.view()
    try:
        out.shape = shape
    except AttributeError as exc:
        raise ValueError(f"cannot view an array of shape {view.shape} as {shape}") from exc
    return out


class Im2colPlan:
    """Buffers and passes of an im2col convolution for one geometry.

    Args: input size ``h, w``, batch ``n``, channels ``c -> f``, ``kernel_size``,
    ``strides``, ``pads = (top, bottom, left, right)``, whether there is a ``bias``.
    If any pad is non-zero, :attr:`padded` holds the input with a zero border (the
    caller writes the data into :meth:`interior`); otherwise the input is read where it
    is.  Output ``(ho, wo, n, f)``.
    """

    def __init__(
        self,
        h: int,
        w: int,
        n: int,
        c: int,
        f: int,
        kernel_size: tuple[int, int],
        strides: tuple[int, int],
        pads: tuple[int, int, int, int],
        bias: bool,
        dtype: Any = np.float32,
    ) -> None:
        (kh, kw), (sh, sw) = kernel_size, strides
        pt, pb, pl, pr = pads
        self.h, self.w, self.n, self.c, self.f = h, w, n, c, f
        self.kernel_size, self.strides, self.pads = kernel_size, strides, pads
        self.ho = (h + pt + pb - kh) // sh + 1
        self.wo = (w + pl + pr - kw) // sw + 1
        self.k = kh * kw * c
        self.width = self.k + int(bias)
        self.bias = bias
        self.k_major = c < K_MAJOR_BELOW
        self.dtype = np.dtype(dtype)
        self.padded = (
            aligned_zeros((h + pt + pb, w + pl + pr, n, c), self.dtype) if any(pads) else None
        )
        #: Where the input goes when there is padding (one view object, so that a caller
        #: handed it can be recognised), else None.
        self.input = None if self.padded is None else self.padded[pt : pt + h, pl : pl + w]
        rows = (self.ho, self.wo, n)
        if self.k_major:
            self.cols = aligned_zeros((self.width, *rows), self.dtype)
            if bias:
                self.cols[self.k] = 1
        else:
            self.cols = aligned_zeros((*rows, self.width), self.dtype)
            if bias:
                self.cols[..., self.k] = 1
        self.out = aligned_zeros((*rows, f), self.dtype)
        self.dk = aligned_zeros((self.width, f), self.dtype)
        self._views: tuple[np.ndarray, np.ndarray] | None = None
        self._dk_rows: np.ndarray | None = None
        self._dx_plan: Im2colPlan | None = None
        self._dcols: np.ndarray | None = None
        self._dxpad: np.ndarray | None = None

    def matrix(self) -> np.ndarray:
        """The patch matrix ``(ho*wo*n, width)`` (a transposed view when K-major)."""
        if self.k_major:
            return self.cols.reshape(self.width, -1).T
        return self.cols.reshape(-1, self.width)

    def _fill(self, x: np.ndarray | None) -> None:
        if self.padded is None:
            if x is None:
                raise ValueError("an unpadded im2col convolution needs its input x")
            view, target = self._patch_views(x)
        else:
            if x is not None and x is not self.input:
                np.copyto(self.input, x)  # type: ignore[arg-type]
            if self._views is None:  # the padded buffer is the plan's: made once
                self._views = self._patch_views(self.padded)
            view, target = self._views
        np.copyto(target, view)

    def _patch_views(self, src: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The strided view of ``src`` holding every patch, and where it goes in
        :attr:`cols` (the K-major or row-major order, see the module docstring)."""
        (kh, kw), (sh, sw) = self.kernel_size, self.strides
        s0, s1, s2, s3 = src.strides
        ho, wo, n, c = self.ho, self.wo, self.n, self.c
        if self.k_major:
            view = np.lib.stride_tricks.as_strided(
                src, (kh, kw, c, ho, wo, n), (s0, s1, s3, s0 * sh, s1 * sw, s2), writeable=False
            )
            return view, self.cols[: self.k].reshape(kh, kw, c, ho, wo, n)
        view = np.lib.stride_tricks.as_strided(
            src, (ho, wo, n, kh, kw, c), (s0 * sh, s1 * sw, s2, s0, s1, s3), writeable=False
        )
        return view, _reshaped(self.cols[..., : self.k], (ho, wo, n, kh, kw, c))

    def correlate(
        self, x: np.ndarray | None, kernel: np.ndarray, out: np.ndarray | None = None
    ) -> np.ndarray:
        """``z = cols @ kernel`` for the input ``x`` ``(h, w, n, c)`` (with padding, None
        or :attr:`input` itself means the caller has written it there), ``kernel``
        ``(width, f)`` (the bias as its last row if any).  Writes into ``out`` (any ``(ho, wo, n, f)`` view whose last two axes
        are contiguous, e.g. the next layer's padded input) or :attr:`out`; returns it."""
        self._fill(x)
        target = self.out if out is None else out
        if not self.k_major and target.flags.c_contiguous:
            np.matmul(self.matrix(), kernel, out=target.reshape(-1, self.f))
        else:  # one product per output row (K-major: 1.3x faster than one long product)
            ho, rest = self.ho, self.wo * self.n
            if self.k_major:
                rows = self.cols.reshape(self.width, ho, rest).transpose(1, 2, 0)
            else:
                rows = self.cols.reshape(ho, rest, self.width)
            np.matmul(rows, kernel, out=_reshaped(target, (ho, rest, self.f)))
        return target

    def kernel_gradient(self, dz: np.ndarray) -> np.ndarray:
        """``cols.T @ dz`` ``(width, f)`` for a C-contiguous ``dz`` ``(ho, wo, n, f)``
        (the bias gradient is the last row when there is a bias); a buffer of the plan."""
        dz2 = dz.reshape(-1, self.f)
        if self.k_major:  # a long, thin product: per output row, then summed (1.6x faster)
            ho = self.ho
            if self._dk_rows is None:
                self._dk_rows = aligned_zeros((ho, self.width, self.f), self.dtype)
            cols = self.cols.reshape(self.width, ho, -1).transpose(1, 0, 2)
            np.matmul(cols, dz2.reshape(ho, -1, self.f), out=self._dk_rows)
            np.sum(self._dk_rows, axis=0, out=self.dk)
        else:
            np.matmul(self.cols.reshape(-1, self.width).T, dz2, out=self.dk)
        return self.dk

    def input_gradient(self, dz: np.ndarray, kernel: np.ndarray) -> np.ndarray:
        """``dL/dx`` ``(h, w, n, c)`` for ``dz`` ``(ho, wo, n, f)`` and the HWIO ``kernel``
        (a view of a buffer of the plan)."""
        (kh, kw), (sh, sw) = self.kernel_size, self.strides
        pt, pb, pl, pr = self.pads
        n, c, f = self.n, self.c, self.f
        if sh == 1 and sw == 1:
            if self._dx_plan is None:
                full = (kh - 1 - pt, kh - 1 - pb, kw - 1 - pl, kw - 1 - pr)
                self._dx_plan = Im2colPlan(
                    self.ho, self.wo, n, f, c, (kh, kw), (1, 1), full, False, self.dtype
                )
            flipped = np.ascontiguousarray(kernel[::-1, ::-1].transpose(0, 1, 3, 2))
            return self._dx_plan.correlate(dz, flipped.reshape(kh * kw * f, c))
        if self._dcols is None:
            self._dcols = aligned_zeros((self.ho, self.wo, n, self.k), self.dtype)
            self._dxpad = aligned_zeros((self.h + pt + pb, self.w + pl + pr, n, c), self.dtype)
        assert self._dxpad is not None
        np.matmul(
            dz.reshape(-1, f), kernel.reshape(self.k, f).T, out=self._dcols.reshape(-1, self.k)
        )
        d6 = self._dcols.reshape(self.ho, self.wo, n, kh, kw, c)
        dxp = self._dxpad
        dxp.fill(0)
        hi, wi = sh * (self.ho - 1) + 1, sw * (self.wo - 1) + 1
        for u, v in itertools.product(range(kh), range(kw)):
            dxp[u : u + hi : sh, v : v + wi : sw] += d6[:, :, :, u, v, :]
        return dxp[pt : pt + self.h, pl : pl + self.w]
