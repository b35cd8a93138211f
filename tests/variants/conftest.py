"""Fixtures of the variants' tests."""

import pytest

from softmaxkit.variants import segment


@pytest.fixture(params=["padded", "per-segment"])
def segment_layout(request, monkeypatch):
    """Both NumPy implementations of the segment softmaxes: the kernel on the
    segments padded into rows of a dense masked array ("padded"), and the
    reductions per segment (reduceat) that very unequal segments take."""
    limit = float("inf") if request.param == "padded" else 0.0
    monkeypatch.setattr(segment, "_MAX_PADDING", limit)
