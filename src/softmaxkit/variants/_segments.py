"""Reductions over segments: the entries along axis 0 that share an integer id.

The array API has no scatter and no segmented reduction, so this module has
three paths, chosen per call by the array's library:

* NumPy: sort the ids once (skipped when they are already sorted, as CSR rows
  and most graph batches are), then one ``ufunc.reduceat`` pass per
  reduction. ``reduceat`` is the NumPy primitive for reducing contiguous
  groups; NumPy has no scatter-max other than the slow ``ufunc.at``.
* PyTorch: ``scatter_reduce_`` (max) and ``index_add_`` (sum), native scatter
  kernels on the tensor's device, no sort.
* any other array-API library (array-api-strict, JAX, CuPy, Dask): sort the
  ids once, then a segmented inclusive scan by doubling (Hillis and Steele):
  ``ceil(log2(n))`` vectorised passes, each combining an entry with the one
  ``2**k`` places before it when both lie in the same segment. The last
  entry of a segment then holds the segment's reduction. Sums formed this
  way are pairwise (a tree of depth log2 of the segment length), so they are
  as accurate as NumPy's ``sum``.

A :class:`Segments` reduces to one value per segment (shape
``(num_segments, ...)``, the identity for empty segments);
:class:`SegmentReduction` broadcasts those values back to the entries, which
is the form ``_stable.shift_by_max`` needs to apply the edge-case policy of
the softmax family to segments unchanged.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import array_api_compat


class Segments:
    """The grouping of the ``n`` entries along axis 0 by ``ids`` (int, shape ``(n,)``)."""

    def __init__(self, xp: Any, ids: Any, num_segments: int):
        self.xp = xp
        self.ids = ids
        self.num_segments = num_segments
        self.n = ids.shape[0]
        self.device = array_api_compat.device(ids)
        self._path: _NumpyPath | _TorchPath | _ScanPath
        if array_api_compat.is_numpy_namespace(xp):
            self._path = _NumpyPath(ids, num_segments)
        elif array_api_compat.is_torch_namespace(xp):
            self._path = _TorchPath(ids, num_segments)
        else:
            self._path = _ScanPath(xp, ids, num_segments)

    def max(self, v: Any) -> Any:
        """Maximum per segment, ``-inf`` for an empty one; NaN-free input only."""
        return self._path.reduce(v, "max", self.num_segments)

    def sum(self, v: Any) -> Any:
        """Sum per segment, 0 for an empty one."""
        return self._path.reduce(v, "sum", self.num_segments)

    def to_entries(self, per_segment: Any) -> Any:
        """Each entry's segment value: ``per_segment[ids]``."""
        return self.xp.take(per_segment, self.ids, axis=0)

    def padded_layout(self, max_padding: float) -> PaddedLayout | None:
        """Where each entry goes in a dense ``(num_segments, longest)`` array, for NumPy.

        None for other libraries, and where the dense array would hold more
        than ``max_padding`` times the entries (very unequal segments).
        """
        if not isinstance(self._path, _NumpyPath) or self.n == 0:
            return None
        return self._path.padded_layout(self.num_segments, max_padding)


class PaddedLayout(NamedTuple):
    """Entry ``i`` sits at row ``flat[i]`` of a ``(num_segments * longest, ...)`` array:
    ``flat = ids * longest + (the entry's rank within its segment)``."""

    flat: Any
    longest: int


class SegmentReduction:
    """``max``/``sum``/``any`` per segment, broadcast back to the entries.

    This is the ``reduction`` argument of ``_stable.shift_by_max``.
    """

    def __init__(self, segments: Segments):
        self.segments = segments

    def max(self, v: Any) -> Any:
        return self.segments.to_entries(self.segments.max(v))

    def sum(self, v: Any) -> Any:
        return self.segments.to_entries(self.segments.sum(v))

    def compensated_sum(self, v: Any) -> Any:
        # A segment's entries are not an axis to add pairwise; the per-segment
        # sum (bincount, index_add or a scan) adds them one after another.
        return self.sum(v)

    def any(self, v: Any) -> Any:
        xp = self.segments.xp
        counts = self.segments.sum(xp.astype(v, xp.float32))
        return self.segments.to_entries(counts > 0)


def _identity(xp: Any, op: str, shape: tuple[int, ...], dtype: Any, device: Any) -> Any:
    fill = -xp.inf if op == "max" else 0.0
    return xp.full(shape, fill, dtype=dtype, device=device)


class _NumpyPath:
    def __init__(self, ids: Any, num_segments: int):
        import numpy as np

        ids = np.asarray(ids)
        self.ids = ids
        already_sorted = bool(np.all(ids[1:] >= ids[:-1])) if ids.shape[0] > 1 else True
        # The ids lie in [0, num_segments): as uint16 NumPy's stable sort is a radix
        # sort, about 6x faster than the merge sort it uses for int64.
        key = ids.astype(np.uint16) if num_segments <= 2**16 else ids
        self.order = None if already_sorted else np.argsort(key, kind="stable")
        sorted_ids = ids if already_sorted else ids[self.order]
        if sorted_ids.shape[0]:
            boundary = np.empty(sorted_ids.shape[0], dtype=bool)
            boundary[0] = True
            np.not_equal(sorted_ids[1:], sorted_ids[:-1], out=boundary[1:])
            self.starts = np.flatnonzero(boundary)
        else:
            self.starts = np.empty(0, dtype=np.intp)
        self.present = sorted_ids[self.starts]

    def padded_layout(self, num_segments: int, max_padding: float) -> PaddedLayout | None:
        import numpy as np

        n = self.ids.shape[0]
        lengths = np.diff(self.starts, append=n)
        longest = int(np.max(lengths))
        if num_segments * longest > max_padding * n:
            return None
        # In sorted order an entry's rank is its distance from its segment's start.
        sorted_rank = np.arange(n) - np.repeat(self.starts, lengths)
        if self.order is None:
            rank = sorted_rank
        else:
            rank = np.empty(n, dtype=np.intp)
            rank[self.order] = sorted_rank
        return PaddedLayout(self.ids * longest + rank, longest)

    def reduce(self, v: Any, op: str, num_segments: int) -> Any:
        import numpy as np

        out = np.full((num_segments, *v.shape[1:]), -np.inf if op == "max" else 0.0, v.dtype)
        if self.starts.shape[0]:
            ufunc = np.maximum if op == "max" else np.add
            ordered = v if self.order is None else v[self.order]
            out[self.present] = ufunc.reduceat(ordered, self.starts, axis=0)
        return out


class _TorchPath:
    def __init__(self, ids: Any, num_segments: int):
        import torch

        self.ids = ids.to(torch.int64)

    def reduce(self, v: Any, op: str, num_segments: int) -> Any:
        import torch

        shape = (num_segments, *v.shape[1:])
        if op == "sum":
            return torch.zeros(shape, dtype=v.dtype, device=v.device).index_add_(0, self.ids, v)
        out = torch.full(shape, -torch.inf, dtype=v.dtype, device=v.device)
        index = self.ids.reshape(-1, *(1,) * (v.ndim - 1)).expand_as(v)
        return out.scatter_reduce_(0, index, v, "amax", include_self=False)


class _ScanPath:
    def __init__(self, xp: Any, ids: Any, num_segments: int):
        self.xp = xp
        self.order = xp.argsort(ids, stable=True)
        self.sorted_ids = xp.take(ids, self.order, axis=0)
        n = ids.shape[0]
        # The last sorted position of each segment (-1 before the first entry).
        segment_numbers = xp.arange(num_segments, dtype=ids.dtype, device=array_api_compat.device(ids))
        last = xp.searchsorted(self.sorted_ids, segment_numbers, side="right") - 1
        self.last = xp.clip(last, 0, max(n - 1, 0))
        if n:
            self.present = (last >= 0) & (xp.take(self.sorted_ids, self.last, axis=0) == segment_numbers)
        else:
            self.present = xp.zeros(num_segments, dtype=xp.bool, device=array_api_compat.device(ids))

    def reduce(self, v: Any, op: str, num_segments: int) -> Any:
        xp = self.xp
        shape = (num_segments, *v.shape[1:])
        identity = _identity(xp, op, shape, v.dtype, array_api_compat.device(v))
        if v.shape[0] == 0:
            return identity
        combine = xp.maximum if op == "max" else xp.add
        acc = xp.take(v, self.order, axis=0)
        n = v.shape[0]
        feature_axes = (1,) * (v.ndim - 1)
        step = 1
        while step < n:  # pragma: no mutate
            same = self.sorted_ids[step:] == self.sorted_ids[:-step]
            same = xp.reshape(same, (n - step, *feature_axes))
            combined = xp.where(same, combine(acc[step:, ...], acc[:-step, ...]), acc[step:, ...])
            acc = xp.concat([acc[:step, ...], combined], axis=0)
            step *= 2
        picked = xp.take(acc, self.last, axis=0)
        present = xp.reshape(self.present, (num_segments, *feature_axes))
        return xp.where(present, picked, identity)
