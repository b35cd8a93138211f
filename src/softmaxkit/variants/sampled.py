r"""Sampled softmax: cross-entropy over the true classes and a sample of the others.

For a softmax layer over a huge number of classes ``C`` (a vocabulary, a
catalogue), ``tf.nn.sampled_softmax_loss`` replaces the sum over all classes
by a sum over the true classes and ``S`` classes drawn from a proposal
distribution ``Q`` (Jean et al., 2015, section 3). This module has its
semantics exactly:

* logits are ``z_c = <inputs, weights[c]> + biases[c]`` for the true classes
  and for the sampled ones (the same sample for the whole batch);
* each is corrected by the log of its expected count under the sampler,
  ``z_c - log E[count_c]`` (``subtract_log_q``): without that correction
  popular classes are over-penalised (NVIDIA-Merlin/models#1051);
* a sampled class equal to one of an example's true classes is an
  "accidental hit" and is removed from that example (``remove_accidental_hits``;
  TF adds ``-FLOAT_MAX``, here the logit is ``-inf``, excluded by the
  edge-case policy: exactly the same probabilities, and no 1e20 constant to
  overflow float16);
* the loss is the cross-entropy of ``softmax([true logits, sampled logits])``
  against the target ``1/num_true`` on each true column (TF's labels).

Expected counts follow TF's candidate samplers: with replacement, ``S p_c``;
with ``unique=True`` (sampling by rejection until ``S`` distinct classes are
drawn in ``n`` tries), ``1 - (1 - p_c)^n``, TF's ``ExpectedCountHelper``.
Where rejection would need very many tries (a class of probability 1e-12
still to find), the rest of the rejection process is simulated exactly
instead of drawn (Gumbel-top-k order, geometric numbers of tries), so memory
and time stay bounded and the sample and ``n`` have TF's distribution.

The gradient (with respect to inputs, weights and biases) is formed from the
closed-form gradient of the cross-entropy with respect to the sampled logits,
``G = softmax - target``: ``d inputs = G W_sampled``, and the rows of
``weights`` and entries of ``biases`` of the classes in the sample receive
``G^T inputs`` and ``sum G``, accumulated per class (a class can appear as a
true class of several examples and in the sample).
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any, Generic, overload

import array_api_compat
import numpy as np

from .. import _host, losses
from .. import _validate as validate
from .._typing import ArrayLike, ArrayT, NamedTuple, Nested, NumPyArray, Reduction, Sampler, Seed
from . import _random
from ._segments import Segments

SAMPLERS = ("log_uniform", "uniform", "unigram")
#: Class ids are drawn as floor(u * C) in float64: exact while C <= 2**53.
MAX_CLASSES = 2**53


class CandidateSample(NamedTuple, Generic[ArrayT]):
    """A sample of candidate classes and the expected counts of TF's samplers.

    ``candidates`` (``(num_sampled,)`` ints), ``true_expected_count``
    (``(batch, num_true)``) and ``sampled_expected_count`` (``(num_sampled,)``)
    are TF's ``sampled_values`` triple.
    """

    candidates: ArrayT
    true_expected_count: ArrayT
    sampled_expected_count: ArrayT


class SampledSoftmaxGrad(NamedTuple, Generic[ArrayT]):
    """Gradients of the sampled softmax loss, each the shape of its argument."""

    inputs: ArrayT
    weights: ArrayT
    biases: ArrayT


class SampledSoftmaxResult(NamedTuple, Generic[ArrayT]):
    """The sampled softmax loss and its gradient."""

    loss: ArrayT
    grad: SampledSoftmaxGrad[ArrayT]


@dataclasses.dataclass(frozen=True)  # nothing assigns to a sampler  # pragma: no mutate
class _Sampler:
    """A proposal distribution over ``num_classes`` classes."""

    kind: str
    num_classes: int
    probabilities: np.ndarray | None  # unigram only: p_c, float64

    def probability(self, classes: np.ndarray) -> np.ndarray:
        if self.kind == "uniform":
            return np.full(classes.shape, 1.0 / self.num_classes)
        if self.kind == "log_uniform":
            # P(c) = (log(c + 2) - log(c + 1)) / log(C + 1), TF's Zipfian sampler.
            zipf: np.ndarray = np.log1p(1.0 / (classes + 1.0)) / np.log1p(self.num_classes)
            return zipf
        picked: np.ndarray = self.unigram_probabilities[classes]
        return picked

    @property
    def unigram_probabilities(self) -> np.ndarray:
        """p_c of a unigram sampler, the only kind that has them."""
        assert self.probabilities is not None, "only a unigram sampler has probabilities"
        return self.probabilities

    @functools.cached_property
    def cumulative(self) -> np.ndarray:
        """unigram only: the cumulative probabilities the draws search (once per sampler)."""
        return np.cumsum(self.unigram_probabilities)

    def draw(self, rng: np.random.Generator, n: int) -> np.ndarray:
        u = rng.random(n)
        if self.kind == "uniform":
            classes = np.floor(u * self.num_classes)
        elif self.kind == "log_uniform":
            classes = np.floor(np.exp(u * np.log1p(self.num_classes))) - 1.0
        else:
            cumulative = self.cumulative
            classes = np.searchsorted(cumulative, u * cumulative[-1], side="right")
        return np.clip(classes, 0, self.num_classes - 1).astype(np.int64)

    def support_size(self) -> int:
        if self.probabilities is None:
            return self.num_classes
        return int(np.count_nonzero(self.probabilities))


@overload
def sample_candidates(
    labels: ArrayT,
    num_sampled: int,
    num_classes: int,
    *,
    num_true: int = 1,
    sampler: Sampler = "log_uniform",
    unique: bool = True,
    unigrams: ArrayLike | None = None,
    distortion: float = 1.0,
    seed: Seed = None,
) -> CandidateSample[ArrayT]: ...
@overload
def sample_candidates(
    labels: Nested,
    num_sampled: int,
    num_classes: int,
    *,
    num_true: int = 1,
    sampler: Sampler = "log_uniform",
    unique: bool = True,
    unigrams: ArrayLike | None = None,
    distortion: float = 1.0,
    seed: Seed = None,
) -> CandidateSample[NumPyArray]: ...


def sample_candidates(
    labels: Any,
    num_sampled: int,
    num_classes: int,
    *,
    num_true: int = 1,
    sampler: str = "log_uniform",
    unique: bool = True,
    unigrams: Any = None,
    distortion: float = 1.0,
    seed: Any = None,
) -> CandidateSample[Any]:
    r"""Draw the candidate classes of a sampled softmax, as TF's candidate samplers do.

    Parameters
    ----------
    labels : array_like of int
        The true classes, shape ``(batch, num_true)`` (or ``(batch,)`` when
        ``num_true`` is 1); only their expected counts depend on them.
    num_sampled : int
        How many classes to draw (for the whole batch).
    num_classes : int
        The number of classes ``C``.
    num_true : int, optional
        True classes per example.
    sampler : {"log_uniform", "uniform", "unigram"}, optional
        ``"log_uniform"``: Zipfian, ``P(c) = log((c + 2) / (c + 1)) / log(C + 1)``
        (classes sorted by decreasing frequency); ``"uniform"``: ``1 / C``;
        ``"unigram"``: proportional to ``unigrams ** distortion``.
    unique : bool, optional
        Draw without replacement (by rejection, as TF), default True.
    unigrams : array_like, optional
        Non-negative counts per class, required for ``"unigram"``.
    distortion : float, optional
        The power applied to ``unigrams`` (TF's ``distortion``), >= 0.
    seed : int, numpy.random.Generator or None, optional
        The source of randomness.

    Returns
    -------
    CandidateSample
        ``(candidates, true_expected_count, sampled_expected_count)`` in the
        library and device of ``labels`` (NumPy for lists); the counts are
        float64 where the library has it.

    Raises
    ------
    ValueError
        ``num_sampled`` larger than the classes that can be drawn with
        ``unique=True``; labels out of range; bad sampler arguments.

    Examples
    --------
    >>> import softmaxkit as sk
    >>> s = sk.sample_candidates([[0], [3]], 4, 10, sampler="uniform", seed=0)
    >>> s.candidates
    array([6, 2, 0, 8])
    >>> s.sampled_expected_count.round(4)  # 5 tries for 4 distinct: 1 - 0.9**5
    array([0.4095, 0.4095, 0.4095, 0.4095])
    """
    xp = validate.namespace(labels)
    labels = validate.as_array(xp, labels, name="labels")
    num_sampled = validate.integer(num_sampled, name="num_sampled", minimum=0)
    num_classes = validate.integer(num_classes, name="num_classes", minimum=1, maximum=MAX_CLASSES)
    num_true = validate.integer(num_true, name="num_true", minimum=1)
    labels = _labels(xp, labels, num_true, num_classes)
    proposal = _sampler(sampler, num_classes, unigrams, distortion)
    if not isinstance(unique, bool):
        raise TypeError(f"unique must be a bool, got {unique!r}")
    return _draw(xp, labels, num_sampled, proposal, unique, _random.generator(seed))


@overload
def sampled_softmax_loss(
    weights: ArrayT,
    biases: ArrayLike,
    labels: ArrayLike,
    inputs: ArrayLike,
    num_sampled: int,
    num_classes: int,
    *,
    num_true: int = 1,
    sampler: Sampler = "log_uniform",
    unique: bool = True,
    unigrams: ArrayLike | None = None,
    distortion: float = 1.0,
    remove_accidental_hits: bool = True,
    subtract_log_q: bool = True,
    sampled_candidates: CandidateSample[Any] | ArrayLike | None = None,
    reduction: Reduction = "mean",
    seed: Seed = None,
) -> ArrayT: ...
@overload
def sampled_softmax_loss(
    weights: Nested,
    biases: ArrayLike,
    labels: ArrayLike,
    inputs: ArrayLike,
    num_sampled: int,
    num_classes: int,
    *,
    num_true: int = 1,
    sampler: Sampler = "log_uniform",
    unique: bool = True,
    unigrams: ArrayLike | None = None,
    distortion: float = 1.0,
    remove_accidental_hits: bool = True,
    subtract_log_q: bool = True,
    sampled_candidates: CandidateSample[Any] | ArrayLike | None = None,
    reduction: Reduction = "mean",
    seed: Seed = None,
) -> NumPyArray: ...


def sampled_softmax_loss(
    weights: Any,
    biases: Any,
    labels: Any,
    inputs: Any,
    num_sampled: int,
    num_classes: int,
    *,
    num_true: int = 1,
    sampler: str = "log_uniform",
    unique: bool = True,
    unigrams: Any = None,
    distortion: float = 1.0,
    remove_accidental_hits: bool = True,
    subtract_log_q: bool = True,
    sampled_candidates: Any = None,
    reduction: str = "mean",
    seed: Any = None,
) -> Any:
    r"""Sampled softmax loss, with ``tf.nn.sampled_softmax_loss``'s semantics.

    See the module notes for the formula. Training only: it estimates (and
    generally underestimates) the full softmax cross-entropy
    ``cross_entropy(inputs @ weights.T + biases, labels)``, which it equals
    when every class is in the sample and the sampler is uniform.

    Parameters
    ----------
    weights : array_like
        Class embeddings, shape ``(num_classes, dim)``.
    biases : array_like
        Class biases, shape ``(num_classes,)``.
    labels : array_like of int
        True classes, shape ``(batch, num_true)`` (or ``(batch,)`` when
        ``num_true`` is 1), in ``[0, num_classes)``.
    inputs : array_like
        Activations, shape ``(batch, dim)``.
    num_sampled : int
        Classes drawn for the batch.
    num_classes : int
        The number of classes (``weights.shape[0]``).
    num_true, sampler, unique, unigrams, distortion, seed
        The sampler, as in :func:`sample_candidates`.
    remove_accidental_hits : bool, optional
        Exclude a sampled class from the examples it is a true class of.
    subtract_log_q : bool, optional
        Subtract the log expected counts (off: "negative sampling"). With
        ``num_sampled=0`` there is nothing to correct and it is skipped.
    sampled_candidates : CandidateSample or array_like of int, optional
        The sample to use instead of drawing one: a :class:`CandidateSample`
        (TF's ``sampled_values``), or just the candidate ids, whose expected
        counts are then those of ``sampler`` for a draw that needed no
        retries, ``num_sampled * P(c)`` (TF's value in that case).
    reduction : {"mean", "sum", "none"}, optional
        ``"none"`` gives TF's per-example vector; ``"mean"`` (default) its mean.

    Returns
    -------
    array
        0-d, or shape ``(batch,)`` for ``"none"``; the floating dtype of
        ``inputs`` and ``weights``.

    Raises
    ------
    ValueError
        Shapes that do not match, labels or candidates out of range, bad
        counts or sampler arguments.
    TypeError
        Non-integer labels or counts, non-bool flags.

    Examples
    --------
    >>> import numpy as np, softmaxkit as sk
    >>> weights = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    >>> biases, inputs = np.zeros(3), np.array([[2.0, 0.0]])
    >>> # With every class in the sample and a uniform sampler: full cross-entropy.
    >>> loss = sk.sampled_softmax_loss(weights, biases, [[0]], inputs, 3, 3,
    ...                                sampler="uniform", sampled_candidates=[0, 1, 2])
    >>> full = sk.cross_entropy(inputs @ weights.T + biases, [0])
    >>> bool(np.isclose(loss, full))
    True
    """
    return _sampled_softmax(
        weights, biases, labels, inputs, num_sampled, num_classes,
        _Options(num_true, sampler, unique, unigrams, distortion, remove_accidental_hits,
                 subtract_log_q, sampled_candidates, reduction, seed),
        want_grad=False,
    ).loss  # fmt: skip


@overload
def sampled_softmax_loss_grad(
    weights: ArrayT,
    biases: ArrayLike,
    labels: ArrayLike,
    inputs: ArrayLike,
    num_sampled: int,
    num_classes: int,
    *,
    num_true: int = 1,
    sampler: Sampler = "log_uniform",
    unique: bool = True,
    unigrams: ArrayLike | None = None,
    distortion: float = 1.0,
    remove_accidental_hits: bool = True,
    subtract_log_q: bool = True,
    sampled_candidates: CandidateSample[Any] | ArrayLike | None = None,
    reduction: Reduction = "mean",
    seed: Seed = None,
) -> SampledSoftmaxGrad[ArrayT]: ...
@overload
def sampled_softmax_loss_grad(
    weights: Nested,
    biases: ArrayLike,
    labels: ArrayLike,
    inputs: ArrayLike,
    num_sampled: int,
    num_classes: int,
    *,
    num_true: int = 1,
    sampler: Sampler = "log_uniform",
    unique: bool = True,
    unigrams: ArrayLike | None = None,
    distortion: float = 1.0,
    remove_accidental_hits: bool = True,
    subtract_log_q: bool = True,
    sampled_candidates: CandidateSample[Any] | ArrayLike | None = None,
    reduction: Reduction = "mean",
    seed: Seed = None,
) -> SampledSoftmaxGrad[NumPyArray]: ...


def sampled_softmax_loss_grad(
    weights: Any,
    biases: Any,
    labels: Any,
    inputs: Any,
    num_sampled: int,
    num_classes: int,
    *,
    num_true: int = 1,
    sampler: str = "log_uniform",
    unique: bool = True,
    unigrams: Any = None,
    distortion: float = 1.0,
    remove_accidental_hits: bool = True,
    subtract_log_q: bool = True,
    sampled_candidates: Any = None,
    reduction: str = "mean",
    seed: Any = None,
) -> SampledSoftmaxGrad[Any]:
    r"""Gradient of :func:`sampled_softmax_loss` with respect to inputs, weights and biases.

    The same seed (or ``sampled_candidates``) gives the same sample as the
    loss. Only the rows of ``weights`` and entries of ``biases`` of the true
    and sampled classes are non-zero. With ``reduction="none"`` it is the
    gradient of the sum of the per-example losses.

    Parameters
    ----------
    weights, biases, labels, inputs, num_sampled, num_classes, **options
        As in :func:`sampled_softmax_loss`.

    Returns
    -------
    SampledSoftmaxGrad
        The named tuple ``(inputs, weights, biases)``, shaped like the arguments.

    Examples
    --------
    >>> import numpy as np, softmaxkit as sk
    >>> g = sk.sampled_softmax_loss_grad(np.eye(2), np.zeros(2), [[0]], np.array([[0.0, 0.0]]),
    ...                                  2, 2, sampler="uniform", sampled_candidates=[0, 1])
    >>> g.biases
    array([-0.5,  0.5])
    """
    return _sampled_softmax(
        weights, biases, labels, inputs, num_sampled, num_classes,
        _Options(num_true, sampler, unique, unigrams, distortion, remove_accidental_hits,
                 subtract_log_q, sampled_candidates, reduction, seed),
        want_grad=True,
    ).grad  # fmt: skip


@overload
def sampled_softmax_loss_and_grad(
    weights: ArrayT,
    biases: ArrayLike,
    labels: ArrayLike,
    inputs: ArrayLike,
    num_sampled: int,
    num_classes: int,
    *,
    num_true: int = 1,
    sampler: Sampler = "log_uniform",
    unique: bool = True,
    unigrams: ArrayLike | None = None,
    distortion: float = 1.0,
    remove_accidental_hits: bool = True,
    subtract_log_q: bool = True,
    sampled_candidates: CandidateSample[Any] | ArrayLike | None = None,
    reduction: Reduction = "mean",
    seed: Seed = None,
) -> SampledSoftmaxResult[ArrayT]: ...
@overload
def sampled_softmax_loss_and_grad(
    weights: Nested,
    biases: ArrayLike,
    labels: ArrayLike,
    inputs: ArrayLike,
    num_sampled: int,
    num_classes: int,
    *,
    num_true: int = 1,
    sampler: Sampler = "log_uniform",
    unique: bool = True,
    unigrams: ArrayLike | None = None,
    distortion: float = 1.0,
    remove_accidental_hits: bool = True,
    subtract_log_q: bool = True,
    sampled_candidates: CandidateSample[Any] | ArrayLike | None = None,
    reduction: Reduction = "mean",
    seed: Seed = None,
) -> SampledSoftmaxResult[NumPyArray]: ...


def sampled_softmax_loss_and_grad(
    weights: Any,
    biases: Any,
    labels: Any,
    inputs: Any,
    num_sampled: int,
    num_classes: int,
    *,
    num_true: int = 1,
    sampler: str = "log_uniform",
    unique: bool = True,
    unigrams: Any = None,
    distortion: float = 1.0,
    remove_accidental_hits: bool = True,
    subtract_log_q: bool = True,
    sampled_candidates: Any = None,
    reduction: str = "mean",
    seed: Any = None,
) -> SampledSoftmaxResult[Any]:
    r""":func:`sampled_softmax_loss` and its gradient from one sample.

    Parameters
    ----------
    weights, biases, labels, inputs, num_sampled, num_classes
        As in :func:`sampled_softmax_loss`; so are the keyword arguments
        (``num_true``, ``sampler``, ``unigrams``, ``distortion``, ``unique``,
        ``remove_accidental_hits``, ``subtract_log_q``, ``sampled_candidates``,
        ``seed``, ``reduction``).

    Returns
    -------
    SampledSoftmaxResult
        The named tuple ``(loss, grad)``, ``grad`` a :class:`SampledSoftmaxGrad`.

    Examples
    --------
    >>> import numpy as np, softmaxkit as sk
    >>> loss, grad = sk.sampled_softmax_loss_and_grad(
    ...     np.eye(2), np.zeros(2), [[0]], np.array([[0.0, 0.0]]), 2, 2,
    ...     sampler="uniform", sampled_candidates=[0, 1])
    >>> round(float(loss), 6), grad.weights.shape
    (0.693147, (2, 2))
    """
    return _sampled_softmax(
        weights, biases, labels, inputs, num_sampled, num_classes,
        _Options(num_true, sampler, unique, unigrams, distortion, remove_accidental_hits,
                 subtract_log_q, sampled_candidates, reduction, seed),
        want_grad=True,
    )  # fmt: skip


@dataclasses.dataclass(frozen=True)  # nothing assigns to the options  # pragma: no mutate
class _Options:
    num_true: Any
    sampler: Any
    unique: Any
    unigrams: Any
    distortion: Any
    remove_accidental_hits: Any
    subtract_log_q: Any
    sampled_candidates: Any
    reduction: Any
    seed: Any


def _sampled_softmax(
    weights: Any,
    biases: Any,
    labels: Any,
    inputs: Any,
    num_sampled: Any,
    num_classes: Any,
    o: _Options,
    *,
    want_grad: bool,
) -> SampledSoftmaxResult[Any]:
    xp = validate.namespace(weights, biases, labels, inputs)
    weights = validate.as_array(xp, weights, name="weights")
    biases = validate.as_array(xp, biases, like=weights, name="biases")
    inputs = validate.as_array(xp, inputs, like=weights, name="inputs")
    labels = validate.as_array(xp, labels, like=weights, name="labels")
    dtype = xp.result_type(
        *(validate.float_dtype_of(xp, a, name=n)
          for a, n in ((weights, "weights"), (biases, "biases"), (inputs, "inputs")))
    )  # fmt: skip
    num_sampled = validate.integer(num_sampled, name="num_sampled", minimum=0)
    num_classes = validate.integer(num_classes, name="num_classes", minimum=1, maximum=MAX_CLASSES)
    num_true = validate.integer(o.num_true, name="num_true", minimum=1)
    for name in ("remove_accidental_hits", "subtract_log_q", "unique"):
        if not isinstance(getattr(o, name), bool):
            raise TypeError(f"{name} must be a bool, got {getattr(o, name)!r}")
    validate.reduction(o.reduction)
    _check_shapes(weights, biases, inputs, num_classes)
    labels = _labels(xp, labels, num_true, num_classes)
    if labels.shape[0] != inputs.shape[0]:
        raise ValueError(
            f"labels has {labels.shape[0]} rows but inputs has {inputs.shape[0]} (one per example)"
        )
    proposal = _sampler(o.sampler, num_classes, o.unigrams, o.distortion)
    if o.sampled_candidates is None:
        drawn = _draw(xp, labels, num_sampled, proposal, o.unique, _random.generator(o.seed))
    else:
        drawn = _given_sample(xp, o.sampled_candidates, labels, num_sampled, proposal)
    # No copy: weights may be a huge vocabulary, of which only the sampled rows are read.
    weights, biases, inputs = (xp.astype(a, dtype, copy=False) for a in (weights, biases, inputs))
    candidates = drawn.candidates
    batch = inputs.shape[0]

    labels_flat = xp.reshape(labels, (-1,))
    true_w = xp.reshape(xp.take(weights, labels_flat, axis=0), (batch, num_true, weights.shape[1]))
    true_logits = xp.sum(inputs[:, None, :] * true_w, axis=-1)
    true_logits = true_logits + xp.reshape(xp.take(biases, labels_flat, axis=0), (batch, num_true))
    sampled_w = xp.take(weights, candidates, axis=0)
    sampled_logits = inputs @ xp.matrix_transpose(sampled_w) + xp.take(biases, candidates, axis=0)
    if o.subtract_log_q and num_sampled > 0:
        # With no sample every expected count is 0: the correction would add
        # the same infinity to every logit, so there is nothing to correct.
        true_logits = true_logits - xp.astype(xp.log(drawn.true_expected_count), dtype)
        sampled_logits = sampled_logits - xp.astype(xp.log(drawn.sampled_expected_count), dtype)
    if o.remove_accidental_hits:
        hits = xp.any(labels[:, :, None] == candidates[None, None, :], axis=1)
        sampled_logits = xp.where(hits, -xp.inf, sampled_logits)
    logits = xp.concat([true_logits, sampled_logits], axis=1)
    target = xp.concat(
        [xp.full(true_logits.shape, 1.0 / num_true, dtype=dtype, device=_device(logits)),
         xp.zeros(sampled_logits.shape, dtype=dtype, device=_device(logits))],
        axis=1,
    )  # fmt: skip
    if not want_grad:
        # Only sampled_softmax_loss asks for no gradient, and it reads only the loss.
        loss_only = losses.cross_entropy(logits, target, reduction=o.reduction)
        return SampledSoftmaxResult(loss_only, None)  # type: ignore[arg-type]
    loss, g_logits = losses.cross_entropy_and_grad(logits, target, reduction=o.reduction)
    g_true, g_sampled = g_logits[:, :num_true], g_logits[:, num_true:]
    # d inputs: each logit is <inputs, w> + b, so it pulls inputs along its w.
    g_inputs = xp.sum(g_true[:, :, None] * true_w, axis=1) + g_sampled @ sampled_w
    # d weights, d biases: accumulated per class over the true and sampled columns.
    rows = xp.concat(
        [xp.reshape(g_true[:, :, None] * inputs[:, None, :], (batch * num_true, inputs.shape[1])),
         xp.matrix_transpose(g_sampled) @ inputs],
        axis=0,
    )  # fmt: skip
    column_sums = xp.concat([xp.reshape(g_true, (-1,)), xp.sum(g_sampled, axis=0)], axis=0)
    classes = Segments(xp, xp.concat([labels_flat, candidates], axis=0), num_classes)
    grad = SampledSoftmaxGrad(g_inputs, classes.sum(rows), classes.sum(column_sums))
    return SampledSoftmaxResult(loss, grad)


def _device(a: Any) -> Any:
    return array_api_compat.device(a)


def _check_shapes(weights: Any, biases: Any, inputs: Any, num_classes: int) -> None:
    if weights.ndim != 2 or weights.shape[0] != num_classes:
        raise ValueError(
            f"weights must have shape (num_classes, dim) = ({num_classes}, dim), "
            f"got {tuple(weights.shape)}"
        )
    if tuple(biases.shape) != (num_classes,):
        raise ValueError(f"biases must have shape ({num_classes},), got {tuple(biases.shape)}")
    if inputs.ndim != 2 or inputs.shape[1] != weights.shape[1]:
        raise ValueError(
            f"inputs must have shape (batch, {weights.shape[1]}) to match weights, "
            f"got {tuple(inputs.shape)}"
        )


def _labels(xp: Any, labels: Any, num_true: int, num_classes: int) -> Any:
    labels = validate.integer_array(xp, labels, name="labels")
    if labels.ndim == 1 and num_true == 1:
        labels = labels[:, None]
    if labels.ndim != 2 or labels.shape[1] != num_true:
        raise ValueError(
            f"labels must have shape (batch, num_true) = (batch, {num_true}), "
            f"got {tuple(labels.shape)}"
        )
    _check_range(_host.to_numpy(labels), num_classes, "labels")
    return xp.astype(labels, xp.int64)


def _check_range(values: np.ndarray, num_classes: int, name: str) -> None:
    bad = (values < 0) | (values >= num_classes)
    if bad.any():
        raise ValueError(f"{name} contains {int(values[bad][0])}, outside [0, {num_classes})")


def _sampler(kind: Any, num_classes: int, unigrams: Any, distortion: Any) -> _Sampler:
    if kind not in SAMPLERS:
        raise ValueError(f"sampler must be one of {list(SAMPLERS)}, got {kind!r}")
    if kind != "unigram":
        if unigrams is not None:
            raise ValueError(f"unigrams is only used with sampler='unigram', got sampler={kind!r}")
        return _Sampler(kind, num_classes, None)
    if unigrams is None:
        raise ValueError("sampler='unigram' needs unigrams (a count per class)")
    power = validate.finite_scalar(distortion, name="distortion")
    if power < 0:
        raise ValueError(f"distortion must be >= 0, got {power!r}")
    counts = _host.to_numpy(unigrams).astype(np.float64)
    if counts.shape != (num_classes,):
        raise ValueError(f"unigrams must have shape ({num_classes},), got {counts.shape}")
    if not (np.all(np.isfinite(counts)) and np.all(counts >= 0) and counts.sum() > 0):
        raise ValueError("unigrams must be finite, non-negative and not all zero")
    weights = np.where(counts > 0, counts**power, 0.0)
    return _Sampler(kind, num_classes, weights / weights.sum())


def _draw(
    xp: Any, labels: Any, num_sampled: int, proposal: _Sampler, unique: bool, rng: np.random.Generator
) -> CandidateSample[Any]:
    if unique and num_sampled > proposal.support_size():
        raise ValueError(
            f"num_sampled ({num_sampled}) exceeds the {proposal.support_size()} classes the "
            "sampler can draw, so unique=True cannot be satisfied"
        )
    if unique and num_sampled > 0:
        candidates, tries = _draw_unique(rng, proposal, num_sampled)
    else:
        candidates, tries = proposal.draw(rng, num_sampled), num_sampled
    return _sample_with_counts(xp, labels, candidates, tries, proposal)


# Rejection tries before the exact continuation takes over, per class wanted
# (time only: both routes draw TF's distribution).
_TRIES_PER_CLASS = 16  # pragma: no mutate
# The continuation materialises P over all classes; for the analytic samplers
# only while that is at most this many classes or a small multiple of the sample.
_DENSE_CLASSES = 1 << 22  # pragma: no mutate


def _draw_unique(
    rng: np.random.Generator, proposal: _Sampler, num_sampled: int
) -> tuple[np.ndarray, float]:
    """Draw until ``num_sampled`` distinct classes (TF's rejection); also the number of tries.

    Memory is bounded (a round of ``2 * num_sampled`` draws and the classes
    found) and so is time: after ``_TRIES_PER_CLASS * num_sampled`` tries the rest of
    the process is simulated exactly (:func:`_continue_exactly`) instead of
    drawn, so a distribution whose classes are rarely new (``unigrams=[1e12,
    1, 1]``, a large ``distortion``) costs no more than a flat one. The
    number of tries may then exceed any integer; it is returned as a float.
    """
    found = np.empty(0, dtype=np.int64)
    tries = 0
    budget = _TRIES_PER_CLASS * num_sampled
    # Random doubles are consumed in order, so the partition into chunks does
    # not change the draws: a seed gives the same sample as one long draw.
    # Each round keeps at most the classes still wanted and returns on the last.
    while True:
        if tries >= budget and _can_continue_exactly(proposal, num_sampled):
            return _continue_exactly(rng, proposal, found, tries, num_sampled)
        draws = proposal.draw(rng, max(2 * num_sampled, 16))
        classes, first = np.unique(draws, return_index=True)
        new = ~np.isin(classes, found)
        classes, first = classes[new], first[new]
        order = np.argsort(first)[: num_sampled - found.size]
        if found.size + order.size == num_sampled:
            return np.concatenate([found, classes[order]]), tries + int(first[order[-1]]) + 1
        found = np.concatenate([found, classes[order]])
        tries += draws.size


def _can_continue_exactly(proposal: _Sampler, num_sampled: int) -> bool:
    # Otherwise num_classes > 16 * num_sampled, where even the log-uniform
    # sampler leaves a mass >= log(16) / log(num_classes + 1) > 6% unseen,
    # so rejection keeps finding new classes in bounded expected time.
    return (
        proposal.probabilities is not None
        or proposal.num_classes <= max(_DENSE_CLASSES, 16 * num_sampled)  # pragma: no mutate
    )


def _continue_exactly(
    rng: np.random.Generator, proposal: _Sampler, found: np.ndarray, tries: int, num_sampled: int
) -> tuple[np.ndarray, float]:
    """Finish TF's rejection sampling without drawing it, exactly in distribution.

    Given the classes found so far, the rejection process draws the next new
    class with probability proportional to ``P`` over the unseen classes,
    after a number of tries that is geometric with the unseen mass ``r``,
    independently. The order in which the unseen classes appear is therefore
    successive sampling without replacement, which is the order of the
    largest ``log P + Gumbel`` keys (Gumbel-top-k); the tries are a sum of
    geometric waiting times, one per new class, with ``r`` falling by the
    mass of each class taken.
    """
    p = proposal.probability(np.arange(proposal.num_classes))
    unseen = p > 0
    unseen[found] = False
    keys = np.full(p.shape, -np.inf)
    keys[unseen] = np.log(p[unseen]) + _random.gumbel_noise(rng, (int(unseen.sum()),))
    wanted = num_sampled - found.size
    top = np.argpartition(keys, p.size - wanted)[p.size - wanted :]
    picked = top[np.argsort(-keys[top], kind="stable")]
    # The unseen mass before each pick, as suffix sums (no cancellation).
    unseen[picked] = False
    before = p[unseen].sum() + np.cumsum(p[picked][::-1])[::-1]
    u = 1.0 - rng.random(wanted)  # in (0, 1]
    # r == 1: log1p(-1) = -inf, one try; r tiny: waits beyond any float, inf.
    with np.errstate(divide="ignore", over="ignore"):
        waits = np.ceil(np.log(u) / np.log1p(-np.minimum(before, 1.0)))
    waits = np.maximum(waits, 1.0)
    return np.concatenate([found, picked.astype(np.int64)]), float(tries) + float(waits.sum())


def _sample_with_counts(
    xp: Any, labels: Any, candidates: np.ndarray, tries: float, proposal: _Sampler
) -> CandidateSample[Any]:
    num_sampled = candidates.shape[0]

    def expected(p: np.ndarray) -> np.ndarray:
        if tries == num_sampled:
            counts: np.ndarray = p * num_sampled
            return counts
        # p == 1: log1p(-1) = -inf, count 1; p == 0 stays 0 even after inf tries.
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(p > 0, -np.expm1(tries * np.log1p(-p)), 0.0)

    true_counts = expected(proposal.probability(_host.to_numpy(labels)))
    sampled_counts = expected(proposal.probability(candidates))
    real = _float64_or_default(xp, labels)
    return CandidateSample(
        _host.from_numpy(xp, candidates, like=labels, dtype=xp.int64),
        _host.from_numpy(xp, true_counts, like=labels, dtype=real),
        _host.from_numpy(xp, sampled_counts, like=labels, dtype=real),
    )


def _float64_or_default(xp: Any, like: Any) -> Any:
    from .._backend import has_float64

    return xp.float64 if has_float64(xp, _device(like)) else xp.float32


def _given_sample(
    xp: Any, given: Any, labels: Any, num_sampled: int, proposal: _Sampler
) -> CandidateSample[Any]:
    if isinstance(given, CandidateSample):
        candidates = given.candidates
        true_counts = validate.as_array(
            xp, given.true_expected_count, like=labels, name="sampled_candidates.true_expected_count"
        )
        sampled_counts = validate.as_array(
            xp, given.sampled_expected_count, like=labels, name="sampled_candidates.sampled_expected_count"
        )
        if tuple(true_counts.shape) != tuple(labels.shape):
            raise ValueError(
                f"sampled_candidates.true_expected_count must have the labels' shape "
                f"{tuple(labels.shape)}, got {tuple(true_counts.shape)}"
            )
        if tuple(sampled_counts.shape) != (num_sampled,):
            raise ValueError(
                f"sampled_candidates.sampled_expected_count must have shape ({num_sampled},), "
                f"got {tuple(sampled_counts.shape)}"
            )
    else:
        candidates = given
    candidates = validate.integer_vector(
        xp, candidates, like=labels, name="sampled_candidates", length=num_sampled,
        length_name="num_sampled",
    )  # fmt: skip
    host = _host.to_numpy(candidates)
    _check_range(host, proposal.num_classes, "sampled_candidates")
    if isinstance(given, CandidateSample):
        real = _float64_or_default(xp, labels)
        return CandidateSample(
            xp.astype(candidates, xp.int64), xp.astype(true_counts, real), xp.astype(sampled_counts, real)
        )
    return _sample_with_counts(xp, labels, host.astype(np.int64), num_sampled, proposal)
