"""Entropy and KL divergence of categorical distributions, given as logits or as probabilities.

The input kind is said by keyword, as ``torch.distributions.Categorical``
takes it (``logits=`` or ``probs=``): the same name means different inputs in
the peers (``scipy.stats.entropy`` takes probabilities), so a positional
argument is refused rather than guessed.

From logits, working in log space avoids ``p * log(p)`` on probabilities that
have underflowed to 0 (``0 * -inf = NaN``) and the loss of accuracy of
``log(softmax(x))``: both use the shifted logits of ``_stable.shift_by_max``
and its log-normaliser, like :func:`softmaxkit.log_softmax`. Probabilities
are normalised over the axis first, as SciPy and torch do.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, NamedTuple, overload

import numpy as np

from .. import _backend, _chunks, _core, _family, _stable, _streams
from .. import _validate as validate
from .._typing import ArrayLike, ArrayT, Axis, Nested, NumPyArray

# The default of the refused positional argument: no array is ever this object.
_NOT_GIVEN: Any = object()


@overload
def entropy(
    *,
    logits: ArrayT,
    axis: Axis = -1,
    temperature: ArrayLike = 1.0,
    where: ArrayLike | None = None,
) -> ArrayT: ...
@overload
def entropy(
    *,
    probs: ArrayT,
    axis: Axis = -1,
    temperature: ArrayLike = 1.0,
    where: ArrayLike | None = None,
) -> ArrayT: ...
@overload
def entropy(
    *,
    logits: Nested,
    axis: Axis = -1,
    temperature: ArrayLike = 1.0,
    where: ArrayLike | None = None,
) -> NumPyArray: ...
@overload
def entropy(
    *,
    probs: Nested,
    axis: Axis = -1,
    temperature: ArrayLike = 1.0,
    where: ArrayLike | None = None,
) -> NumPyArray: ...


def entropy(
    x: Any = _NOT_GIVEN,
    /,
    *,
    logits: Any = None,
    probs: Any = None,
    axis: Any = -1,
    temperature: Any = 1.0,
    where: Any = None,
) -> Any:
    r"""Shannon entropy (nats) of a categorical distribution over ``axis``.

    .. math:: H = -\sum_i p_i \log p_i, \quad p = \mathrm{softmax}(x / T)
              \text{ or } p = \frac{\mathrm{probs}}{\sum \mathrm{probs}}

    Parameters
    ----------
    logits : array_like, optional
        Unnormalised log-probabilities.
    probs : array_like, optional
        Probabilities, or non-negative weights: they are divided by their sum
        over ``axis``, as ``scipy.stats.entropy(pk)`` and
        ``torch.distributions.Categorical(probs=...)`` do. Exactly one of
        ``logits`` and ``probs`` is given.
    axis : int, tuple of ints or None, optional
        The axis or axes of the distribution (default the last; note that
        ``scipy.stats.entropy`` defaults to axis 0).
    temperature : float or array_like, optional
        As in :func:`softmaxkit.softmax`; with ``logits`` only.
    where : array_like of bool, optional
        Classes excluded from the distribution (probability 0).

    Returns
    -------
    array
        The reduced array (``axis`` removed; a 0-d array for one
        distribution), floating dtype of the input; between 0 and ``log(n)``.

    Raises
    ------
    TypeError
        A positional argument (say ``logits=`` or ``probs=``), or both or
        neither of them.
    ValueError
        ``probs`` negative or not finite, or a slice summing to 0; a
        ``temperature`` with ``probs``.

    Notes
    -----
    Classes with probability 0 (``-inf`` logits, masked) contribute 0. A
    slice with no class left, or a zero-length axis, has entropy 0 (an
    empty sum); ``k`` classes at ``+inf`` give ``log(k)``; a NaN logit gives
    NaN. The values of ``probs`` are not checked on a lazy array (Dask): a
    slice of zeros gives NaN there instead of the ValueError.

    Examples
    --------
    >>> import softmaxkit as sk
    >>> float(sk.entropy(logits=[0.0, 0.0, 0.0, 0.0]))  # log 4
    1.3862943611198906
    >>> float(sk.entropy(logits=[0.0, -1000.0]))
    0.0
    >>> round(float(sk.entropy(probs=[0.9, 0.1])), 12)  # as scipy.stats.entropy([0.9, 0.1])
    0.325082973391
    """
    _refuse_positional("entropy", x)
    given = logits if probs is None else probs
    where, temperature = _chunks.on_host(given, where, temperature)
    plan = _chunks.plan_for(given, axis, where, temperature)
    if plan is not None and plan.kind == "blocks":
        # Probabilities, logs and products are whole-array temporaries: a block at a time.
        keyword = "logits" if probs is None else "probs"
        return _chunks.by_rows(
            lambda block, mask, t: entropy(**{keyword: block}, axis=axis, temperature=t, where=mask),
            given, along=plan.axis, broadcast=(where, temperature), reduced=axis % given.ndim,
        )  # fmt: skip
    if plan is not None and (probs is None or _is_one(temperature)):
        # One slice is large: its blocks along the axis, in passes.
        slices, blocks, out_dtype = _streamed(logits, probs, plan.axis, temperature, where, kind="")
        return _streams.information(slices, None, out_dtype, p_blocks=blocks)
    d = _distribution(logits, probs, axis, temperature, where, kind="")
    xp = d.xp
    if d.empty:
        return _backend.cast(xp, xp.sum(d.probs, axis=d.axes) * 0.0, d.out_dtype)
    # Mask before multiplying: 0 * -inf would be NaN (and a warning).
    logp = xp.where(d.probs == 0, 0.0, d.log_probs)
    # 0 - sum, not -sum: an entropy of 0 prints as 0.0, not -0.0.
    return _backend.cast(xp, 0.0 - xp.sum(d.probs * logp, axis=d.axes), d.out_dtype)


@overload
def kl_divergence(
    *,
    logits_p: ArrayT,
    logits_q: ArrayLike,
    axis: Axis = -1,
    where: ArrayLike | None = None,
) -> ArrayT: ...
@overload
def kl_divergence(
    *,
    logits_p: ArrayT,
    probs_q: ArrayLike,
    axis: Axis = -1,
    where: ArrayLike | None = None,
) -> ArrayT: ...
@overload
def kl_divergence(
    *,
    probs_p: ArrayT,
    logits_q: ArrayLike,
    axis: Axis = -1,
    where: ArrayLike | None = None,
) -> ArrayT: ...
@overload
def kl_divergence(
    *,
    probs_p: ArrayT,
    probs_q: ArrayLike,
    axis: Axis = -1,
    where: ArrayLike | None = None,
) -> ArrayT: ...
@overload
def kl_divergence(
    *,
    logits_p: Nested | None = None,
    logits_q: ArrayLike | None = None,
    probs_p: Nested | None = None,
    probs_q: ArrayLike | None = None,
    axis: Axis = -1,
    where: ArrayLike | None = None,
) -> NumPyArray: ...


def kl_divergence(
    x: Any = _NOT_GIVEN,
    y: Any = _NOT_GIVEN,
    /,
    *,
    logits_p: Any = None,
    logits_q: Any = None,
    probs_p: Any = None,
    probs_q: Any = None,
    axis: Any = -1,
    where: Any = None,
) -> Any:
    r"""Kullback-Leibler divergence ``KL(p || q)`` (nats) of two categorical distributions.

    .. math:: \mathrm{KL}(p \,\|\, q) = \sum_i p_i (\log p_i - \log q_i)

    Each distribution is given by keyword, as logits (``logits_p``,
    ``logits_q``: ``p = softmax(logits_p)``) or as probabilities
    (``probs_p``, ``probs_q``: normalised over ``axis``, as
    ``scipy.stats.entropy(pk, qk)`` does); the kinds may be mixed.

    Parameters
    ----------
    logits_p, probs_p : array_like
        The distribution ``p``: exactly one of the two.
    logits_q, probs_q : array_like
        The distribution ``q``: exactly one of the two. ``p`` and ``q``
        broadcast together.
    axis : int, tuple of ints or None, optional
        The axis or axes of the distributions (default the last; note that
        ``scipy.stats.entropy`` defaults to axis 0).
    where : array_like of bool, optional
        Classes excluded from both distributions.

    Returns
    -------
    array
        The reduced array (a 0-d array for one pair), >= 0; ``+inf`` when
        ``p`` puts mass where ``q`` has none.

    Raises
    ------
    TypeError
        Positional arguments, or not exactly one of each pair.
    ValueError
        Shapes that do not broadcast; bad ``probs_p``/``probs_q`` (as in
        :func:`entropy`).

    Notes
    -----
    Classes where ``p`` is 0 contribute 0, whatever ``q`` is there. From
    logits this is ``torch.nn.functional.kl_div(log_q, log_p,
    log_target=True)`` summed over the class axis; from normalised
    probabilities, ``scipy.special.rel_entr(p, q)`` summed.

    Examples
    --------
    >>> import softmaxkit as sk
    >>> round(float(sk.kl_divergence(logits_p=[0.0, 0.0], logits_q=[0.0, 1.0])), 10)
    0.120114507
    >>> float(sk.kl_divergence(logits_p=[0.0, float("-inf")], logits_q=[0.0, 5.0]))  # = -log q_0
    5.006715348489118
    >>> round(float(sk.kl_divergence(probs_p=[0.5, 0.5], probs_q=[0.9, 0.1])), 12)
    0.510825623766
    """
    _refuse_positional("kl_divergence", x, y)
    given_p = _one_of("logits_p", logits_p, "probs_p", probs_p)
    given_q = _one_of("logits_q", logits_q, "probs_q", probs_q)
    plan = None
    if type(given_q) is np.ndarray and getattr(given_p, "shape", None) == given_q.shape:
        (where,) = _chunks.on_host(given_p, where)
        plan = _chunks.plan_for(given_p, axis, where)
    if plan is not None and plan.kind == "blocks":
        # Two distributions' temporaries: a block at a time.
        keyword_p = "logits_p" if probs_p is None else "probs_p"
        keyword_q = "logits_q" if probs_q is None else "probs_q"
        return _chunks.by_rows(
            lambda p, q, mask: kl_divergence(**{keyword_p: p, keyword_q: q}, axis=axis, where=mask),
            given_p, given_q, along=plan.axis, broadcast=(where,), reduced=axis % given_p.ndim,
        )  # fmt: skip
    if plan is not None:
        # One slice is large: its blocks along the axis, in passes.
        sp, blocks_p, dtype_p = _streamed(logits_p, probs_p, plan.axis, 1.0, where, kind="_p")
        sq, blocks_q, dtype_q = _streamed(logits_q, probs_q, plan.axis, 1.0, where, kind="_q")
        return _streams.information(
            sp, sq, np.result_type(dtype_p, dtype_q), p_blocks=blocks_p, q_blocks=blocks_q
        )
    name_p = "logits_p" if probs_p is None else "probs_p"
    name_q = "logits_q" if probs_q is None else "probs_q"
    xp = validate.namespace(given_p, given_q)
    a = validate.as_array(xp, given_p, name=name_p)
    b = validate.as_array(xp, given_q, like=a, name=name_q)
    validate.float_dtype_of(xp, a, name=name_p)  # before broadcasting: "abc" is 0-d
    validate.float_dtype_of(xp, b, name=name_q)
    try:
        a, b = xp.broadcast_arrays(a, b)
    except (ValueError, RuntimeError) as exc:
        raise ValueError(
            f"{name_p} of shape {tuple(a.shape)} and {name_q} of shape {tuple(b.shape)} "
            "do not broadcast together"
        ) from exc
    p_logits, p_probs = (a, None) if probs_p is None else (None, a)
    q_logits, q_probs = (b, None) if probs_q is None else (None, b)
    dp = _distribution(p_logits, p_probs, axis, 1.0, where, kind="_p")
    dq = _distribution(q_logits, q_probs, axis, 1.0, where, kind="_q")
    out_dtype = xp.result_type(dp.out_dtype, dq.out_dtype)
    if dp.empty:
        return _backend.cast(xp, xp.sum(dp.probs, axis=dp.axes) * 0.0, out_dtype)
    # Where p is 0 the term is 0 whatever q is: mask both logs first, so that
    # neither -inf - -inf nor 0 * inf is ever formed.
    outside = dp.probs == 0
    log_p = xp.where(outside, 0.0, dp.log_probs)
    log_q = xp.where(outside, 0.0, dq.log_probs)
    return _backend.cast(xp, xp.sum(dp.probs * (log_p - log_q), axis=dp.axes), out_dtype)


class _Distribution(NamedTuple):
    xp: Any
    probs: Any  # normalised over axes, in the compute dtype
    log_probs: Any  # -inf where probs is 0
    axes: tuple[int, ...]
    out_dtype: Any
    empty: bool  # a zero-length axis: probs is the (empty) input


def _distribution(
    logits: Any, probs: Any, axis: Any, temperature: Any, where: Any, *, kind: str
) -> _Distribution:
    """The probabilities and log-probabilities of logits or of (unnormalised) probabilities."""
    _one_of(f"logits{kind}", logits, f"probs{kind}", probs)
    if probs is None:
        p = _family.prepare(logits, axis, temperature, where, name=f"logits{kind}")
        if _family.has_empty_axis(p):
            return _Distribution(p.xp, p.z, p.z, p.axes, p.out_dtype, True)
        s = _stable.shift_by_max(p.xp, p.z, p.axes, where=p.mask, compensate=p.compensate)
        return _Distribution(
            p.xp, _stable.softmax_from(p.xp, s), _stable.log_softmax_from(p.xp, s),
            p.axes, p.out_dtype, False,
        )  # fmt: skip
    if not (isinstance(temperature, (int, float)) and temperature == 1.0):
        raise ValueError(
            f"temperature applies to logits, not to probs{kind}; got temperature={temperature!r}"
        )
    p = _family.prepare(probs, axis, 1.0, where, name=f"probs{kind}")
    xp, z = p.xp, p.z
    if _family.has_empty_axis(p):
        return _Distribution(xp, z, z, p.axes, p.out_dtype, True)
    z = _checked_weights(xp, z, p.mask, p.axes, kind=kind)
    total = _positive_total(xp, xp.sum(z, axis=p.axes, keepdims=True), kind=kind)
    return _Distribution(xp, *_normalised_weights(xp, z, total), p.axes, p.out_dtype, False)


def _checked_weights(xp: Any, z: Any, mask: Any, axes: tuple[int, ...], *, kind: str) -> Any:
    """Weights (compute dtype) with the excluded classes at 0, checked finite and >= 0."""
    if mask is not None:
        z = xp.where(mask, z, 0.0)
    validate.probabilities(xp, z, axes, name=f"probs{kind}", normalised=False, other=f"logits{kind}")
    return z


def _positive_total(xp: Any, total: Any, *, kind: str) -> Any:
    if validate.concrete_bool(xp.any(total == 0)):
        raise ValueError(f"probs{kind} must have a positive sum over every slice, got a slice of zeros")
    return total


def _normalised_weights(xp: Any, z: Any, total: Any) -> tuple[Any, Any]:
    """``z / total`` and its log (``-inf`` where ``z`` is 0), for weights ``z`` of slice sums ``total``.

    A slice of zeros reaches this only on a lazy array (Dask, JAX under ``jit``),
    whose values are not checked: its probabilities and logs are NaN, so its
    entropy is NaN as ``scipy.stats.entropy([0, 0])`` is, not a silent 0.
    """
    positive = z > 0
    total_safe = xp.where(total > 0, total, xp.nan)
    log_probs = xp.where(positive, xp.log(xp.where(positive, z, 1.0)), -xp.inf) - xp.log(total_safe)
    return z / total_safe, log_probs


def _streamed(
    logits: Any, probs: Any, axis: int, temperature: Any, where: Any, *, kind: str
) -> tuple[_streams.Slices, _streams.Distribution, Any]:
    """A large NumPy distribution's slices, the blocks of its probabilities, and its dtype."""
    name = f"logits{kind}" if probs is None else f"probs{kind}"
    v = _family.validated(logits if probs is None else probs, axis, temperature, where, name=name)
    slices = _streams.Slices(v.x, axis, v.temperature, v.mask, v.work_dtype, v.out_dtype)
    if probs is None:
        return slices, _streams.distribution, v.out_dtype

    def weights(
        s: _streams.Slices, outer: tuple[int, ...], with_probs: bool
    ) -> Iterator[tuple[Any, Any]]:
        # As _distribution, a block at a time: the checks and the sum, then the values.
        def blocks() -> Iterator[Any]:
            for index in s.blocks(outer):
                yield _checked_weights(np, s.logits(index, None), s.mask_of(index), (0,), kind=kind)

        total = _positive_total(np, sum(np.sum(z, axis=0, keepdims=True) for z in blocks()), kind=kind)
        for z in blocks():
            probs, log_probs = _normalised_weights(np, z, total)
            yield (probs if with_probs else None), log_probs

    return slices, weights, v.out_dtype


def _is_one(temperature: Any) -> bool:
    """True for a temperature that is the number 1 (the only one ``probs`` takes)."""
    return isinstance(temperature, (int, float)) and temperature == 1.0


def _one_of(name_a: str, a: Any, name_b: str, b: Any) -> Any:
    """The one of ``a``, ``b`` that is given; TypeError unless exactly one is."""
    if (a is None) == (b is None):
        raise TypeError(f"give exactly one of {name_a}= and {name_b}=")
    return a if b is None else b


def _refuse_positional(function: str, *values: Any) -> None:
    if any(v is not _NOT_GIVEN for v in values):
        raise TypeError(
            f"{function}() takes its inputs by keyword, to say what they are: "
            f"logits (logits=...) or probabilities (probs=...); scipy.stats.entropy "
            f"takes probabilities where earlier softmaxkit versions took logits"
        )
