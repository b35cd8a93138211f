r"""Gumbel-softmax: differentiable, relaxed samples of a categorical distribution.

``softmax((logits + G) / T)`` with ``G`` standard Gumbel noise is a sample
from the Concrete (Gumbel-softmax) distribution (Jang et al., 2017; Maddison
et al., 2017); its argmax is an exact sample of ``softmax(logits)`` (the
Gumbel-max trick).
"""

from __future__ import annotations

from typing import Any, overload

from .. import _chunks, _core, _family, _host, _stable, _streams
from .. import _validate as validate
from .._typing import ArrayLike, ArrayT, Nested, NumPyArray, Seed
from . import _random


@overload
def gumbel_softmax(
    logits: ArrayT,
    /,
    temperature: ArrayLike = 1.0,
    *,
    hard: bool = False,
    axis: int = -1,
    seed: Seed = None,
    where: ArrayLike | None = None,
) -> ArrayT: ...
@overload
def gumbel_softmax(
    logits: Nested,
    /,
    temperature: ArrayLike = 1.0,
    *,
    hard: bool = False,
    axis: int = -1,
    seed: Seed = None,
    where: ArrayLike | None = None,
) -> NumPyArray: ...


def gumbel_softmax(
    logits: Any,
    /,
    temperature: Any = 1.0,
    *,
    hard: bool = False,
    axis: int = -1,
    seed: Any = None,
    where: Any = None,
) -> Any:
    r"""A Gumbel-softmax sample: ``softmax((logits + G) / temperature)``.

    Parameters
    ----------
    logits : array_like
        Unnormalised log-probabilities, the classes along ``axis``.
    temperature : float or array_like, optional
        A finite number > 0 (or per-row array). Small temperatures give
        nearly one-hot samples, large ones nearly uniform. There is no
        ``temperature = 0`` (pytorch/pytorch#184031 gave NaN there): use
        ``hard=True`` for exact one-hots.
    hard : bool, optional
        Return the one-hot of the sample's argmax instead (an exact sample of
        ``softmax(logits)`` as a one-hot). The same ``seed`` gives the same
        noise with ``hard`` True or False, so the soft sample for the
        straight-through estimator is ``gumbel_softmax(..., hard=False)`` with
        that seed, and its gradient :func:`softmaxkit.softmax_vjp` of it.
    axis : int, optional
        The class axis (default the last).
    seed : int, numpy.random.Generator or None, optional
        The source of the noise. An int or a generator in a given state gives
        the same sample on every array library; None is not reproducible.
    where : array_like of bool, optional
        Mask broadcastable to ``logits``; False classes are never drawn.

    Returns
    -------
    array
        The shape and floating dtype of ``logits``, same library and device;
        each slice sums to one (or is all zeros, see Notes).

    Raises
    ------
    ValueError, TypeError
        A bad ``temperature``, ``axis``, ``seed`` or ``where``; a non-bool
        ``hard``.

    Notes
    -----
    The noise is drawn in float64 and is always finite (never ``-log(0)``,
    the NaN of pytorch/pytorch#22442). Edge cases follow
    :func:`softmaxkit.softmax`: ``-inf`` and excluded classes are never
    drawn, a slice with none left gives zeros, a NaN gives a NaN slice. Where
    logits are ``+inf``, the sample is drawn among those classes alone (the
    limit of a large finite logit).

    Examples
    --------
    >>> import softmaxkit as sk
    >>> y = sk.gumbel_softmax([[1.0, 2.0, 3.0]], 0.5, seed=0)
    >>> y.round(4)
    array([[0.    , 0.0024, 0.9976]])
    >>> sk.gumbel_softmax([[1.0, 2.0, 3.0]], 0.5, hard=True, seed=0)
    array([[0., 0., 1.]])
    """
    if not isinstance(hard, bool):
        raise TypeError(f"hard must be a bool, got {hard!r}")
    rng = _random.generator(seed)
    xp = validate.namespace(logits)
    x = validate.as_array(xp, logits, name="logits")
    validate.float_dtype_of(xp, x, name="logits")  # before its shape: "abc" is 0-d
    ax = validate.class_axis(x, axis, name="logits")
    where, temperature = _chunks.on_host(x, where, temperature)
    plan = _chunks.plan_for(x, ax, where, temperature, in_order=True)
    if plan is not None and plan.kind == "blocks":
        # A block at a time: the noise is drawn in the same C order from the
        # same generator, so the draws are those of one call.
        return _chunks.by_rows(
            lambda block, mask, t: gumbel_softmax(
                block, t, hard=hard, axis=ax, seed=rng, where=mask
            ),
            x, along=plan.axis, broadcast=(where, temperature),
        )  # fmt: skip
    if plan is not None:
        # One slice is large: its blocks along the axis, in passes.
        v = _family.validated(x, ax, temperature, where, name="logits")
        slices = _streams.Slices(v.x, plan.axis, v.temperature, v.mask, v.work_dtype, v.out_dtype)
        stream = _streams.gumbel_hardmax if hard else _streams.gumbel_softmax
        return stream(slices, rng, v.out_dtype)
    v = _family.validated(x, ax, temperature, where, name="logits")
    # The logits undivided: the noise is added before the division by T.
    p = _family.prepare_validated(v._replace(temperature=1.0))
    if _family.has_empty_axis(p):
        return _family.finish(p, p.z)
    noise = _host.from_numpy(xp, _random.gumbel_noise(rng, tuple(p.z.shape)), like=p.z, dtype=p.z.dtype)
    half, nan_slice = noisy_halves(xp, p.z, noise, p.axes, p.mask)
    noisy = over_temperature(xp, half, v.temperature, p.axes)
    sample = _core.hardmax(noisy, axis=p.axes[0]) if hard else _core.softmax(noisy, axis=p.axes[0])
    return _family.finish(p, _stable.with_nan_slices(xp, sample, nan_slice))


def noisy_halves(
    xp: Any, z: Any, noise: Any, axes: tuple[int, ...], mask: Any, zmax: Any = None
) -> tuple[Any, Any]:
    """``(z - max + G) / 2`` over ``axes`` with softmax's edge-case policy, and which slices hold a NaN.

    The shifted logits carry the policy (``+inf`` classes become 0, the others
    ``-inf``; excluded and ``-inf`` classes ``-inf``); adding the noise to them
    gives the same sample as adding it to the logits, the shift being common to
    the slice, and keeps the noise where the logits are large. Halved, so that
    shifted logits below the dtype's most negative number stay finite: a large
    ``T`` brings them back. ``zmax`` is the maximum of a whole slice that ``z``
    is a block of (:mod:`softmaxkit._streams`).
    """
    r = _stable.AxesReduction(xp, axes)
    z, nan_slice = _stable.exclude(xp, z, r, where=mask)
    half = _stable.half_difference(xp, z, r.max(z) if zmax is None else zmax)
    return half + 0.5 * noise, nan_slice


def over_temperature(xp: Any, half: Any, t: Any, axes: tuple[int, ...], guard: Any = None) -> Any:
    """``(z - max + G) / T`` from its half: divided as softmax divides ``x / T``.

    :func:`softmaxkit._stable.divide_by_temperature` shifts a slice whose
    quotients would overflow by its largest sum, so that a tiny ``T`` gives the
    one-hot of the largest sum (adding the noise after dividing overflowed
    there, ``G / T``); the halves round as the sums do. ``guard`` is the
    :func:`softmaxkit._stable.temperature_shift` of the halves of a whole slice
    that ``half`` is a block of.
    """
    if not (isinstance(t, float) and t == 1.0):
        half = _stable.divide_by_temperature(xp, half, t, axes, shift=guard)
    return _stable.doubled(xp, half)
