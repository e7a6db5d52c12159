"""Winograd minimal filtering: 3x3, stride-1 convolutions by ``F(m x m, 3 x 3)`` tiles.

A convolution layer (Keras's ``Conv2D``) computes the *correlation*
``y[i, j] = sum_{u, v} d[i + u, j + v] * g[u, v]``.  Winograd's minimal filtering
algorithm ``F(m, r)`` (Lavin and Gray, "Fast Algorithms for Convolutional Neural
Networks", CVPR 2016, arXiv:1509.09308) computes ``m`` outputs of an ``r``-tap
correlation from ``alpha = m + r - 1`` inputs with ``alpha`` multiplications instead of
``m * r``::

    y = AT @ ((G @ g) * (BT @ d))                       # 1-D, shapes (m,), (r,), (alpha,)
    Y = AT @ ((G @ g @ G.T) * (BT @ d @ BT.T)) @ AT.T   # 2-D, one m x m output tile

and nests for two dimensions.  With ``C`` input and ``F`` output channels the products
become ``alpha**2`` independent matrix products (one per "component" ``(a, b)``), summed
over the channels::

    V[a, b, tile, c] = (BT @ d[tile, :, :, c] @ BT.T)[a, b]          input transform
    U[a, b, c, f]    = (G @ g[:, :, c, f] @ G.T)[a, b]               kernel transform
    M[a, b, tile, f] = sum_c V[a, b, tile, c] * U[a, b, c, f]        alpha**2 matmuls
    Y[tile, :, :, f] = AT @ M[:, :, tile, f] @ AT.T                  output transform

``F(2x2, 3x3)`` needs 16 multiplications per 4 outputs (2.25x fewer than 36),
``F(4x4, 3x3)`` 36 per 16 (4x fewer).  The transforms cost additions and data movement,
and the larger tile is less accurate (see :func:`error_bound_terms`).

**Derivation** (:func:`transforms`), the Toom-Cook construction: choose ``alpha - 1``
distinct finite interpolation points and the point at infinity.  Let ``E_k`` be the
``alpha x k`` matrix evaluating a polynomial of degree ``k - 1`` at the points (row
``[1, p, p**2, ...]`` for a point ``p``; ``[0, ..., 0, 1]``, the leading coefficient, at
infinity).  Polynomial multiplication ``s = g * h`` (``h`` of degree ``m - 1``) is then
``s = inv(E_alpha) @ ((E_r @ g) * (E_m @ h))``; the correlation is its transpose
(``y = M(g).T @ d`` where ``M(g)`` is the multiplication matrix), so::

    AT = E_m.T,   G = E_r,   BT = inv(E_alpha).T

computed here exactly with :class:`fractions.Fraction`.  Each row ``i`` of ``BT`` is
then scaled by ``s_i`` so that its entries are coprime integers, and row ``i`` of ``G``
divided by ``s_i`` (the product is unchanged): the fractions move to ``G``, which is
applied once per kernel instead of once per tile, as in Lavin and Gray's matrices.
With the points ``0, 1, -1`` (and infinity):

>>> t = transforms(2)
>>> print(format_matrix(t.AT)); print(format_matrix(t.G)); print(format_matrix(t.BT))
 1  1  1  0
 0  1 -1  1
   1    0    0
 1/2  1/2  1/2
 1/2 -1/2  1/2
   0    0    1
 1  0 -1  0
 0  1  1  0
 0 -1  1  0
 0 -1  0  1

and ``0, 1, -1, 1/2, -2`` (see :data:`POINTS`; with ``0, 1, -1, 2, -2`` this gives
Lavin and Gray's matrices, up to signs that cancel):

>>> t = transforms(4)
>>> print(format_matrix(t.AT)); print(format_matrix(t.G)); print(format_matrix(t.BT))
  1   1   1   1   1   0
  0   1  -1 1/2  -2   0
  0   1   1 1/4   4   0
  0   1  -1 1/8  -8   1
  1/2     0     0
  1/6   1/6   1/6
  1/6  -1/6   1/6
16/15  8/15  4/15
 1/30 -1/15  2/15
    0     0   1/2
 2 -3 -4  3  2  0
 0 -2  1  5  2  0
 0 -2  5 -1 -2  0
 0  2  1 -2 -1  0
 0  1 -2 -1  2  0
 0  2 -3 -4  3  2

**Layout.**  Images are ``(H, W, N, C)`` here (the trainer's layout, see
:mod:`refimpl.layers`): every slice of a tile keeps runs of ``N * C`` contiguous floats,
so each transform is a few batched ``np.matmul`` calls on strided views of the padded
input (NumPy calls BLAS once per small matrix; the call count, not the arithmetic, is
what a transform costs).  :class:`WinogradPlan` holds every buffer for one shape and
runs the three passes a layer needs:

* forward: ``z = correlate(xpad, K) + bias``  (:meth:`WinogradPlan.correlate`);
* input gradient: the same correlation of the output gradient, zero-padded by
  ``kernel - 1 - padding``, with the kernel flipped in space and its channel axes swapped
  (:func:`flipped_kernel`), run by a second plan;
* kernel gradient in the Winograd domain: ``S[a, b] += V[a, b].T @ (A @ dZ @ A.T)[a, b]``
  over every tile of the batch (:meth:`WinogradPlan.accumulate_kernel_gradient`), then
  once per batch ``dK = G.T @ S @ G`` (:meth:`WinogradPlan.kernel_gradient`): the exact
  gradient of the Winograd forward (``dL/dU = (A dY A.T) * V``, ``dL/dg = G.T dL/dU G``).

The bias is folded into the component ``(1, 1)`` (the point 1): its column of ``AT`` is
all ones, so adding ``bias`` to ``M[1, 1]`` adds it to every output of the tile, and the
bias gradient is the sum of that component of ``A @ dZ @ A.T``.

**Accuracy: errors are not local.**  Im2col's error in an output comes from that
output's own 3x3 window; ``F(2x2, 3x3)`` with the points ``0, 1, -1`` has the same
property (each output uses the components of rows of ``BT`` that touch only its
window), so an all-zero window gives exactly the bias.  ``F(4x4, 3x3)`` does not: every
output uses five of the six components of each axis, which mix the whole 6x6 tile, so
a rounding error in ``V``, ``U`` or ``M`` (each one alone, measured) reaches every output
of the tile.  Where a tile holds object pixels of ~100 beside black background (the
lesson's images are fed raw 0-255), the background outputs -- exactly the bias, 0 at
initialisation, ~1e-4 later -- get float32 noise of ~1e-4, and their ReLU opens or
closes at random: 28,004 of 802,816 of the lesson's conv2 outputs at step 0, 100-300 a
step later (the exact convolution and im2col: none), a systematic O(1) change of the
gradient that took the trained weights 0.06-0.8 away from Keras's.  Hence
``WinogradPlan(forward_dtype=float64)`` (what ``Conv2D(algorithm="winograd4")`` uses):
the forward's transforms and products run in float64, outputs whose window is all zeros
are set to the bias exactly, and the result is rounded once to float32 (max error 3e-8
of the largest output against float32 F(4x4)'s 1.2e-6; 0 flips).  The gradients stay
float32 (``V`` rounded once for the kernel gradient): their errors, 1-4x im2col's, change
no decision by themselves.
"""

from __future__ import annotations

import functools
import itertools
import math
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import numpy as np

from refimpl.workspace import aligned_zeros

__all__ = [
    "POINTS",
    "Transforms",
    "WinogradPlan",
    "error_bound_terms",
    "flipped_kernel",
    "format_matrix",
    "kernel_gradient",
    "transform_kernel",
    "transforms",
]

#: Finite interpolation points, in the order they are used: ``F(m, 3)`` takes the first
#: ``m + 1`` (and infinity).  ``F(2x2, 3x3)`` gets Lavin and Gray's ``0, 1, -1``.  For
#: ``F(4x4, 3x3)`` the fifth point was chosen by measurement among ``2, -2, 1/2, -1/2``
#: (float32 errors against float64 on the lesson's second layer, printed by
#: ``tests/test_winograd.py``): ``0, 1, -1, 1/2, -2`` gives about 3x smaller errors than
#: Lavin and Gray's ``0, 1, -1, 2, -2`` (forward 1.3e-6 against 4.4e-6 of the largest
#: output) at the same cost.  Choosing points for accuracy is studied by Barabasz,
#: Anderson, Soodhalter and Gregg, "Error analysis and improving the accuracy of
#: Winograd convolution for deep neural networks", ACM TOMS 46(4), 2020.
POINTS: tuple[Fraction, ...] = tuple(
    Fraction(p) for p in (0, 1, -1, Fraction(1, 2), -2, 2, Fraction(-1, 2))
)

Matrix = tuple[tuple[Fraction, ...], ...]


def _evaluation(points: tuple[Fraction | None, ...], n: int) -> list[list[Fraction]]:
    """``E_n``: row ``[1, p, ..., p**(n-1)]`` per finite point, ``[0, ..., 0, 1]`` for
    ``None`` (infinity: the leading coefficient)."""
    return [
        [Fraction(int(j == n - 1)) for j in range(n)] if p is None else [p**j for j in range(n)]
        for p in points
    ]


def _inverse(matrix: list[list[Fraction]]) -> list[list[Fraction]]:
    """Exact inverse by Gauss-Jordan elimination (the matrix is a Vandermonde variant,
    invertible for distinct points)."""
    n = len(matrix)
    rows = [list(r) + [Fraction(int(i == j)) for j in range(n)] for i, r in enumerate(matrix)]
    for col in range(n):
        pivot = next(r for r in range(col, n) if rows[r][col] != 0)
        rows[col], rows[pivot] = rows[pivot], rows[col]
        head = rows[col][col]
        rows[col] = [v / head for v in rows[col]]
        for r in range(n):
            if r != col and rows[r][col] != 0:
                factor = rows[r][col]
                rows[r] = [a - factor * b for a, b in zip(rows[r], rows[col], strict=True)]
    return [r[n:] for r in rows]


def _transpose(matrix: list[list[Fraction]]) -> list[list[Fraction]]:
    return [list(col) for col in zip(*matrix, strict=True)]


@dataclass(frozen=True)
class Transforms:
    """The exact matrices of ``F(m x m, r x r)``: ``AT`` ``(m, alpha)``, ``G``
    ``(alpha, r)``, ``BT`` ``(alpha, alpha)`` with ``alpha = m + r - 1``, and the index of
    the component whose output-transform column is all ones (used for the bias)."""

    m: int
    r: int
    points: tuple[Fraction, ...]
    AT: Matrix
    G: Matrix
    BT: Matrix
    ones: int

    @property
    def alpha(self) -> int:
        """Tile size of the input, ``m + r - 1``."""
        return self.m + self.r - 1

    def arrays(self, dtype: Any = np.float64) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(AT, G, BT)`` as arrays of ``dtype`` (rounded once from the exact values)."""
        return tuple(  # type: ignore[return-value]
            np.array([[float(v) for v in row] for row in mat], dtype=dtype)
            for mat in (self.AT, self.G, self.BT)
        )


@functools.cache
def transforms(m: int, r: int = 3, points: tuple[Fraction, ...] | None = None) -> Transforms:
    """The transforms of ``F(m x m, r x r)`` from ``m + r - 2`` finite interpolation
    ``points`` (default: the first of :data:`POINTS`) and infinity, derived exactly (see
    the module docstring).

    >>> t = transforms(4)
    >>> t.alpha, t.ones, [str(p) for p in t.points]
    (6, 1, ['0', '1', '-1', '1/2', '-2'])
    """
    if not isinstance(m, int) or not isinstance(r, int) or m < 1 or r < 1:
        raise ValueError(
            f"Arguments `m` and `r` must be positive integers. Received: m={m!r}, r={r!r}"
        )
    alpha = m + r - 1
    available = POINTS if points is None else tuple(Fraction(p) for p in points)
    if alpha - 1 > len(available) or len(set(available)) != len(available):
        raise ValueError(
            f"F({m}, {r}) needs {alpha - 1} distinct finite points. Received: m={m}, r={r}, "
            f"points={[str(p) for p in available]}"
        )
    finite = available[: alpha - 1]
    with_infinity: tuple[Fraction | None, ...] = (*finite, None)
    at = _transpose(_evaluation(with_infinity, m))
    g = _evaluation(with_infinity, r)
    bt = _transpose(_inverse(_evaluation(with_infinity, alpha)))
    for i in range(alpha):  # integers in BT, the fractions in G
        scale = Fraction(
            math.lcm(*(v.denominator for v in bt[i])), math.gcd(*(v.numerator for v in bt[i]))
        )
        bt[i] = [v * scale for v in bt[i]]
        g[i] = [v / scale for v in g[i]]
    ones = next(j for j in range(alpha) if all(at[i][j] == 1 for i in range(m)))
    return Transforms(
        m=m,
        r=r,
        points=finite,
        AT=tuple(tuple(row) for row in at),
        G=tuple(tuple(row) for row in g),
        BT=tuple(tuple(row) for row in bt),
        ones=ones,
    )


def format_matrix(matrix: Matrix) -> str:
    """Rows of exact entries, right-aligned in columns of equal width."""
    cells = [[str(v) for v in row] for row in matrix]
    width = max(len(c) for row in cells for c in row)
    return "\n".join(" ".join(c.rjust(width) for c in row) for row in cells)


def flipped_kernel(kernel: np.ndarray) -> np.ndarray:
    """``K'[u, v, f, c] = K[kh-1-u, kw-1-v, c, f]``: the kernel whose correlation with the
    padded output gradient is the input gradient (a view; ``kernel`` is HWIO)."""
    return kernel[::-1, ::-1].transpose(0, 1, 3, 2)


def transform_kernel(
    m: int, kernel: np.ndarray, out: np.ndarray | None = None, dtype: Any = np.float32
) -> np.ndarray:
    """``U[a*alpha + b, c, f] = (G @ K[:, :, c, f] @ G.T)[a, b]`` for an HWIO ``kernel``
    ``(3, 3, C, F)``, computed in float64 and rounded once (into ``out`` if given, an
    ``(alpha**2, C, F)`` array, else a new array of ``dtype``).

    >>> u = transform_kernel(2, np.ones((3, 3, 1, 1)))
    >>> u.shape, u[:, 0, 0].tolist()   # G @ ones @ G.T
    ((16, 1, 1), [1.0, 1.5, 0.5, 1.0, 1.5, 2.25, 0.75, 1.5, 0.5, 0.75, 0.25, 0.5, 1.0, 1.5, 0.5, 1.0])
    """
    k = np.asarray(kernel, np.float64)
    u = _kron_g(m) @ k.reshape(9, -1)  # one product: (alpha**2, 9) @ (9, C*F)
    u = u.reshape(u.shape[0], *k.shape[2:])
    if out is None:
        return np.ascontiguousarray(u, dtype=dtype)
    np.copyto(out, u)
    return out


@functools.cache
def _kron_g(m: int) -> np.ndarray:
    """``kron(G, G)`` ``(alpha**2, 9)``: ``vec(G @ g @ G.T) = kron(G, G) @ vec(g)``."""
    g = transforms(m, 3).arrays(np.float64)[1]
    out = np.kron(g, g)
    out.flags.writeable = False
    return out


def kernel_gradient(m: int, s: np.ndarray) -> np.ndarray:
    """``dK[u, v, c, f] = (G.T @ S[:, :, c, f] @ G)[u, v]`` in float64 for ``S``
    ``(alpha**2, C, F)`` as :meth:`WinogradPlan.accumulate_kernel_gradient` sums it: the
    adjoint of :func:`transform_kernel`."""
    s2 = np.asarray(s, np.float64).reshape(s.shape[0], -1)
    return (_kron_g(m).T @ s2).reshape(3, 3, *s.shape[1:])


def error_bound_terms(m: int, r: int = 3) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(|AT|, |G|, |BT|)`` in float64, for the rounding-error bounds of the tests.

    Every stage (kernel, input and output transforms, the products) is a sum of products
    computed in floating point; its error is at most ``gamma_k = k u / (1 - k u)`` times
    the same sums taken over absolute values (Higham, *Accuracy and Stability of
    Numerical Algorithms*, 2nd ed., section 3.1), ``k`` the number of terms.  Run the
    algorithm on ``|d|``, ``|g|`` and these matrices to get the sums the bound scales.
    """
    at, g, bt = transforms(m, r).arrays(np.float64)
    return np.abs(at), np.abs(g), np.abs(bt)


class WinogradPlan:
    """Buffers and passes of ``F(m x m, 3 x 3)`` for one shape (``(H, W, N, C)`` data).

    The plan correlates a zero-padded input ``xpad`` of ``(out_h + 2, out_w + 2)`` pixels
    (the buffer :attr:`padded`, whose border the caller leaves at zero) with a 3x3 kernel
    of ``in_channels -> out_channels``, giving ``out`` of shape ``(out_h, out_w, N,
    out_channels)``.  Outputs are computed in whole tiles: :attr:`padded` is
    ``(th * m + 2, tw * m + 2, N, C)`` with ``th = ceil(out_h / m)``, and rows and columns
    beyond the data must stay zero.  ``dtype`` (buffers, the kernel gradient) is float32
    in the trainer; the tests run the same code in float64.  ``forward_dtype`` (default
    ``dtype``) is the precision of :meth:`correlate`: float64 for F(4x4) in the trainer
    (see "Accuracy" in the module docstring), whose ``u`` must then be float64 too.
    """

    def __init__(
        self,
        m: int,
        out_h: int,
        out_w: int,
        n: int,
        in_channels: int,
        out_channels: int,
        input_region: tuple[int, int, int, int] | None = None,
        dtype: Any = np.float32,
        forward_dtype: Any = None,
    ) -> None:
        t = transforms(m, 3)
        self.m, self.alpha, self.ones = m, t.alpha, t.ones
        self.out_h, self.out_w, self.n = out_h, out_w, n
        self.in_channels, self.out_channels = in_channels, out_channels
        self.dtype = np.dtype(dtype)
        #: Precision of :meth:`correlate` (default :attr:`dtype`); see the module
        #: docstring's "Accuracy" for why the trainer runs F(4x4)'s forward in float64.
        self.forward_dtype = np.dtype(dtype if forward_dtype is None else forward_dtype)
        mixed = self.forward_dtype != self.dtype
        at, _, bt = t.arrays(np.float64)
        self.at = at.astype(self.forward_dtype)  # the forward's matrices
        self.bt = bt.astype(self.forward_dtype)
        self.a = np.ascontiguousarray(at.T, dtype=self.dtype)  # (alpha, m): A @ dZ @ A.T
        a = self.alpha
        self.th, self.tw = -(-out_h // m), -(-out_w // m)
        th, tw = self.th, self.tw
        self.tiles = th * tw * n
        empty = functools.partial(aligned_zeros, dtype=self.dtype)
        wide = functools.partial(aligned_zeros, dtype=self.forward_dtype)
        self.padded = empty((th * m + 2, tw * m + 2, n, in_channels))
        self._padded_f = wide(self.padded.shape) if mixed else self.padded
        self._rows = wide((th, a, (tw * m + 2) * n * in_channels))  # after the row pass
        self.v = empty((a, a, th, tw, n, in_channels))  # transformed input (kept)
        self._v_f = wide(self.v.shape) if mixed else self.v
        self._v_stale = False  # mixed: self.v not yet rounded from self._v_f
        self.products = wide((a * a, self.tiles, out_channels))
        self._cols = wide((m, a, th, tw, n * out_channels))
        self.out = empty((th * m, tw * m, n, out_channels))
        self._out_f = wide(self.out.shape) if mixed else self.out
        # mixed: where the 3x3 window of the input holds only zeros (see correlate)
        self._nonzero = np.zeros((th * m + 2, tw * m + 2, n, in_channels), bool) if mixed else None
        self._window = np.zeros((th * m + 2, tw * m + 2, n), bool) if mixed else None
        self._support = np.zeros((th * m, tw * m, n, 1), bool) if mixed else None
        top, left, h, w = (1, 1, out_h, out_w) if input_region is None else input_region
        if top < 0 or left < 0 or top + h > self.padded.shape[0] or left + w > self.padded.shape[1]:
            raise ValueError(
                f"input_region={input_region} does not fit the padded input of shape "
                f"{self.padded.shape[:2]}"
            )
        #: The ``(h, w, N, C)`` view of :attr:`padded` where the input goes, at
        #: ``input_region = (top, left, h, w)`` (default ``(1, 1, out_h, out_w)``: "same"
        #: padding).  One view object, so that a caller handed it can be recognised.
        self.input = self.padded[top : top + h, left : left + w]
        self.input_region = (top, left, h, w)
        self._dz_rows: np.ndarray | None = None
        self._dz_v: np.ndarray | None = None
        self._s_part: np.ndarray | None = None
        # strided views per (source, buffers, offsets); the sources are kept alive by
        # the views themselves, so their ids stay valid
        self._views: dict[tuple[int, ...], tuple[np.ndarray, ...]] = {}

    # -- forward ------------------------------------------------------------------------
    def _tile_pass(
        self,
        src: np.ndarray,
        row0: int,
        col0: int,
        size: int,
        matrix: np.ndarray,
        rows_tmp: np.ndarray,
        out6: np.ndarray,
    ) -> None:
        """``out6[a, b, i, j] = sum_{k, l} P[a, k] P[b, l] src[row0 + i*m + k, col0 + j*m + l]``
        for ``size x size`` tiles at stride ``m`` (``P = matrix``, ``(alpha, size)``);
        ``src`` is ``(rows, cols, N, C)`` with contiguous rows, ``out6`` is
        ``(alpha, alpha, th, tw, N, C)``.  Two batched matmuls: over tile rows, then over
        tile columns."""
        key = (id(src), id(rows_tmp), id(out6), row0, col0, size)
        views = self._views.get(key)
        if views is None:  # the buffers are the plan's: their views are made once
            views = self._tile_views(src, row0, col0, size, matrix.shape[0], rows_tmp, out6)
            self._views[key] = views
        tiles_rows, rows_out, tiles, out = views
        np.matmul(matrix, tiles_rows, out=rows_out)
        np.matmul(matrix, tiles, out=out)

    def _tile_views(
        self,
        src: np.ndarray,
        row0: int,
        col0: int,
        size: int,
        alpha: int,
        rows_tmp: np.ndarray,
        out6: np.ndarray,
    ) -> tuple[np.ndarray, ...]:
        """The strided views :meth:`_tile_pass` multiplies and writes (checked: a view
        beyond the buffer would read memory that is not its own)."""
        m, th, tw = self.m, self.th, self.tw
        if (
            row0 + (th - 1) * m + size > src.shape[0]
            or col0 + (tw - 1) * m + size > src.shape[1]
            or not src.flags.c_contiguous
            or rows_tmp.shape[2] != src[0].size
        ):
            raise ValueError(
                f"tiles of {size} at stride {m} from ({row0}, {col0}) do not fit a contiguous "
                f"buffer of shape {src.shape}"
            )
        s_row = src.strides[0]
        row_len = src[0].size
        item = src.itemsize
        tiles_rows = np.lib.stride_tricks.as_strided(
            src[row0:], (th, size, row_len), (m * s_row, s_row, item), writeable=False
        )
        rows_out = rows_tmp[:, :alpha, :row_len]
        nc = src.shape[2] * src.shape[3]
        base = rows_tmp[:, :alpha, col0 * nc :]
        tiles = np.lib.stride_tricks.as_strided(
            base,
            (th, alpha, tw, size, nc),
            (rows_tmp.strides[0], rows_tmp.strides[1], m * nc * item, nc * item, item),
            writeable=False,
        )
        out = out6.reshape(alpha, alpha, th, tw, nc).transpose(2, 0, 3, 1, 4)
        return tiles_rows, rows_out, tiles, out

    def correlate(
        self,
        x: np.ndarray | None,
        u: np.ndarray,
        bias: np.ndarray | None = None,
        out: np.ndarray | None = None,
    ) -> np.ndarray:
        """``z[i, j, n, f] = bias[f] + sum_{u, v, c} padded[i + u, j + v, n, c] * K[u, v, c, f]``
        for ``U = transform_kernel(m, K)`` (of :attr:`forward_dtype`), after copying ``x``
        into :attr:`input` (None or :attr:`input` itself: already there).

        Returns the ``(out_h, out_w, N, F)`` view of :attr:`out`, or ``out`` itself if
        given (any view whose last two axes are contiguous, e.g. the next layer's padded
        input; its size must be whole tiles).  The transformed input stays in :attr:`v`
        for the kernel gradient.

        With a wider :attr:`forward_dtype` than :attr:`dtype` (mixed precision), the
        input is widened, every stage runs in :attr:`forward_dtype`, outputs whose 3x3
        input window is all zeros are set to ``bias`` exactly (their exact value: the
        transforms would leave rounding noise there, see the module docstring), and the
        result is rounded once to :attr:`dtype`.
        """
        if x is not None and x is not self.input:
            np.copyto(self.input, x)
        a, m, th, tw = self.alpha, self.m, self.th, self.tw
        mixed = self._padded_f is not self.padded
        if mixed:
            np.copyto(self._padded_f, self.padded)
        self._tile_pass(self._padded_f, 0, 0, a, self.bt, self._rows, self._v_f)
        self._v_stale = mixed
        np.matmul(self._v_f.reshape(a * a, self.tiles, self.in_channels), u, out=self.products)
        if bias is not None:
            self.products[self.ones * a + self.ones] += bias
        nf = self.n * self.out_channels
        np.matmul(self.at, self.products.reshape(a, -1), out=self._cols.reshape(m, -1))
        if out is None or mixed:
            target = self._out_f.reshape(th, m, tw, m, nf)
        else:
            target = out.view()
            target.shape = (th, m, tw, m, nf)  # AttributeError if not a view: a caller's bug
        np.matmul(self.at, self._cols.transpose(2, 0, 3, 1, 4), out=target)
        if mixed:
            self._zero_windows_to_bias(bias)
            np.copyto(self.out if out is None else out, self._out_f)
        return self.out[: self.out_h, : self.out_w] if out is None else out

    def _zero_windows_to_bias(self, bias: np.ndarray | None) -> None:
        """``out_f[i, j, n] = bias`` where ``padded[i:i+3, j:j+3, n]`` is all zeros."""
        assert self._nonzero is not None
        assert self._window is not None
        assert self._support is not None
        np.not_equal(self.padded, 0, out=self._nonzero)
        np.any(self._nonzero, axis=3, out=self._window)
        h, w = self._support.shape[:2]
        support = self._support[..., 0]
        np.copyto(support, self._window[:h, :w])
        for du, dv in itertools.product(range(3), range(3)):
            if du or dv:
                support |= self._window[du : du + h, dv : dv + w]
        np.logical_not(self._support, out=self._support)
        fill = np.zeros(self.out_channels) if bias is None else bias
        np.copyto(self._out_f, fill, where=self._support)

    # -- kernel gradient ----------------------------------------------------------------
    def accumulate_kernel_gradient(
        self, dz_padded: np.ndarray, top: int, left: int, s: np.ndarray, bias_grad: Any = None
    ) -> None:
        """``S[a*alpha + b] += V[a, b].T @ (A @ dZ @ A.T)[a, b]`` over this plan's tiles.

        ``dZ`` (``(out_h, out_w, N, F)``, the gradient of :meth:`correlate`'s output) is
        read from ``dz_padded`` at ``(top, left)``; the ``th * m x tw * m`` region there
        must be zero outside ``dZ``.  ``S`` is ``(alpha**2, C, F)``; ``bias_grad`` (``(F,)``),
        if given, gets ``sum dZ`` added.  Uses :attr:`v` from the last forward.
        """
        a, m = self.alpha, self.m
        f = self.out_channels
        if self._v_stale:  # mixed precision: V rounded once, for the float32 products
            np.copyto(self.v, self._v_f)
            self._v_stale = False
        if self._dz_v is None:
            empty = functools.partial(aligned_zeros, dtype=self.dtype)
            row_len = dz_padded.shape[1] * dz_padded.shape[2] * dz_padded.shape[3]
            self._dz_rows = empty((self.th, a, row_len))
            self._dz_v = empty((a, a, self.th, self.tw, self.n, f))
            self._s_part = empty((a * a, self.in_channels, f))
        assert self._dz_rows is not None
        assert self._s_part is not None
        if self._dz_rows.shape[2] < dz_padded.shape[1] * dz_padded.shape[2] * dz_padded.shape[3]:
            raise ValueError(f"dz_padded of shape {dz_padded.shape} does not fit this plan")
        self._tile_pass(dz_padded, top, left, m, self.a, self._dz_rows, self._dz_v)
        dzt = self._dz_v.reshape(a * a, self.tiles, f)
        v3 = self.v.reshape(a * a, self.tiles, self.in_channels)
        np.matmul(v3.transpose(0, 2, 1), dzt, out=self._s_part)
        s += self._s_part
        if bias_grad is not None:
            bias_grad += dzt[self.ones * a + self.ones].sum(axis=0)
