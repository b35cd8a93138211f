"""Launchers of the softmax-family kernels: torch tensors in, torch tensors out.

``softmax``, ``log_softmax``, their vjps, and ``logsumexp``.

The semantics are softmaxkit's (``softmaxkit.softmax`` and friends): the
edge-case policy of ``softmaxkit._stable`` (excluded entries give exactly 0 /
``-inf``, a fully excluded or all ``-inf`` row gives zeros / ``-inf``, ``+inf``
entries share the mass, a NaN makes its row NaN) and float32 accumulation
for float16 and bfloat16. Two differences, both of accuracy only:

* float32 input is computed in float32 (softmaxkit's array-API path uses
  float64 where the device has it): results are within a few ulps, the
  error of ``exp`` growing like ``|x - max| * 2**-24`` for tiny
  probabilities, as in every float32 GPU softmax.
* the probabilities are ``exp(d) * (1 / norm)`` (one division per row, not
  per entry): at most one more rounding.

A temperature below 1 is applied by ``softmaxkit._stable.divide_by_temperature``
(torch ops) before the kernel runs, so that a row whose ``x / T`` would
overflow is shifted by its maximum first, as the specification does.
``logsumexp`` is not shift-invariant: it divides plainly (in torch ops for
a temperature below 1), and an ``x / T`` beyond the range is ``+-inf``, the
correctly rounded logsumexp of such a row.

The class axis ``dim`` may be any axis; a non-last ``dim`` costs a transposed
copy of the input (the kernels read rows with unit stride) and the result is
a transposed view of a contiguous buffer.
"""

from __future__ import annotations

from typing import Any

import array_api_compat.torch as torch_xp
import torch

from .. import _stable
from . import _config, _tuning
from ._softmax_kernels import logsumexp_kernel, softmax_backward_kernel, softmax_forward_kernel
from ._tensors import (
    as_rows,
    check_dim,
    check_float_tensor,
    check_same_device,
    compute_for,
    mask_rows,
    or_dummy,
    temperature_rows,
)


def softmax(
    x: torch.Tensor,
    /,
    dim: int = -1,
    *,
    temperature: float | torch.Tensor = 1.0,
    where: torch.Tensor | None = None,
    config: _config.RowConfig | None = None,
    validate: bool = True,
) -> torch.Tensor:
    """``softmax(x / temperature)`` along ``dim``, with softmaxkit's edge-case policy.

    Parameters
    ----------
    x : torch.Tensor
        float16, bfloat16, float32 or float64, on a CUDA device (or on the
        CPU under ``TRITON_INTERPRET=1``).
    dim : int
        The class axis.
    temperature : float or torch.Tensor
        A finite number > 0, or a tensor of them that broadcasts against
        ``x`` with length 1 along ``dim`` (one temperature per row).
    where : torch.Tensor of bool, optional
        Broadcastable to ``x``; False entries are excluded (probability 0).
        A mask broadcast along batch axes is read through a stride-0 view.
    config : RowConfig, optional
        Force the launch parameters (see ``_config.row_config``); by default
        they are chosen from the row length and, on CUDA, tuned once per
        shape class.
    validate : bool
        Check the values of a temperature tensor (one device-to-host read).
        A caller that has validated them already passes False.

    Returns
    -------
    torch.Tensor
        The probabilities, the shape and dtype of ``x``.

    Examples
    --------
    On a CUDA device (not run here: the tests make the same calls on CPU
    tensors under ``TRITON_INTERPRET=1``)::

        import torch
        from softmaxkit.triton.softmax import softmax
        x = torch.tensor([[1.0, 2.0, 3.0], [0.0, float("-inf"), float("-inf")]], device="cuda")
        softmax(x)
        # tensor([[0.0900, 0.2447, 0.6652],
        #         [1.0000, 0.0000, 0.0000]], device='cuda:0')
    """
    return _forward(x, dim, temperature, where, config, validate, log=False)


def log_softmax(
    x: torch.Tensor,
    /,
    dim: int = -1,
    *,
    temperature: float | torch.Tensor = 1.0,
    where: torch.Tensor | None = None,
    config: _config.RowConfig | None = None,
    validate: bool = True,
) -> torch.Tensor:
    """``log_softmax(x / temperature)`` along ``dim``; excluded entries give ``-inf``.

    Parameters
    ----------
    x, dim, temperature, where, config, validate
        As in :func:`softmax`.

    Returns
    -------
    torch.Tensor
        The log-probabilities, the shape and dtype of ``x``.

    Examples
    --------
    On a CUDA device (not run here: the tests make the same calls on CPU
    tensors under ``TRITON_INTERPRET=1``)::

        import torch
        from softmaxkit.triton.softmax import log_softmax
        log_softmax(torch.tensor([1000.0, 0.0], device="cuda"))
        # tensor([    0., -1000.], device='cuda:0')
    """
    return _forward(x, dim, temperature, where, config, validate, log=True)


def softmax_vjp(
    y: torch.Tensor,
    g: torch.Tensor,
    /,
    dim: int = -1,
    *,
    temperature: float | torch.Tensor = 1.0,
    where: torch.Tensor | None = None,
    config: _config.RowConfig | None = None,
    validate: bool = True,
) -> torch.Tensor:
    """The gradient with respect to ``x`` of ``y = softmax(x, dim, temperature, where)``.

    ``y * (g - sum(g * y, dim)) / temperature``, exactly 0 at excluded entries
    (whatever ``g`` holds there), as ``softmaxkit.softmax_vjp``. The backward
    of an autograd softmax is ``softmax_vjp(saved_y, grad_output, dim, ...)``
    with the forward's options.

    Parameters
    ----------
    y : torch.Tensor
        The forward's output.
    g : torch.Tensor
        The upstream gradient, the shape of ``y``.
    dim, temperature, where, config, validate
        As the forward was called (see :func:`softmax`).

    Returns
    -------
    torch.Tensor
        The shape of ``y``, dtype ``torch.promote_types(y.dtype, g.dtype)``.

    Examples
    --------
    On a CUDA device (not run here: the tests make the same calls on CPU
    tensors under ``TRITON_INTERPRET=1``)::

        import torch
        from softmaxkit.triton.softmax import softmax_vjp
        y = torch.tensor([0.2, 0.3, 0.5], device="cuda")
        softmax_vjp(y, torch.tensor([1.0, 0.0, 0.0], device="cuda"))
        # tensor([ 0.1600, -0.0600, -0.1000], device='cuda:0')
    """
    return _vjp(y, g, dim, temperature, where, config, validate, log=False)


def log_softmax_vjp(
    logp: torch.Tensor,
    g: torch.Tensor,
    /,
    dim: int = -1,
    *,
    temperature: float | torch.Tensor = 1.0,
    where: torch.Tensor | None = None,
    config: _config.RowConfig | None = None,
    validate: bool = True,
) -> torch.Tensor:
    """The gradient with respect to ``x`` of ``logp = log_softmax(x, dim, temperature, where)``.

    ``(g - exp(logp) * sum(g, dim)) / temperature``, exactly 0 at excluded
    entries, as ``softmaxkit.log_softmax_vjp``.

    Parameters
    ----------
    logp : torch.Tensor
        The forward's output.
    g : torch.Tensor
        The upstream gradient, the shape of ``logp``.
    dim, temperature, where, config, validate
        As the forward was called (see :func:`softmax`).

    Returns
    -------
    torch.Tensor
        The shape of ``logp``, dtype ``torch.promote_types(logp.dtype, g.dtype)``.

    Examples
    --------
    On a CUDA device (not run here: the tests make the same calls on CPU
    tensors under ``TRITON_INTERPRET=1``)::

        import torch
        from softmaxkit.triton.softmax import log_softmax_vjp
        logp = torch.tensor([0.25, 0.75], device="cuda").log()
        log_softmax_vjp(logp, torch.tensor([1.0, 0.0], device="cuda"))
        # tensor([ 0.7500, -0.7500], device='cuda:0')
    """
    return _vjp(logp, g, dim, temperature, where, config, validate, log=True)


def logsumexp(
    x: torch.Tensor,
    /,
    dim: int = -1,
    *,
    keepdim: bool = False,
    temperature: float | torch.Tensor = 1.0,
    where: torch.Tensor | None = None,
    config: _config.RowConfig | None = None,
    validate: bool = True,
) -> torch.Tensor:
    """``log(sum(exp(x / temperature)))`` along ``dim``, with softmaxkit's edge-case policy.

    A slice with no entry (empty, all ``-inf`` or all excluded) gives
    ``-inf``; one holding ``+inf`` gives ``+inf``; one holding a NaN gives NaN.

    Parameters
    ----------
    x, dim, temperature, where, config, validate
        As in :func:`softmax`.
    keepdim : bool
        Keep ``dim`` with length 1 (as ``torch.logsumexp``).

    Returns
    -------
    torch.Tensor
        The dtype of ``x``, its shape without ``dim`` (or with length 1 there).

    Examples
    --------
    On a CUDA device (not run here: the tests make the same calls on CPU
    tensors under ``TRITON_INTERPRET=1``)::

        import torch
        from softmaxkit.triton.softmax import logsumexp
        logsumexp(torch.tensor([[1000.0, 1000.0], [float("-inf"), float("-inf")]], device="cuda"))
        # tensor([1000.6931,       -inf], device='cuda:0')
    """
    x = check_float_tensor(x, name="x")
    if x.ndim == 0:
        one = logsumexp(x.reshape(1), 0, keepdim=keepdim, temperature=temperature, where=where,
                        config=config, validate=validate)  # fmt: skip
        return one.reshape(())
    dim = check_dim(dim, x.ndim)
    compute = compute_for(x.dtype)
    t_rows = temperature_rows(temperature, x, dim, compute, validate=validate)
    mask = None if where is None else mask_rows(where, x, dim)
    rows = as_rows(x, dim)
    if t_rows is not None and _quotient_may_overflow(temperature):
        # A finite x / T may be beyond the range: torch's division makes it
        # +-inf without the overflow a kernel's division would signal (as an
        # error, in the interpreter's NumPy).
        t = temperature
        t = t.to(compute.torch_dtype) if isinstance(t, torch.Tensor) else float(t)
        rows, t_rows = as_rows(x.to(compute.torch_dtype) / t, dim), None
    n_rows, n_cols = rows.data.shape
    out = torch.empty(n_rows, dtype=x.dtype, device=x.device)
    if n_cols == 0:
        out.fill_(float("-inf"))
    elif n_rows:

        def launch(cfg: _config.RowConfig) -> None:
            logsumexp_kernel[(n_rows,)](
                rows.data, out, or_dummy(t_rows, rows.data), or_dummy(mask, rows.data),
                n_cols, rows.data.stride(0), _stride(t_rows, 0), _stride(mask, 0), _stride(mask, 1),
                HAS_T=t_rows is not None, HAS_MASK=mask is not None, BLOCK=cfg.block,
                ACC=compute.acc, COMPENSATE=compute.compensate,
                num_warps=cfg.num_warps, enable_fp_fusion=_config.FP_FUSION,
            )  # fmt: skip

        key = ("logsumexp", x.dtype, _config.shape_class(n_cols), t_rows is not None, mask is not None, x.device)
        launch(config or _tuning.pick(key, _config.row_config_candidates(n_cols), launch, x.device))
    reduced = out.reshape(rows.moved_shape[:-1])
    return reduced.unsqueeze(dim) if keepdim else reduced


def _forward(
    x: Any, dim: Any, temperature: Any, where: Any, config: Any, validate: bool, *, log: bool,
    out_dtype: torch.dtype | None = None,
) -> torch.Tensor:  # fmt: skip
    x = check_float_tensor(x, name="x")
    if x.ndim == 0:
        return _forward(x.reshape(1), 0, temperature, where, config, validate, log=log).reshape(())
    dim = check_dim(dim, x.ndim)
    compute = compute_for(x.dtype)
    t_rows = temperature_rows(temperature, x, dim, compute, validate=validate)
    mask = None if where is None else mask_rows(where, x, dim)
    if t_rows is not None and _quotient_may_overflow(temperature):
        # x / T overflows where |x| > T * max: softmaxkit's specification
        # (_stable.divide_by_temperature) shifts such a row by its maximum
        # first. That rule runs here in torch ops (a few passes, only for
        # temperatures below 1), and the kernel reads the quotient.
        t = temperature
        t = float(t) if not isinstance(t, torch.Tensor) else t.to(compute.torch_dtype)
        mask_full = None if where is None else torch.broadcast_to(where, x.shape)
        quotient = _stable.divide_by_temperature(
            torch_xp, x.to(compute.torch_dtype), t, (dim,), where=mask_full
        )
        return _forward(quotient, dim, 1.0, where, config, validate, log=log, out_dtype=x.dtype)
    rows = as_rows(x, dim)
    n_rows, n_cols = rows.data.shape
    out = torch.empty((n_rows, n_cols), dtype=out_dtype or x.dtype, device=x.device)
    if n_rows == 0 or n_cols == 0:
        return rows.restore(out)

    def launch(cfg: _config.RowConfig) -> None:
        softmax_forward_kernel[(n_rows,)](
            rows.data, out, or_dummy(t_rows, rows.data), or_dummy(mask, rows.data),
            n_cols, rows.data.stride(0), out.stride(0), _stride(t_rows, 0),
            _stride(mask, 0), _stride(mask, 1),
            LOG=log, HAS_T=t_rows is not None, HAS_MASK=mask is not None,
            BLOCK=cfg.block, SINGLE_BLOCK=cfg.single_block,
            ACC=compute.acc, FMAX=compute.fmax, COMPENSATE=compute.compensate,
            num_warps=cfg.num_warps, enable_fp_fusion=_config.FP_FUSION,
        )  # fmt: skip

    key = ("softmax", log, x.dtype, _config.shape_class(n_cols), t_rows is not None, mask is not None, x.device)
    launch(config or _tuning.pick(key, _config.row_config_candidates(n_cols), launch, x.device))
    return rows.restore(out)


def _vjp(
    y: Any, g: Any, dim: Any, temperature: Any, where: Any, config: Any, validate: bool, *, log: bool
) -> torch.Tensor:
    name = "logp" if log else "y"
    y = check_float_tensor(y, name=name)
    g = check_float_tensor(g, name="g")
    check_same_device(y, g, name="g")
    if g.shape != y.shape:
        raise ValueError(
            f"g must have the shape of the forward output {tuple(y.shape)}, got {tuple(g.shape)}"
        )
    if y.ndim == 0:
        return _vjp(
            y.reshape(1), g.reshape(1), 0, temperature, where, config, validate, log=log
        ).reshape(())
    dim = check_dim(dim, y.ndim)
    out_dtype = torch.promote_types(y.dtype, g.dtype)
    compute = compute_for(out_dtype)
    t_rows = temperature_rows(temperature, y, dim, compute, validate=validate)
    mask = None if where is None else mask_rows(where, y, dim)
    y_rows = as_rows(y, dim)
    g_rows = as_rows(g, dim)
    n_rows, n_cols = y_rows.data.shape
    out = torch.empty((n_rows, n_cols), dtype=out_dtype, device=y.device)
    if n_rows == 0 or n_cols == 0:
        return y_rows.restore(out)

    def launch(cfg: _config.RowConfig) -> None:
        softmax_backward_kernel[(n_rows,)](
            y_rows.data, g_rows.data, out, or_dummy(t_rows, y_rows.data), or_dummy(mask, y_rows.data),
            n_cols, y_rows.data.stride(0), g_rows.data.stride(0), out.stride(0),
            _stride(t_rows, 0), _stride(mask, 0), _stride(mask, 1),
            LOG=log, HAS_T=t_rows is not None, HAS_MASK=mask is not None,
            BLOCK=cfg.block, SINGLE_BLOCK=cfg.single_block, ACC=compute.acc,
            num_warps=cfg.num_warps, enable_fp_fusion=_config.FP_FUSION,
        )  # fmt: skip

    key = ("softmax_vjp", log, out_dtype, _config.shape_class(n_cols), t_rows is not None, mask is not None, y.device)
    launch(config or _tuning.pick(key, _config.row_config_candidates(n_cols), launch, y.device))
    return y_rows.restore(out)


def _quotient_may_overflow(temperature: Any) -> bool:
    """Only a temperature below 1 can take a finite x / T beyond the dtype's range."""
    if isinstance(temperature, torch.Tensor):
        return True  # checking would read the tensor back; the rule costs a few passes
    return float(temperature) < 1.0


def _stride(tensor: torch.Tensor | None, axis: int) -> int:
    return 0 if tensor is None else tensor.stride(axis)
