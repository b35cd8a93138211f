"""Triton GPU kernels for softmax, log_softmax and the cross-entropies (optional: ``triton``).

The launchers take and return torch tensors (CUDA tensors; CPU tensors under
``TRITON_INTERPRET=1``, which is how the tests run them) and keep
softmaxkit's semantics and edge-case policy:

``softmaxkit.triton.softmax``
    ``softmax``, ``log_softmax`` (forward), ``softmax_vjp``,
    ``log_softmax_vjp`` (backward) and ``logsumexp``, with ``dim``,
    ``temperature`` and ``where``.
``softmaxkit.triton.cross_entropy``
    ``cross_entropy`` (loss only) and ``cross_entropy_and_grad`` (loss and
    gradient from one read of the logits, optionally written over them).
``softmaxkit.triton.linear_cross_entropy``
    ``linear_cross_entropy_forward`` / ``linear_cross_entropy_backward``: the
    cross-entropy of ``hidden @ classifier.T + bias`` without storing the
    logits, with optional gradient filtering.

Every launcher takes ``config=`` to force its launch parameters (see
``_config``; tests force tiny blocks) and, where it reads values on the
host to validate them, ``validate=`` to skip that read. The module
docstrings of ``cross_entropy`` and ``linear_cross_entropy`` say how an
autograd Function (``softmaxkit.torch``) calls them. Importing this package
does not import the submodules (nor triton): import the one you need.
"""
