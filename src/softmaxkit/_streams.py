"""Slices too large to compute whole (one huge row, a 1-D input, ``axis=0`` of a tall array).

:mod:`._chunks` bounds memory by computing a block of slices at a time; when
one slice is itself large, it is computed here in blocks along the reduced
axis, in passes, with ``_stable``'s split max-shift (the one the distributed
losses use for a slice spread over processes):

1. the temperature's overflow guard of the whole slice (only when ``T != 1``),
2. the maximum (after the exclusions) and whether the slice holds a NaN,
3. the two parts ``k + t`` of the normaliser, shifted by that maximum,
4. the result, block by block, from the block's shifted values and the
   slice's normaliser.

Each pass recomputes ``x / T`` for its block instead of keeping it: the peak
is the result plus a few blocks of about ``_chunks.CHUNK_BYTES`` and a few
numbers per slice. The values agree with those of one call to within the
rounding of the sums, which add the blocks' partial sums in another order
(a few ulp at most).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from typing import Any, NamedTuple

import numpy as np

from . import _backend, _chunks, _stable


class Scale(NamedTuple):
    """What a slice's blocks need of the whole slice (reduced axis kept, length 1)."""

    zmax: Any  # the maximum after exclusions (NaN entries count as -inf)
    nan_slice: Any
    norm: Any
    log_norm: Any


class Slices:
    """``x``'s slices along ``axis`` (one per index of the axes before it), cut into blocks.

    A block holds every entry after ``axis`` too, so the blocks of a slice
    are consecutive in C order: noise drawn block by block from one
    generator is the noise of one call. ``temperature`` (a float, or an
    array broadcast against ``x``) and ``mask`` (None or a bool array of
    ``x``'s shape) are cut with each block; ``out_dtype`` is the dtype of
    ``x``'s results, which decides ``compensate`` unless it is given.
    """

    def __init__(
        self, x: np.ndarray, axis: int, temperature: Any, mask: Any, work_dtype: Any,
        out_dtype: Any, *, compensate: bool | None = None,
    ):  # fmt: skip
        self.x, self.axis, self.work_dtype = x, axis, work_dtype
        # As _family.prepare: compensated arithmetic when the compute dtype is
        # the output's, unless the one call it stands for does otherwise.
        self.compensate = work_dtype == out_dtype if compensate is None else compensate
        self.t = temperature if isinstance(temperature, float) else np.broadcast_to(temperature, x.shape)
        self.mask = mask
        trailing = math.prod(x.shape[axis + 1 :]) * x.itemsize
        self.step = max(1, _chunks.CHUNK_BYTES // max(1, trailing))
        self.r = _stable.AxesReduction(np, (0,))  # a block drops the axes before `axis`

    def slices(self) -> Iterator[tuple[int, ...]]:
        return np.ndindex(*self.x.shape[: self.axis])

    def blocks(self, outer: tuple[int, ...]) -> Iterator[tuple[Any, ...]]:
        for start in range(0, self.x.shape[self.axis], self.step):
            yield (*outer, slice(start, start + self.step))

    def mask_of(self, index: tuple[Any, ...]) -> Any:
        return None if self.mask is None else self.mask[index]

    def temperature_of(self, index: tuple[Any, ...]) -> Any:
        return self.t if isinstance(self.t, float) else self.t[index]

    def guard(self, outer: tuple[int, ...]) -> tuple[Any, Any] | None:
        """Pass 1: the temperature's overflow guard of the slice (None for ``T = 1``)."""
        if isinstance(self.t, float) and self.t == 1.0:
            return None
        return self.guard_of(
            (index, self.x[index].astype(self.work_dtype), self.mask_of(index))
            for index in self.blocks(outer)
        )

    def guard_of(self, pieces: Iterator[tuple[Any, Any, Any]]) -> tuple[Any, Any]:
        """The temperature's overflow guard over the ``(index, values, mask)`` blocks of one slice."""
        shifted = top = None
        for index, z, mask in pieces:
            s, m = _stable.temperature_shift(np, z, self.temperature_of(index), self.r, where=mask)
            shifted = s if shifted is None else (shifted | s)
            top = m if top is None else np.maximum(top, m)
        return shifted, top

    def logits(self, index: tuple[Any, ...], guard: tuple[Any, Any] | None) -> Any:
        """``x / T`` of a block in the compute dtype, divided as in one call."""
        z = self.x[index].astype(self.work_dtype)
        if guard is None:
            return z
        t = self.temperature_of(index)
        return _stable.divide_by_temperature(
            np, z, t, (0,), where=self.mask_of(index), shift=guard  # pragma: no mutate
        )


def scale(
    r: _stable.AxesReduction,
    pieces: Callable[[], Iterator[tuple[Any, Any]]],
    *,
    compensate: bool,
) -> Scale:
    """Passes 2 and 3 over the ``(z, mask)`` pieces of one slice (``pieces`` is called twice)."""
    zmax = nan = None
    for z, mask in pieces():
        z, is_nan = _stable.exclude(np, z, r, where=mask)
        m = r.max(z)
        zmax = m if zmax is None else np.maximum(zmax, m)
        nan = is_nan if nan is None else (nan | is_nan)
    k = t = t_lo = 0.0
    for z, mask in pieces():
        z, _ = _stable.exclude(np, z, r, where=mask)
        sums = _stable.shift_and_sum(np, z, zmax, r, compensate=compensate)
        total = t + sums.t
        if compensate:
            # The blocks' sums added with TwoSum too, as one call's pairwise sum
            # (equal blocks, added one after another, drifted by 3 eps).
            t_lo = t_lo + _stable.two_sum_error(t, sums.t, total)  # (t is finite: at most n)
        k, t = k + sums.k, total
    whole = _stable.normalise(np, _stable.Sums(None, None, None, k, t + t_lo, None), nan)
    return Scale(zmax, nan, whole.norm, whole.log_norm)


def shifted(r: _stable.AxesReduction, z: Any, mask: Any, s: Scale, *, compensate: bool) -> _stable.Shifted:
    """A block's shifted values with the whole slice's normaliser (pass 4)."""
    z, _ = _stable.exclude(np, z, r, where=mask)
    diff, diff_lo, exp_diff = _stable.exponentials(np, z, s.zmax, compensate=compensate)
    return _stable.Shifted(
        diff, diff_lo, exp_diff, s.norm, s.log_norm, _stable.applied_shift(np, s.zmax), s.nan_slice
    )


def scale_of(slices: Slices, outer: tuple[int, ...]) -> tuple[tuple[Any, Any] | None, Scale]:
    """Passes 1 to 3 over slice ``outer``: the temperature's guard and the normaliser."""
    guard = slices.guard(outer)

    def pieces() -> Iterator[tuple[Any, Any]]:
        for index in slices.blocks(outer):
            yield slices.logits(index, guard), slices.mask_of(index)

    return guard, scale(slices.r, pieces, compensate=slices.compensate)


def normalised(
    slices: Slices, outer: tuple[int, ...]
) -> Iterator[tuple[tuple[Any, ...], _stable.Shifted]]:
    """The blocks of slice ``outer``: their index and shifted values with the slice's normaliser."""
    guard, s = scale_of(slices, outer)
    for index in slices.blocks(outer):
        yield index, shifted(
            slices.r, slices.logits(index, guard), slices.mask_of(index), s,
            compensate=slices.compensate,
        )  # fmt: skip


def softmax(
    x: np.ndarray, axis: int, temperature: Any, mask: Any, work_dtype: Any, out_dtype: Any,
    *, log: bool, out: Any = None,
) -> np.ndarray:
    """softmax or log_softmax of ``x`` over ``axis``, a block of each slice at a time."""
    result = np.empty(x.shape, out_dtype) if out is None else out
    slices = Slices(x, axis, temperature, mask, work_dtype, out_dtype)
    finish = _stable.log_softmax_from if log else _stable.softmax_from
    for outer in slices.slices():
        for index, block in normalised(slices, outer):
            result[index] = _backend.cast(np, finish(np, block), out_dtype)
    return result


def distribution(
    slices: Slices, outer: tuple[int, ...], with_probs: bool
) -> Iterator[tuple[Any, Any]]:
    """The probabilities (None unless ``with_probs``) and log-probabilities of
    the logits of slice ``outer``, block by block."""
    for _, block in normalised(slices, outer):
        probs = _stable.softmax_from(np, block) if with_probs else None
        yield probs, _stable.log_softmax_from(np, block)


#: The blocks of a slice's (probabilities or None, log-probabilities): the
#: signature of :func:`distribution`.
Distribution = Callable[[Slices, tuple[int, ...], bool], Iterator[tuple[Any, Any]]]


def information(
    p: Slices,
    q: Slices | None,
    out_dtype: Any,
    *,
    p_blocks: Distribution = distribution,
    q_blocks: Distribution = distribution,
) -> np.ndarray:
    """The entropy of ``p`` (``q`` None) or ``KL(p || q)``, summed block by block over the axis.

    ``p_blocks`` and ``q_blocks`` give a slice's probabilities and logs block
    by block (by default from logits; ``information`` passes its own for
    probabilities). The terms are those of one call (``information.entropy``,
    ``information.kl_divergence``): where ``p`` is 0 the term is 0, whatever
    the logs are.
    """
    shape = p.x.shape[: p.axis] + p.x.shape[p.axis + 1 :]
    result = np.empty(shape, out_dtype)
    for outer in p.slices():
        total: Any = 0.0
        blocks_q = None if q is None else q_blocks(q, outer, False)
        for probs, log_p in p_blocks(p, outer, True):
            outside = probs == 0
            term = np.where(outside, 0.0, log_p)  # pragma: no mutate
            del log_p  # a block less at the peak
            if blocks_q is not None:
                _, log_q = next(blocks_q)
                term = term - np.where(outside, 0.0, log_q)
            total = total + np.sum(probs * term, axis=0)
        # 0 - sum for the entropy, not -sum: an entropy of 0 prints as 0.0, not -0.0.
        result[outer] = _backend.cast(np, 0.0 - total if q is None else total, out_dtype)
    return result


def maximum(slices: Slices, outer: tuple[int, ...], guard: tuple[Any, Any] | None) -> tuple[Any, Any]:
    """The maximum of slice ``outer`` after the exclusions, and whether it holds a NaN."""
    r = slices.r
    zmax = nan = None
    for index in slices.blocks(outer):
        z, is_nan = _stable.exclude(np, slices.logits(index, guard), r, where=slices.mask_of(index))
        zmax = r.max(z) if zmax is None else np.maximum(zmax, r.max(z))
        nan = is_nan if nan is None else (nan | is_nan)
    return zmax, nan


def _halves(
    slices: Slices, outer: tuple[int, ...], zmax: Any, rng: np.random.Generator, start: Any
) -> Iterator[tuple[tuple[Any, ...], Any]]:
    """The blocks of ``(x - max + G) / 2`` of slice ``outer`` (``gumbel.noisy_halves``), the
    noise drawn as in one call from the generator's state ``start``, which each pass rewinds to."""
    from .variants import _random, gumbel  # the variants import this module

    rng.bit_generator.state = start
    for index in slices.blocks(outer):
        z = slices.logits(index, None)
        noise = _random.gumbel_noise(rng, z.shape).astype(z.dtype, copy=False)  # pragma: no mutate
        yield index, gumbel.noisy_halves(np, z, noise, (0,), slices.mask_of(index), zmax)[0]


def _noisy(
    slices: Slices, outer: tuple[int, ...], zmax: Any, rng: np.random.Generator
) -> Callable[[], Iterator[tuple[tuple[Any, ...], Any]]]:
    """A pass over the blocks of ``(x - max + G) / T`` of slice ``outer`` (``gumbel.over_temperature``),
    drawing the noise of one call each time it is called; first (only when ``T != 1``) the
    temperature's guard over the halves of the whole slice, so that the blocks are divided as
    one call divides."""
    from .variants import gumbel  # the variants import this module

    start = rng.bit_generator.state
    guard = None
    if not (isinstance(slices.t, float) and slices.t == 1.0):
        halves = _halves(slices, outer, zmax, rng, start)
        guard = slices.guard_of((index, half, None) for index, half in halves)

    def blocks() -> Iterator[tuple[tuple[Any, ...], Any]]:
        for index, half in _halves(slices, outer, zmax, rng, start):
            yield index, gumbel.over_temperature(np, half, slices.temperature_of(index), (0,), guard)

    return blocks


def gumbel_softmax(slices: Slices, rng: np.random.Generator, out_dtype: Any) -> np.ndarray:
    """``softmax((x + G) / T)`` block by block, the noise ``G`` drawn as in one call.

    The noisy logits are needed four times (the temperature's guard, maximum,
    sums, result) and never kept: each pass redraws the slice's noise from the
    generator's state at the slice's start, which leaves the generator where one
    call leaves it.
    """
    r = slices.r
    result = np.empty(slices.x.shape, out_dtype)
    for outer in slices.slices():
        zmax, nan = maximum(slices, outer, None)
        noisy_blocks = _noisy(slices, outer, zmax, rng)

        def noisy() -> Iterator[tuple[Any, Any]]:
            for _, values in noisy_blocks():
                yield values, None

        s = scale(r, noisy, compensate=True)
        for index, (values, _) in zip(slices.blocks(outer), noisy()):
            block = shifted(r, values, None, s, compensate=True)
            probs = _stable.with_nan_slices(np, _stable.softmax_from(np, block), nan)
            result[index] = _backend.cast(np, probs, out_dtype)
    return result


def gumbel_hardmax(slices: Slices, rng: np.random.Generator, out_dtype: Any) -> np.ndarray:
    """``hardmax((x + G) / T)`` block by block: the one-hot of the first largest noisy logit.

    One pass finds the maximum of the logits (the noise is added to the logits
    shifted by it, as in one call), one (when ``T != 1``) the temperature's
    guard, one draws the noise block by block and keeps the first largest sum,
    one writes the one-hots: each pass over the noise starts from the same
    state, so the generator ends where one call leaves it.
    """
    result = np.empty(slices.x.shape, out_dtype)
    for outer in slices.slices():
        zmax, nan = maximum(slices, outer, None)
        best: Any = None
        chosen: Any = None
        for index, values in _noisy(slices, outer, zmax, rng)():
            top = np.argmax(values, axis=0)
            top_value = np.take_along_axis(values, top[None], axis=0)[0]
            if best is None:  # the first block, which starts at 0
                best, chosen = top_value, top
            else:
                better = top_value > best  # the first largest, as argmax
                best = np.where(better, top_value, best)
                chosen = np.where(better, top + index[-1].start, chosen)
        for index in slices.blocks(outer):
            span = index[-1]
            positions = np.arange(span.start, min(span.stop, slices.x.shape[slices.axis]))
            positions = positions.reshape((-1,) + (1,) * np.ndim(chosen))
            one_hot = ((positions == chosen) & (best > -np.inf)).astype(out_dtype)
            result[index] = _stable.with_nan_slices(np, one_hot, nan)
    return result


def entmax(
    slices: Slices,
    alpha: float,
    mapping: Callable[[np.ndarray, int], np.ndarray],
    out: np.ndarray,
    threshold: Threshold,
) -> np.ndarray:
    """alpha-entmax of each slice (``slices.axis`` last), from the scores that can be in its support.

    The threshold of entmax lies at or above the scaled maximum minus 1, so
    only the scaled scores above -1 are gathered: ``mapping(scores, n_live)``
    (a ``(1, m)`` array, and the number of scores above -2 of the whole
    slice, which the bisection's bracket needs) gives their probabilities;
    every other entry is 0. Sparsemax and 1.5-entmax then give the values of
    one call bit for bit. The gathered scores are as many as the slice's
    entries within ``1 / (alpha - 1)`` of its maximum (``x / T``): all of
    them for a constant slice, so past ``CHUNK_BYTES / 2`` of them
    ``threshold`` finds the threshold over the blocks instead (see
    :func:`entmax_blocks`).
    """
    for outer in slices.slices():
        for index, probs, _ in entmax_blocks(slices, outer, alpha, mapping, threshold):
            out[index] = _backend.cast(np, probs, out.dtype)
    return out


#: Threshold of the scaled scores given block by block (a callable that
#: iterates over them, called once per pass) and the number of the slice's
#: scores above -2, for slices with too many scores to gather: ``(tau,
#: total)``, the probabilities are then ``(s - tau)_+ ** (1 / (alpha - 1)) / total``
#: (``total`` is 1 for the exact thresholds, the sum that normalises a bisection's).
Threshold = Callable[[Callable[[], Iterator[np.ndarray]], int], tuple[float, float]]


def entmax_blocks(
    slices: Slices,
    outer: tuple[int, ...],
    alpha: float,
    mapping: Callable[[np.ndarray, int], np.ndarray],
    threshold: Threshold,
) -> Iterator[tuple[tuple[Any, ...], Any, Any]]:
    """The blocks of slice ``outer`` of :func:`entmax`: index, probabilities, shifted logits.

    The probabilities are in the compute dtype (NaN over a NaN slice), the
    shifted logits ``x / T - max`` those of ``_stable.shift_by_max``. When
    more than ``CHUNK_BYTES / 2`` scores (4 blocks of float64) could be in the
    support (a near-constant slice), ``threshold`` finds it over the blocks
    instead of gathering them: the values of one call to within the rounding
    of its sums.
    """
    r = slices.r
    guard = slices.guard(outer)
    zmax, nan = maximum(slices, outer, guard)

    def shifted_logits(index: tuple[Any, ...]) -> np.ndarray:
        z, _ = _stable.exclude(np, slices.logits(index, guard), r, where=slices.mask_of(index))
        return np.asarray(_stable.difference(np, z, zmax))

    def scaled(diff: np.ndarray) -> np.ndarray:
        # As entmax_of_shifted: clamped at -2, below anything in the support.
        return np.maximum(diff * (alpha - 1.0), -2.0)

    live = bool(np.asarray(zmax)[0] > -np.inf)
    limit = _chunks.CHUNK_BYTES // 2
    gathered: list[np.ndarray] | None = []
    n_live = n_gathered = 0
    for index in slices.blocks(outer):
        values = scaled(shifted_logits(index))
        if gathered is not None:
            gathered.append(values[values > -1.0])
            n_gathered += gathered[-1].size
            if n_gathered > limit:
                gathered = None  # too many: the threshold is found over the blocks
        n_live += int(np.count_nonzero(values > -2.0))
    tau: float | None = None
    total = 1.0  # pragma: no mutate
    if gathered is None and live:
        tau, total = threshold(
            lambda: (scaled(shifted_logits(index)) for index in slices.blocks(outer)), n_live
        )
    probs = np.empty(0)  # pragma: no mutate
    if gathered is not None and live:
        probs = mapping(np.concatenate(gathered)[None, :], n_live)[0]
    del gathered
    used = 0
    for index in slices.blocks(outer):
        diff = shifted_logits(index)
        values = scaled(diff)
        block = np.zeros(values.shape, values.dtype)
        if tau is not None:
            block = np.maximum(values - tau, 0.0) ** (1.0 / (alpha - 1.0)) / total
        elif live:
            support = values > -1.0
            count = int(np.count_nonzero(support))
            block[support] = probs[used : used + count]
            used += count
        yield index, _stable.with_nan_slices(np, block, nan), diff


#: Filters of a slice's draws (top-k, top-p, min-p) found over its blocks:
#: given the blocks' ``(log-probabilities, classes drawable)`` (a callable
#: called once per pass), how a block's drawable classes are filtered.
Filters = Callable[[Callable[[], Iterator[tuple[Any, Any]]]], Callable[[Any, Any], Any]]


def sample(
    slices: Slices,
    rng: np.random.Generator,
    draws: tuple[int, ...],
    *,
    greedy: bool,
    filters: Filters | None = None,
) -> np.ndarray:
    """Draws from each slice (``slices.axis`` last) by the Gumbel-max trick.

    As one call: the noise of a slice is drawn draw after draw, each over the
    whole slice in order, and added to the log-probabilities (0 at the
    maxima for greedy draws) of the classes the ``filters`` keep; the first
    largest sum is the draw. A slice with nothing to draw from raises as one
    call does (``variants.sampling``).
    """
    from .variants import _random  # the variants import this module

    batch = slices.x.shape[: slices.axis]
    result = np.empty((*batch, *draws), np.int64)
    for outer in slices.slices():
        guard, s = scale_of(slices, outer)
        if bool(s.nan_slice[0]) or not bool(s.norm[0] > 0):
            raise ValueError(
                "logits has a slice with no class to draw from (all -inf, all masked by "
                "where, or holding a NaN)"
            )

        def log_probs(index: tuple[Any, ...]) -> tuple[Any, Any]:
            block = shifted(
                slices.r, slices.logits(index, guard), slices.mask_of(index), s,
                compensate=slices.compensate,
            )  # fmt: skip
            logp = _stable.log_softmax_from(np, block)
            keep = logp > -np.inf
            if greedy:
                keep &= block.diff == 0
            return logp, keep

        def blocks() -> Iterator[tuple[Any, Any]]:
            return (log_probs(index) for index in slices.blocks(outer))

        kept = None if filters is None else filters(blocks)
        for draw in np.ndindex(*draws):
            best, chosen = -np.inf, 0
            for index in slices.blocks(outer):
                logp, keep = log_probs(index)
                if kept is not None:
                    keep = kept(logp, keep)
                noisy = np.where(keep, 0.0 if greedy else logp, -np.inf)
                # In the dtype of the logits, as one call adds it.
                noise = _random.gumbel_noise(rng, noisy.shape)
                noise = noise.astype(noisy.dtype, copy=False)  # pragma: no mutate
                noisy = noisy + noise
                top = int(np.argmax(noisy))
                if noisy[top] > best:
                    best, chosen = noisy[top], index[-1].start + top
            result[(*outer, *draw)] = chosen
    return result
