r"""Sparsemax, 1.5-entmax and alpha-entmax: softmax's sparse relatives.

alpha-entmax (Peters, Niculae and Martins, 2019) maps scores ``x`` to the
probabilities

.. math:: p_i = [(\alpha - 1) x_i - \tau]_+^{1/(\alpha - 1)},

with the threshold ``tau`` chosen so that they sum to one. ``alpha -> 1`` is
softmax, ``alpha = 2`` is sparsemax (the Euclidean projection of ``x`` onto
the simplex); for ``alpha > 1`` low scores get probability exactly 0.

Algorithms. Sparsemax and 1.5-entmax have exact sort-based thresholds;
general ``alpha`` bisects on ``tau``. All three start from the shifted scores
``d = x - max(x)`` of ``_stable.shift_by_max``, which brings the edge-case
policy of softmax with it (masks and ``-inf`` excluded, ``+inf`` entries
sharing the mass, NaN slices, empty slices). Then two facts keep the
arithmetic well conditioned:

* ``p_max <= 1`` forces ``tau >= (alpha - 1) d_max - 1 = -1``, so scaled
  scores below -1 can never be in the support. Clamping them at -2 changes
  nothing (strictly below -1, a clamped score cannot tie with the threshold
  and leave a rounding residue) but bounds every score to [-2, 0], which is
  why float32 ``sparsemax([1.36762051e8, 1.59594639e8])`` gives ``[0, 1]``
  here and NaN in tensorflow/addons#2314, and why no ``inf - inf`` can arise.
* the computation runs in float64 for float32 input and float32 for
  float16/bfloat16 (entmax#30: an fp16 row of -1000 and -1005 gave NaN).

The losses are the Fenchel-Young losses of the entmax package:
``L(x; y) = H(p) + <p - e_y, x>`` with ``H`` the Tsallis entropy
``(1 - sum p^alpha) / (alpha (alpha - 1))``; ``L >= 0``, zero exactly when
``p`` is the one-hot of ``y``, and its gradient is ``p - e_y``.

The Jacobian-vector products use the closed form of the entmax package:
with ``s = p^(2 - alpha)`` on the support (1 for sparsemax, ``sqrt(p)`` for
1.5-entmax), ``dx = s * g - s * sum(s * g) / sum(s)``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from typing import Any, overload

import array_api_compat

import numpy as np

from .. import _backend, _chunks, _core, _family, _stable, _streams, _targets
from .. import _validate as validate
from .._typing import ArrayLike, ArrayT, Nested, NumPyArray, Reduction

_FORWARD_PARAMETERS = """\
    x : array_like
        Scores (logits), any array-API array or nested list.
    axis : int, optional
        The axis the probabilities sum over (default the last).
    temperature : float or array_like, optional
        A finite number > 0 (or an array of them broadcasting against ``x``):
        the mapping is applied to ``x / temperature``.
    where : array_like of bool, optional
        Mask broadcastable to ``x``; False entries get probability exactly 0."""

_EDGE_CASES = """\
    The edge-case policy of :func:`softmaxkit.softmax`: ``-inf`` and
    excluded entries get 0; a slice with no other entry gives zeros;
    ``+inf`` entries share the mass equally (the limit); a NaN makes its
    slice NaN; a zero-length axis gives an empty result. float16 and
    bfloat16 compute in float32, float32 in float64."""


@overload
def sparsemax(
    x: ArrayT, /, axis: int = -1, *, temperature: ArrayLike = 1.0, where: ArrayLike | None = None
) -> ArrayT: ...
@overload
def sparsemax(
    x: Nested, /, axis: int = -1, *, temperature: ArrayLike = 1.0, where: ArrayLike | None = None
) -> NumPyArray: ...


def sparsemax(x: Any, /, axis: int = -1, *, temperature: Any = 1.0, where: Any = None) -> Any:
    r"""Sparsemax: the Euclidean projection of ``x`` onto the probability simplex.

    .. math:: \mathrm{sparsemax}(x) = \arg\min_{p \in \Delta} \|p - x\|^2
              = [x - \tau]_+

    Parameters
    ----------
{parameters}

    Returns
    -------
    array
        Probabilities with exact zeros, the shape and floating dtype of ``x``.

    Notes
    -----
{edge_cases}

    Examples
    --------
    >>> import softmaxkit as sk
    >>> sk.sparsemax([0.175, 0.0, -2.0])
    array([0.5875, 0.4125, 0.    ])
    >>> sk.sparsemax([1.0, 1.0, 5.0], where=[True, True, False])
    array([0.5, 0.5, 0. ])
    """
    return _entmax(x, axis, temperature, where, alpha=2.0, n_iter=0)


@overload
def entmax15(
    x: ArrayT, /, axis: int = -1, *, temperature: ArrayLike = 1.0, where: ArrayLike | None = None
) -> ArrayT: ...
@overload
def entmax15(
    x: Nested, /, axis: int = -1, *, temperature: ArrayLike = 1.0, where: ArrayLike | None = None
) -> NumPyArray: ...


def entmax15(x: Any, /, axis: int = -1, *, temperature: Any = 1.0, where: Any = None) -> Any:
    r"""1.5-entmax: ``p_i = [x_i / 2 - tau]_+^2``, between softmax and sparsemax.

    Computed exactly by sorting (Peters et al., 2019, Algorithm 2).

    Parameters
    ----------
{parameters}

    Returns
    -------
    array
        Probabilities with exact zeros, the shape and floating dtype of ``x``.

    Notes
    -----
{edge_cases}

    Examples
    --------
    >>> import softmaxkit as sk
    >>> sk.entmax15([0.0, 0.0, 1.0]).round(6)
    array([0.129873, 0.129873, 0.740253])
    >>> sk.entmax15([3.0, 0.0, -1.0])
    array([1., 0., 0.])
    """
    return _entmax(x, axis, temperature, where, alpha=1.5, n_iter=0)


@overload
def entmax_bisect(
    x: ArrayT,
    /,
    alpha: float = 1.5,
    axis: int = -1,
    *,
    n_iter: int = 50,
    temperature: ArrayLike = 1.0,
    where: ArrayLike | None = None,
) -> ArrayT: ...
@overload
def entmax_bisect(
    x: Nested,
    /,
    alpha: float = 1.5,
    axis: int = -1,
    *,
    n_iter: int = 50,
    temperature: ArrayLike = 1.0,
    where: ArrayLike | None = None,
) -> NumPyArray: ...


def entmax_bisect(
    x: Any,
    /,
    alpha: float = 1.5,
    axis: int = -1,
    *,
    n_iter: int = 50,
    temperature: Any = 1.0,
    where: Any = None,
) -> Any:
    r"""alpha-entmax for any ``alpha >= 1``, by bisection on the threshold.

    .. math:: p_i = [(\alpha - 1) x_i - \tau]_+^{1/(\alpha - 1)}

    Parameters
    ----------
    x : array_like
        Scores.
    alpha : float, optional
        A finite number >= 1. ``alpha = 1`` is exactly :func:`softmaxkit.softmax`
        (bisection cannot reach it: entmax#23 returned uniform there);
        ``alpha = 2`` is sparsemax.
    axis, temperature, where
        As in :func:`sparsemax`.
    n_iter : int, optional
        Bisection steps (>= 1). The bracket for ``tau`` is at most 1 wide, so
        50 steps pin it to 2**-50; the result is then normalised to sum to one.

    Returns
    -------
    array
        Probabilities, the shape and floating dtype of ``x``.

    Raises
    ------
    ValueError
        ``alpha`` below 1 or not finite (entmax#20, #39: NaN there),
        ``n_iter`` < 1, and the errors of :func:`sparsemax`.

    Notes
    -----
{edge_cases}

    Examples
    --------
    >>> import softmaxkit as sk
    >>> sk.entmax_bisect([0.0, 0.0, 1.0], alpha=1.0).round(4)  # softmax
    array([0.2119, 0.2119, 0.5761])
    >>> sk.entmax_bisect([0.175, 0.0, -2.0], alpha=2.0).round(10)  # sparsemax
    array([0.5875, 0.4125, 0.    ])
    """
    alpha = _alpha(alpha)
    n_iter = validate.integer(n_iter, name="n_iter", minimum=1)
    if alpha == 1.0:
        return _core.softmax(x, axis=validate_single(x, axis), temperature=temperature, where=where)
    return _entmax(x, axis, temperature, where, alpha=alpha, n_iter=n_iter)


def validate_single(x: Any, axis: Any, *, name: str = "x") -> int:
    """``axis`` as one int for ``x`` (no tuples: the mappings sort along one axis).

    ``x`` is checked first, so that ``sparsemax("abc")`` blames ``x``, not the axis.
    """
    xp = validate.namespace(x)
    array = validate.as_array(xp, x, name=name)
    validate.float_dtype_of(xp, array, name=name)
    return validate.single_axis(axis, array.ndim)


def _alpha(alpha: Any) -> float:
    value = validate.finite_scalar(alpha, name="alpha")
    if value < 1.0:
        raise ValueError(f"alpha must be >= 1 (alpha = 1 is softmax), got {value!r}")
    return value


def _entmax(x: Any, axis: Any, temperature: Any, where: Any, *, alpha: float, n_iter: int) -> Any:
    """alpha-entmax; exact for alpha 2 and 1.5 (n_iter 0), bisection otherwise."""
    ax = validate_single(x, axis)
    where, temperature = _chunks.on_host(x, where, temperature)
    plan = _chunks.plan_for(x, ax, where, temperature)
    if plan is not None and plan.kind == "blocks":
        # The sort and its cumulative sums are whole-array temporaries: a block at a time.
        return _chunks.by_rows(
            lambda block, mask, t: _entmax(block, ax, t, mask, alpha=alpha, n_iter=n_iter),
            x, along=plan.axis, broadcast=(where, temperature),
        )  # fmt: skip
    if plan is not None:
        return _entmax_stream(x, ax, temperature, where, alpha=alpha, n_iter=n_iter)
    p = _family.prepare(x, ax, temperature, where)
    if _family.has_empty_axis(p):
        return _family.finish(p, p.z)
    probs = entmax_of_shifted(p.xp, p.z, p.axes[0], p.mask, alpha=alpha, n_iter=n_iter)
    return _family.finish(p, probs)


def _entmax_stream(x: Any, ax: int, temperature: Any, where: Any, *, alpha: float, n_iter: int) -> Any:
    """alpha-entmax of a NumPy ``x`` whose slices are large: each in blocks along ``ax``."""
    v = _family.validated(x, ax, temperature, where)
    t = v.temperature
    t = t if isinstance(t, float) else np.moveaxis(np.broadcast_to(t, v.x.shape), ax, -1)
    mask = None if v.mask is None else np.moveaxis(v.mask, ax, -1)
    moved = np.moveaxis(v.x, ax, -1)
    slices = _streams.Slices(moved, moved.ndim - 1, t, mask, v.work_dtype, v.out_dtype)
    result = np.empty(v.x.shape, v.out_dtype)

    _streams.entmax(
        slices, alpha, _gathered_mapping(alpha, n_iter), np.moveaxis(result, ax, -1),
        _threshold_over_blocks(alpha, n_iter),
    )  # fmt: skip
    return result


def _threshold_over_blocks(alpha: float, n_iter: int) -> _streams.Threshold:
    """How ``_streams.entmax`` finds the threshold of a slice with too many scores to gather."""
    if n_iter == 0 and alpha == 2.0:
        return _sparsemax_threshold
    if n_iter == 0 and alpha == 1.5:
        return _entmax15_threshold

    def bisection(blocks: Callable[[], Iterator[Any]], n_live: int) -> tuple[float, float]:
        return _bisection_threshold(blocks, n_live, alpha, n_iter)

    return bisection


def _sparsemax_threshold(blocks: Callable[[], Iterator[Any]], n_live: int) -> tuple[float, float]:
    """Sparsemax's threshold of scaled scores (at most 0) given block by block.

    Michelot's iteration (1986): from a threshold below the support (-1), the
    next is ``(sum(s) - 1) / count(s)`` over the scores ``s`` above it; it
    rises to the threshold of the sort (Algorithm 1) and stays there once the
    set above it stops shrinking, a pass over the blocks each (a few for a
    near-constant slice, whose support is most of it). ``n_live`` is unused.
    """
    tau, previous = -1.0, -1
    while True:
        count, total = 0, 0.0
        for values in blocks():
            above = values[values > tau]
            count += above.size
            total += float(np.sum(above))
        if previous >= 0 and count >= previous:  # the same set (or rounding's larger one)
            return tau, 1.0
        tau, previous = (total - 1.0) / count, count


def _entmax15_threshold(blocks: Callable[[], Iterator[Any]], n_live: int) -> tuple[float, float]:
    """1.5-entmax's threshold of halved scores (at most 0) given block by block.

    The threshold of a support ``S`` has a closed form in the count, sum and
    sum of squares of its scores (:func:`_entmax15_tau`), and ``S`` is the
    support when that threshold lies at or below its smallest score (the
    sort's test). Michelot's step cannot be copied as it is: the closed form
    of a set larger than the support can overshoot (``[0, 0, -0.999]`` from
    -1 gives -0.667, above the threshold -0.707), because an extra score adds
    ``(s - tau)^2`` where the true sum adds ``(s - tau)_+^2 = 0``. So, a pass
    over the blocks each, the set is that of the scores above a lower bound
    ``tau``, starting from -1; when its closed form passes the test it is the
    answer, otherwise ``tau`` rises to the larger of two lower bounds of the
    root of the convex, decreasing ``F(t) = sum (s - t)_+^2 - 1``: Newton's
    step (the tangent lies below ``F``) and ``mean - 1 / sqrt(count)``
    (Cauchy-Schwarz: ``F(t) + 1 >= (sum (s - t))^2 / count``). A
    near-constant slice passes at the first pass. ``n_live`` is unused.
    """
    tau = -1.0
    for _ in range(200):  # Newton converges in far fewer; rounding may stall it
        count, s1, s2, f, slope = 0, 0.0, 0.0, 0.0, 0.0
        smallest = np.inf
        for values in blocks():
            above = values[values > tau]
            if above.size:
                count += above.size
                s1, s2 = s1 + float(np.sum(above)), s2 + float(np.sum(above * above))
                gap = above - tau
                f, slope = f + float(np.sum(gap * gap)), slope + float(np.sum(gap))
                smallest = min(smallest, float(np.min(above)))
        # The formula of _entmax15_tau at the support's rank.
        mean, mean_sq = s1 / count, s2 / count
        candidate = mean - math.sqrt(max((1.0 - count * (mean_sq - mean * mean)) / count, 0.0))
        bound = max(tau + (f - 1.0) / (2.0 * slope), mean - 1.0 / math.sqrt(count))
        if candidate <= smallest or not bound > tau:
            break
        tau = bound
    return candidate, 1.0


def _bisection_threshold(
    blocks: Callable[[], Iterator[Any]], n_live: int, alpha: float, n_iter: int
) -> tuple[float, float]:
    """:func:`_entmax_bisect`'s threshold and normaliser, its sums taken block by block.

    The same bracket, steps and final Newton step as one call (a pass over
    the blocks each): the sums are added in another order, so ``tau`` agrees
    to within their rounding.
    """
    exponent = 1.0 / (alpha - 1.0)

    def mass(tau: float) -> float:
        return sum(float(np.sum(np.maximum(v - tau, 0.0) ** exponent)) for v in blocks())

    tau_lo = -1.0
    width = -(float(n_live) ** -(alpha - 1.0)) - tau_lo  # n_live >= 1: more than a gather holds
    for _ in range(n_iter):
        width = width / 2.0
        tau_mid = tau_lo + width
        if mass(tau_mid) >= 1.0:
            tau_lo = tau_mid
    slope_sum, mapped_sum = 0.0, 0.0
    for values in blocks():
        above = values > tau_lo
        gap = np.where(above, values - tau_lo, 1.0)  # pragma: no mutate
        slope_sum += float(np.sum(np.where(above, exponent * gap ** (exponent - 1.0), 0.0)))
        mapped_sum += float(np.sum(np.maximum(values - tau_lo, 0.0) ** exponent))
    # No 0 to guard: each gap is at most 1, so slope_sum >= exponent * mass(tau_lo), and
    # the mass at tau_lo is at least 1 (the maximum, 0, alone gives 1 at -1).
    tau = tau_lo + (mapped_sum - 1.0) / slope_sum
    if not tau < tau_lo + width:
        tau = tau_lo  # as one call: a step out of the bracket gives way to its lower end
    # Positive: tau lies below the maximum (0), which adds (0 - tau)^(1/(alpha-1)).
    return tau, mass(tau)


def _gathered_mapping(alpha: float, n_iter: int) -> Callable[[Any, int], Any]:
    """The mapping of ``_streams.entmax``: a ``(1, m)`` row of gathered scaled scores to
    their probabilities, given the number of the slice's scores above -2."""

    def mapping(scores: Any, n_live: int) -> Any:
        xp = array_api_compat.array_namespace(scores)
        if n_iter == 0 and alpha == 2.0:
            return _sparsemax_sorted(xp, scores)
        if n_iter == 0 and alpha == 1.5:
            return _entmax15_sorted(xp, scores)
        return _entmax_bisect(xp, scores, alpha, n_iter, n_live=np.full((1, 1), float(n_live)))  # pragma: no mutate

    return mapping


def entmax_of_shifted(
    xp: Any, z: Any, axis: int, mask: Any, *, alpha: float, n_iter: int
) -> Any:
    """alpha-entmax of ``z`` (compute dtype) along ``axis``, with the edge-case policy."""
    s = _stable.shift_by_max(xp, z, (axis,), where=mask)
    d = xp.moveaxis(s.diff, axis, -1)
    live = xp.any(d > -xp.inf, axis=-1, keepdims=True)
    # Scaled scores, clamped at -2 (see the module notes): nothing below -1 can
    # be in the support, and dead slices (all -inf) become harmless -2s.
    scaled = xp.maximum(d * (alpha - 1.0), -2.0)
    if n_iter == 0 and alpha == 2.0:
        probs = _sparsemax_sorted(xp, scaled)
    elif n_iter == 0 and alpha == 1.5:
        probs = _entmax15_sorted(xp, scaled)
    else:
        probs = _entmax_bisect(xp, scaled, alpha, n_iter)
    probs = xp.where(live, probs, 0.0)
    return _stable.with_nan_slices(xp, xp.moveaxis(probs, -1, axis), s.nan_slice)


def _ranks(xp: Any, z: Any) -> Any:
    n = z.shape[-1]
    return xp.arange(1, n + 1, dtype=z.dtype, device=array_api_compat.device(z))


def _at_rank(xp: Any, values: Any, ranks: Any, k: Any) -> Any:
    """``values[..., k - 1]`` along the last axis, without a gather (Dask has none)."""
    return xp.sum(xp.where(ranks == k, values, 0.0), axis=-1, keepdims=True)


def _sparsemax_sorted(xp: Any, z: Any) -> Any:
    """Sparsemax along the last axis (Martins and Astudillo, 2016, Algorithm 1)."""
    return xp.maximum(z - _sparsemax_tau(xp, z), 0.0)


def _sparsemax_tau(xp: Any, z: Any) -> Any:
    """Sparsemax's threshold: it depends only on the scores above it (and the next below)."""
    z_sorted = xp.sort(z, axis=-1, descending=True)
    cumulative = xp.cumulative_sum(z_sorted, axis=-1)
    ranks = _ranks(xp, z)
    # The support is the prefix of sorted scores with 1 + k z_(k) > sum_{j<=k} z_(j).
    support_size = xp.sum(xp.astype(1.0 + ranks * z_sorted > cumulative, z.dtype), axis=-1, keepdims=True)
    return (_at_rank(xp, cumulative, ranks, support_size) - 1.0) / support_size


def _entmax15_sorted(xp: Any, z: Any) -> Any:
    """1.5-entmax of the already halved scores ``z`` (Peters et al., 2019, Algorithm 2).

    For a candidate support of the k largest scores, ``sum (z_i - tau)^2 = 1``
    is a quadratic in ``tau`` whose root is ``mean - sqrt((1 - ss) / k)`` with
    ``ss`` the sum of squared deviations from the mean; the support is the
    longest prefix whose root lies at or below its smallest score.
    """
    gap = xp.maximum(z - _entmax15_tau(xp, z), 0.0)
    return gap * gap


def _entmax15_tau(xp: Any, z: Any) -> Any:
    """1.5-entmax's threshold of the halved scores (as :func:`_sparsemax_tau`)."""
    z_sorted = xp.sort(z, axis=-1, descending=True)
    ranks = _ranks(xp, z)
    mean = xp.cumulative_sum(z_sorted, axis=-1) / ranks
    mean_sq = xp.cumulative_sum(z_sorted * z_sorted, axis=-1) / ranks
    # Scores lie in [-2, 0], so mean_sq - mean^2 does not cancel catastrophically.
    ss = ranks * (mean_sq - mean * mean)
    delta = xp.maximum((1.0 - ss) / ranks, 0.0)
    tau = mean - xp.sqrt(delta)
    support_size = xp.sum(xp.astype(tau <= z_sorted, z.dtype), axis=-1, keepdims=True)
    return _at_rank(xp, tau, ranks, support_size)


def _entmax_bisect(xp: Any, z: Any, alpha: float, n_iter: int, n_live: Any = None) -> Any:
    """alpha-entmax of the already scaled scores ``z`` (max 0) by bisection on tau.

    ``f(tau) = sum [z - tau]_+^(1/(alpha-1)) - 1`` decreases in tau, with
    ``f(-1) >= 0`` (the maximum alone gives 1) and ``f(-(1/n)^(alpha-1)) <= 0``
    (every one of the n live entries gives at most 1/n). ``n_live``, the
    number of scores above -2, is given when ``z`` holds only the scores
    above -1 of a longer slice (the others are 0 for every tau tried).
    """
    exponent = 1.0 / (alpha - 1.0)
    if n_live is None:
        n_live = xp.sum(xp.astype(z > -2.0, z.dtype), axis=-1, keepdims=True)
    n_live = xp.maximum(n_live, 1.0)  # pragma: no mutate
    tau_lo = -xp.ones_like(n_live)
    width = -(n_live ** -(alpha - 1.0)) - tau_lo

    def mapped(tau: Any) -> Any:
        return xp.maximum(z - tau, 0.0) ** exponent

    for _ in range(n_iter):
        width = width / 2.0
        tau_mid = tau_lo + width
        too_much = xp.sum(mapped(tau_mid), axis=-1, keepdims=True) >= 1.0
        tau_lo = xp.where(too_much, tau_mid, tau_lo)
    # The bisection's tau depends on z only through comparisons, so automatic
    # differentiation (torch, JAX) would see it as a constant and get the
    # Jacobian wrong. One Newton step on f ends it: its derivative in z is
    # g / sum(g) with g = f's slope per entry, which is the implicit-function
    # derivative of the root, the one entmax_bisect_vjp uses. In value it
    # moves tau by f(tau) / sum(g), below the bisection's own error.
    above = z > tau_lo
    gap = xp.where(above, z - tau_lo, 1.0)
    slope = xp.where(above, exponent * gap ** (exponent - 1.0), 0.0)
    slope_sum = xp.sum(slope, axis=-1, keepdims=True)
    excess = xp.sum(mapped(tau_lo), axis=-1, keepdims=True) - 1.0
    tau = tau_lo + excess / xp.where(slope_sum > 0, slope_sum, 1.0)
    # For alpha <= 2 f is convex: the tangent lies below it, so the step stays
    # at or below the root, in the bracket. Above 2 it can leave it (f is
    # concave between the scores, which enter steeper than any tangent), past
    # the maximum too, where every probability is 0: such a step gives way to
    # the bracket's lower end, the bisection's own answer.
    tau = xp.where(tau < tau_lo + width, tau, tau_lo)
    probs = mapped(tau)
    # A dead slice (every score clamped to -2) sums to 0; the caller zeroes it.
    total = xp.sum(probs, axis=-1, keepdims=True)
    return probs / xp.where(total > 0, total, 1.0)


# ---------------------------------------------------------------- VJPs


@overload
def sparsemax_vjp(
    y: ArrayT,
    g: ArrayLike,
    /,
    axis: int = -1,
    *,
    temperature: ArrayLike = 1.0,
    where: ArrayLike | None = None,
) -> ArrayT: ...
@overload
def sparsemax_vjp(
    y: Nested,
    g: ArrayLike,
    /,
    axis: int = -1,
    *,
    temperature: ArrayLike = 1.0,
    where: ArrayLike | None = None,
) -> NumPyArray: ...


def sparsemax_vjp(
    y: Any, g: Any, /, axis: int = -1, *, temperature: Any = 1.0, where: Any = None
) -> Any:
    r"""Vector-Jacobian product of sparsemax: the gradient with respect to ``x``.

    Given ``y = sparsemax(x, axis, temperature=T, where=m)`` and the upstream
    gradient ``g``, returns ``(g - mean_S(g)) / T`` on the support
    ``S = {y > 0}`` and 0 elsewhere.

    Parameters
    ----------
    y : array_like
        The sparsemax output.
    g : array_like
        Upstream gradient, the shape of ``y``.
    axis, temperature, where
        The values the forward call used.

    Returns
    -------
    array
        d loss / d x, the shape and array type of ``y``; 0 off the support.

    Examples
    --------
    >>> import softmaxkit as sk
    >>> y = sk.sparsemax([0.175, 0.0, -2.0])
    >>> sk.sparsemax_vjp(y, [1.0, 0.0, 0.0])
    array([ 0.5, -0.5,  0. ])
    """
    return _entmax_vjp(y, g, axis, temperature, where, alpha=2.0)


@overload
def entmax15_vjp(
    y: ArrayT,
    g: ArrayLike,
    /,
    axis: int = -1,
    *,
    temperature: ArrayLike = 1.0,
    where: ArrayLike | None = None,
) -> ArrayT: ...
@overload
def entmax15_vjp(
    y: Nested,
    g: ArrayLike,
    /,
    axis: int = -1,
    *,
    temperature: ArrayLike = 1.0,
    where: ArrayLike | None = None,
) -> NumPyArray: ...


def entmax15_vjp(
    y: Any, g: Any, /, axis: int = -1, *, temperature: Any = 1.0, where: Any = None
) -> Any:
    r"""Vector-Jacobian product of 1.5-entmax.

    With ``s = sqrt(y)``: ``dx = (s g - s sum(s g) / sum(s)) / T``.

    Parameters
    ----------
    y, g, axis, temperature, where
        As in :func:`sparsemax_vjp`, for ``y = entmax15(x, ...)``.

    Returns
    -------
    array
        d loss / d x, the shape and array type of ``y``; 0 off the support.

    Examples
    --------
    >>> import softmaxkit as sk
    >>> sk.entmax15_vjp([0.25, 0.25, 0.5, 0.0], [1.0, 0.0, 0.0, 5.0]).round(6)
    array([ 0.353553, -0.146447, -0.207107,  0.      ])
    """
    return _entmax_vjp(y, g, axis, temperature, where, alpha=1.5)


@overload
def entmax_bisect_vjp(
    y: ArrayT,
    g: ArrayLike,
    /,
    alpha: float = 1.5,
    axis: int = -1,
    *,
    temperature: ArrayLike = 1.0,
    where: ArrayLike | None = None,
) -> ArrayT: ...
@overload
def entmax_bisect_vjp(
    y: Nested,
    g: ArrayLike,
    /,
    alpha: float = 1.5,
    axis: int = -1,
    *,
    temperature: ArrayLike = 1.0,
    where: ArrayLike | None = None,
) -> NumPyArray: ...


def entmax_bisect_vjp(
    y: Any,
    g: Any,
    /,
    alpha: float = 1.5,
    axis: int = -1,
    *,
    temperature: Any = 1.0,
    where: Any = None,
) -> Any:
    r"""Vector-Jacobian product of alpha-entmax (with respect to ``x``).

    With ``s = y^(2 - alpha)`` on the support: ``dx = (s g - s sum(s g) / sum(s)) / T``;
    ``alpha = 1`` is :func:`softmaxkit.softmax_vjp`.

    Parameters
    ----------
    y, g, axis, temperature, where
        As in :func:`sparsemax_vjp`, for ``y = entmax_bisect(x, alpha, ...)``.
    alpha : float, optional
        The ``alpha`` of the forward call.

    Returns
    -------
    array
        d loss / d x, the shape and array type of ``y``; 0 off the support.

    Examples
    --------
    >>> import softmaxkit as sk
    >>> y = sk.entmax_bisect([0.175, 0.0, -2.0], alpha=2.0)
    >>> sk.entmax_bisect_vjp(y, [1.0, 0.0, 0.0], alpha=2.0).round(10)
    array([ 0.5, -0.5,  0. ])
    """
    alpha = _alpha(alpha)
    if alpha == 1.0:
        return _core.softmax_vjp(
            y, g, axis=validate_single(y, axis), temperature=temperature, where=where
        )
    return _entmax_vjp(y, g, axis, temperature, where, alpha=alpha)


def _entmax_vjp(y: Any, g: Any, axis: Any, temperature: Any, where: Any, *, alpha: float) -> Any:
    xp, y, g, axes, mask, t, out_dtype = _family.prepare_vjp(
        y, g, validate_single(y, axis, name="y"), temperature, where
    )
    y, g = _family.to_work_dtype(xp, y, g, out_dtype)
    on_support = y > 0
    if alpha == 2.0:
        slope = xp.astype(on_support, y.dtype)
    else:
        slope = xp.where(on_support, xp.where(on_support, y, 1.0) ** (2.0 - alpha), 0.0)
    if mask is not None:
        g = xp.where(mask, g, 0.0)  # pragma: no mutate
    scaled = xp.where(on_support, g, 0.0) * slope  # pragma: no mutate
    total = xp.sum(slope, axis=axes, keepdims=True)
    total_safe = xp.where(total > 0, total, 1.0)  # pragma: no mutate
    # An infinite upstream gradient on the support makes the support's entries
    # NaN or infinite, without NumPy's warnings (inf - inf, 0 * inf); entries off
    # the support stay 0, the Jacobian's structural zeros.
    with np.errstate(invalid="ignore", over="ignore"):
        spread = slope * (xp.sum(scaled, axis=axes, keepdims=True) / total_safe)
        grad = xp.where(on_support, scaled - spread, 0.0)
    return _family.finish_vjp(xp, grad, t, mask, out_dtype)


# ---------------------------------------------------------------- losses


@overload
def sparsemax_loss(
    x: ArrayT,
    target: ArrayLike,
    /,
    *,
    axis: int = -1,
    ignore_index: int = -100,
    reduction: Reduction = "mean",
) -> ArrayT: ...
@overload
def sparsemax_loss(
    x: Nested,
    target: ArrayLike,
    /,
    *,
    axis: int = -1,
    ignore_index: int = -100,
    reduction: Reduction = "mean",
) -> NumPyArray: ...


def sparsemax_loss(
    x: Any,
    target: Any,
    /,
    *,
    axis: int = -1,
    ignore_index: int = -100,
    reduction: str = "mean",
) -> Any:
    r"""The sparsemax loss (Fenchel-Young loss of sparsemax) of class-index targets.

    .. math:: L(x; y) = \tfrac12 (1 - \|p\|^2) + \langle p - e_y, x \rangle,
              \quad p = \mathrm{sparsemax}(x)

    The entmax package's ``SparsemaxLoss``, with the conventions of
    :func:`softmaxkit.cross_entropy`.

    Parameters
    ----------
    x : array_like
        Scores, the classes along ``axis``.
    target : array_like of int
        Class indices, the shape of ``x`` without the class axis.
    axis : int, optional
        The class axis (default the last).
    ignore_index : int, optional
        Targets equal to it contribute 0 and are left out of the mean (entmax
        honoured only non-negative values, entmax#8; any value works here).
    reduction : {"mean", "sum", "none"}, optional
        "mean" over the counted targets (NaN when there are none).

    Returns
    -------
    array
        0-d for "mean" and "sum", per target for "none"; >= 0, and 0 exactly
        when ``sparsemax(x)`` is the one-hot of the target.

    Raises
    ------
    ValueError, TypeError
        As :func:`softmaxkit.cross_entropy` for targets; floating targets
        are refused.

    Notes
    -----
    The gradient with respect to ``x`` is ``sparsemax(x) - onehot(target)``
    (divided by the count for "mean"). A target class with score ``-inf``
    gives an infinite loss.

    Examples
    --------
    >>> import softmaxkit as sk
    >>> round(float(sk.sparsemax_loss([[0.175, 0.0, -2.0]], [0])), 10)
    0.17015625
    >>> float(sk.sparsemax_loss([[3.0, 0.0, -1.0]], [0]))
    0.0
    """
    return _fenchel_young_loss(x, target, axis, ignore_index, reduction, alpha=2.0)


@overload
def entmax15_loss(
    x: ArrayT,
    target: ArrayLike,
    /,
    *,
    axis: int = -1,
    ignore_index: int = -100,
    reduction: Reduction = "mean",
) -> ArrayT: ...
@overload
def entmax15_loss(
    x: Nested,
    target: ArrayLike,
    /,
    *,
    axis: int = -1,
    ignore_index: int = -100,
    reduction: Reduction = "mean",
) -> NumPyArray: ...


def entmax15_loss(
    x: Any,
    target: Any,
    /,
    *,
    axis: int = -1,
    ignore_index: int = -100,
    reduction: str = "mean",
) -> Any:
    r"""The 1.5-entmax loss (Fenchel-Young loss of 1.5-entmax) of class-index targets.

    .. math:: L(x; y) = \tfrac{4}{3} (1 - \textstyle\sum_i p_i^{3/2})
              + \langle p - e_y, x \rangle, \quad p = \mathrm{entmax15}(x)

    Parameters
    ----------
    x, target, axis, ignore_index, reduction
        As in :func:`sparsemax_loss`.

    Returns
    -------
    array
        The loss, reduced as ``reduction`` says (see :func:`sparsemax_loss`).

    Examples
    --------
    >>> import softmaxkit as sk
    >>> round(float(sk.entmax15_loss([[0.0, 0.0, 1.0]], [2])), 6)
    0.099578
    """
    return _fenchel_young_loss(x, target, axis, ignore_index, reduction, alpha=1.5)


def _fenchel_young_loss(
    x: Any, target: Any, axis: Any, ignore_index: Any, reduction: Any, *, alpha: float
) -> Any:
    c = _targets.check(x, target, axis, None, ignore_index, 0.0, reduction, name="x")  # pragma: no mutate
    if not c.class_indices:
        raise TypeError(f"target must hold integer class indices, got dtype {c.target.dtype}")
    if c.logits.shape[c.class_axis] == 0:
        raise ValueError("x must have at least one class along axis, got 0")
    # The class axis last (a view): the targets then share the logits' other axes.
    logits = np.moveaxis(c.logits, c.class_axis, -1) if type(c.logits) is np.ndarray else np.empty(0)
    plan = _chunks.plan(logits, (logits.ndim - 1,))  # None for other libraries' arrays (empty here)
    if plan is not None and plan.kind == "blocks":
        # The sort of entmax and the one-hot targets are whole-array
        # temporaries: the per-row losses a block of rows at a time, reduced once.
        per_row = _chunks.by_rows(
            lambda z, y: _fenchel_young_per_row(
                c._replace(logits=z, target=y, class_axis=z.ndim - 1), alpha
            ),
            logits, c.target, along=plan.axis,
        )  # fmt: skip
    elif plan is not None:
        # One row is large: its blocks along the class axis, in passes.
        per_row = _fenchel_young_stream(c, logits, alpha)
    else:
        per_row = _fenchel_young_per_row(c, alpha)
    xp = c.xp
    n_classes = c.logits.shape[c.class_axis]
    denominator = _targets.index_denominator(
        xp, c.target, None, c.ignore_index, n_classes, c.work_dtype
    )
    return _backend.cast(xp, _targets.reduce(xp, per_row, denominator, c.reduction), c.out_dtype)


def _fenchel_young_per_row(c: _targets.Checked, alpha: float) -> Any:
    """The loss of each row in the compute dtype (0 for ignored targets)."""
    t = _targets.in_work_layout(c)
    xp = t.xp
    probs = entmax_of_shifted(xp, t.z, t.z.ndim - 1, None, alpha=alpha, n_iter=0)
    picked = _targets.ClassIndexTarget.make(t)
    # <p - e_y, x> is shift invariant: use d = x - max, which is finite on
    # the support and keeps large scores from cancelling.
    d = _stable.shift_by_max(xp, t.z, (t.z.ndim - 1,)).diff
    coefficient = probs - xp.astype(picked.one_hot, probs.dtype)
    # Zero coefficients (off the support, not the target) count 0 even where
    # d is -inf: select before multiplying, so no 0 * inf is ever formed.
    inner = xp.sum(coefficient * xp.where(coefficient == 0, 0.0, d), axis=-1)  # pragma: no mutate
    tsallis = (1.0 - xp.sum(probs**alpha, axis=-1)) / (alpha * (alpha - 1.0))
    return xp.where(picked.valid, tsallis + inner, 0.0)


def _fenchel_young_stream(c: _targets.Checked, logits: np.ndarray, alpha: float) -> np.ndarray:
    """:func:`_fenchel_young_per_row` of large rows (``logits``: the class axis last), a
    block of each at a time: the terms of one call, summed block by block."""
    slices = _streams.Slices(logits, logits.ndim - 1, 1.0, None, c.work_dtype, c.out_dtype)
    target = np.asarray(c.target)
    per_row = np.zeros(logits.shape[:-1], c.work_dtype)
    for outer in slices.slices():
        y = target[outer]
        if y == c.ignore_index:
            continue
        inner = powers = 0.0
        blocks = _streams.entmax_blocks(
            slices, outer, alpha, _gathered_mapping(alpha, 0), _threshold_over_blocks(alpha, 0)
        )
        for index, probs, d in blocks:
            span = index[-1]
            classes = np.arange(span.start, span.start + probs.shape[0])
            coefficient = probs - (classes == y)
            inner += np.sum(coefficient * np.where(coefficient == 0, 0.0, d))  # pragma: no mutate
            powers += np.sum(probs**alpha)
        per_row[outer] = (1.0 - powers) / (alpha * (alpha - 1.0)) + inner
    return per_row


_function: Any
for _function in (sparsemax, entmax15):
    _function.__doc__ = (_function.__doc__ or "").replace("{parameters}", _FORWARD_PARAMETERS)
for _function in (sparsemax, entmax15, entmax_bisect):
    _function.__doc__ = (_function.__doc__ or "").replace("{edge_cases}", _EDGE_CASES)
