"""Triton GPU kernels for softmax, log_softmax and the cross-entropies (optional: ``triton``)."""
