"""Entropy and KL divergence of softmax distributions, computed from the logits.

Working from logits avoids ``p * log(p)`` on probabilities that have
underflowed to 0 (``0 * -inf = NaN``) and the loss of accuracy of
``log(softmax(x))``: both use the shifted logits of ``_stable.shift_by_max``
and its log-normaliser, like :func:`softmaxkit.log_softmax`.
"""

from __future__ import annotations

from typing import Any

from .. import _backend, _core, _family, _stable
from .. import _validate as validate


def entropy(logits: Any, /, axis: Any = -1, *, temperature: Any = 1.0, where: Any = None) -> Any:
    r"""Shannon entropy (nats) of ``softmax(logits / T)`` over ``axis``.

    .. math:: H = -\sum_i p_i \log p_i, \quad p = \mathrm{softmax}(x / T)

    Parameters
    ----------
    logits : array_like
        Unnormalised log-probabilities.
    axis : int, tuple of ints or None, optional
        The axis or axes of the distribution (default the last).
    temperature, where
        As in :func:`softmaxkit.softmax`.

    Returns
    -------
    array
        The reduced array (``axis`` removed), floating dtype of ``logits``;
        between 0 and ``log(n)``.

    Notes
    -----
    Classes with probability 0 (``-inf`` logits, masked) contribute 0. A
    slice with no class left, or a zero-length axis, has entropy 0 (an
    empty sum); ``k`` classes at ``+inf`` give ``log(k)``; a NaN gives NaN.

    Examples
    --------
    >>> import softmaxkit as sk
    >>> float(sk.entropy([0.0, 0.0, 0.0, 0.0]))  # log 4
    1.3862943611198906
    >>> float(sk.entropy([0.0, -1000.0]))
    0.0
    """
    p = _family.prepare(logits, axis, temperature, where)
    xp = p.xp
    if _family.has_empty_axis(p):
        return xp.astype(xp.sum(p.z, axis=p.axes) * 0.0, p.out_dtype)
    s = _stable.shift_by_max(xp, p.z, p.axes, where=p.mask, compensate=p.compensate)
    probs = _stable.softmax_from(xp, s)
    # Mask before multiplying: 0 * -inf would be NaN (and a warning).
    logp = xp.where(probs == 0, 0.0, _stable.log_softmax_from(xp, s))
    # 0 - sum, not -sum: an entropy of 0 prints as 0.0, not -0.0.
    return _backend.cast(xp, 0.0 - xp.sum(probs * logp, axis=p.axes), p.out_dtype)


def kl_divergence(logits_p: Any, logits_q: Any, /, axis: Any = -1, *, where: Any = None) -> Any:
    r"""Kullback-Leibler divergence ``KL(p || q)`` (nats) of two softmax distributions.

    .. math:: \mathrm{KL}(p \,\|\, q) = \sum_i p_i (\log p_i - \log q_i),
              \quad p = \mathrm{softmax}(x_p), \; q = \mathrm{softmax}(x_q)

    Parameters
    ----------
    logits_p, logits_q : array_like
        Logits of the two distributions; they broadcast together.
    axis : int, tuple of ints or None, optional
        The axis or axes of the distributions (default the last).
    where : array_like of bool, optional
        Classes excluded from both distributions.

    Returns
    -------
    array
        The reduced array, >= 0; ``+inf`` when ``p`` puts mass where ``q``
        has none.

    Notes
    -----
    Classes where ``p`` is 0 contribute 0, whatever ``q`` is there. This is
    ``torch.nn.functional.kl_div(log_q, log_p, log_target=True)`` summed
    over the class axis, and ``scipy.special.rel_entr(p, q)`` summed.

    Examples
    --------
    >>> import softmaxkit as sk
    >>> round(float(sk.kl_divergence([0.0, 0.0], [0.0, 1.0])), 10)
    0.120114507
    >>> float(sk.kl_divergence([0.0, float("-inf")], [0.0, 5.0]))  # = -log q_0
    5.006715348489118
    """
    xp = validate.namespace(logits_p, logits_q)
    a = validate.as_array(xp, logits_p, name="logits_p")
    b = validate.as_array(xp, logits_q, like=a, name="logits_q")
    validate.float_dtype_of(xp, a, name="logits_p")
    validate.float_dtype_of(xp, b, name="logits_q")
    try:
        a, b = xp.broadcast_arrays(a, b)
    except (ValueError, RuntimeError) as exc:
        raise ValueError(
            f"logits_p of shape {tuple(a.shape)} and logits_q of shape {tuple(b.shape)} "
            "do not broadcast together"
        ) from exc
    pp = _family.prepare(a, axis, 1.0, where)
    pq = _family.prepare(b, axis, 1.0, where)
    out_dtype = xp.result_type(pp.out_dtype, pq.out_dtype)
    if _family.has_empty_axis(pp):
        return xp.astype(xp.sum(pp.z, axis=pp.axes) * 0.0, out_dtype)
    sp = _stable.shift_by_max(xp, pp.z, pp.axes, where=pp.mask, compensate=pp.compensate)
    sq = _stable.shift_by_max(xp, pq.z, pq.axes, where=pq.mask, compensate=pq.compensate)
    probs = _stable.softmax_from(xp, sp)
    # Where p is 0 the term is 0 whatever q is: mask both logs first, so that
    # neither -inf - -inf nor 0 * inf is ever formed.
    outside = probs == 0
    log_p = xp.where(outside, 0.0, _stable.log_softmax_from(xp, sp))
    log_q = xp.where(outside, 0.0, _stable.log_softmax_from(xp, sq))
    return _backend.cast(xp, xp.sum(probs * (log_p - log_q), axis=pp.axes), out_dtype)
