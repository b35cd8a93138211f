"""Speed of the variants beside their peers, on the same data in one process.

    python benchmarks/variants.py [--entries 400000] [--segments 20000] [--classes 100000] [--repeat 7]

Three tables of median times over ``--repeat`` runs, each with the ratio to
the first row (a memory copy of the same data, the floor for a single pass):

1. segment softmax of float64 scores grouped by unsorted integer ids:
   softmaxkit on NumPy and on torch, a scatter-based torch softmax (the
   torch_geometric recipe: scatter_reduce amax, exp, index_add), and the dense
   masked softmax of the same data padded to (segments, longest segment).
2. sparse softmax over the stored entries of each row of a CSR matrix with
   the same entries: softmaxkit on SciPy CSR and on torch COO,
   torch.sparse.softmax, and the dense masked softmax of the same matrix.
3. sampled softmax loss against the full cross-entropy over ``--classes``
   classes (a batch of 128, dim 64, 64 and 1024 sampled classes): the
   sampled loss does the work of (batch x sampled) logits instead of
   (batch x classes).

Timings on a shared machine are preliminary.
"""

import argparse
import statistics
import time

import numpy as np

import softmaxkit as sk


def median_seconds(function, repeat):
    function()  # warm up (imports, allocator, caches)
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def print_table(title, rows, repeat):
    print(f"\n{title}  (median of {repeat} runs)")
    baseline = None
    for name, function in rows:
        seconds = median_seconds(function, repeat)
        baseline = baseline or seconds
        print(f"  {name:50} {seconds * 1e3:10.2f} ms  {seconds / baseline:8.1f}x copy")


def segment_data(rng, entries, segments):
    ids = rng.integers(0, segments, size=entries)
    scores = rng.normal(size=entries) * 3
    return scores, ids


def dense_padded(scores, ids, segments):
    """The segments as the rows of a (segments, longest) array and its mask."""
    order = np.argsort(ids, kind="stable")
    sorted_ids = ids[order]
    starts = np.searchsorted(sorted_ids, np.arange(segments))
    position = np.arange(ids.size) - starts[sorted_ids]
    longest = int(np.bincount(ids, minlength=segments).max())
    dense = np.zeros((segments, longest))
    mask = np.zeros((segments, longest), dtype=bool)
    dense[sorted_ids, position] = scores[order]
    mask[sorted_ids, position] = True
    return dense, mask


def torch_scatter_segment_softmax(torch, scores, ids, segments):
    """torch_geometric.utils.softmax's recipe with plain torch scatter operations."""
    maxima = torch.full((segments,), -torch.inf, dtype=scores.dtype)
    maxima = maxima.scatter_reduce(0, ids, scores, reduce="amax", include_self=True)
    e = torch.exp(scores - maxima[ids])
    totals = torch.zeros(segments, dtype=scores.dtype).index_add_(0, ids, e)
    return e / totals[ids]


def segment_rows(args, rng, torch):
    scores, ids = segment_data(rng, args.entries, args.segments)
    dense, mask = dense_padded(scores, ids, args.segments)
    rows = [
        ("memory copy of the scores", lambda: scores.copy()),
        ("softmaxkit.segment_softmax (NumPy)",
         lambda: sk.segment_softmax(scores, ids, num_segments=args.segments)),
        (f"dense masked softmax {dense.shape} (NumPy)", lambda: sk.softmax(dense, where=mask)),
    ]  # fmt: skip
    if torch is not None:
        t_scores, t_ids = torch.asarray(scores), torch.asarray(ids)
        t_dense, t_mask = torch.asarray(dense), torch.asarray(mask)
        rows += [
            ("softmaxkit.segment_softmax (torch)",
             lambda: sk.segment_softmax(t_scores, t_ids, num_segments=args.segments)),
            ("torch scatter softmax (torch_geometric recipe)",
             lambda: torch_scatter_segment_softmax(torch, t_scores, t_ids, args.segments)),
            ("dense masked softmax (torch masked_fill)",
             lambda: torch.softmax(t_dense.masked_fill(~t_mask, -torch.inf), dim=1)),
            ("dense masked softmaxkit.softmax (torch)", lambda: sk.softmax(t_dense, where=t_mask)),
        ]  # fmt: skip
    return rows


def sparse_rows(args, rng, torch):
    from scipy import sparse

    rows_count = args.segments
    columns = max(1, 4 * args.entries // rows_count)  # about 25% of the entries stored
    row = rng.integers(0, rows_count, size=args.entries)
    column = rng.integers(0, columns, size=args.entries)
    matrix = sparse.coo_array((rng.normal(size=args.entries) * 3, (row, column)),
                              shape=(rows_count, columns)).tocsr()  # fmt: skip
    matrix.sum_duplicates()
    dense = matrix.toarray()
    stored = np.zeros(dense.shape, dtype=bool)
    stored[np.repeat(np.arange(rows_count), np.diff(matrix.indptr)), matrix.indices] = True
    data = matrix.data
    out = [
        (f"memory copy of the {matrix.nnz} stored values", lambda: data.copy()),
        ("softmaxkit.sparse_softmax (SciPy CSR)", lambda: sk.sparse_softmax(matrix)),
        (f"dense masked softmax {dense.shape} (NumPy)", lambda: sk.softmax(dense, where=stored)),
    ]
    if torch is not None:
        coo = torch.asarray(dense).to_sparse()
        t_dense, t_stored = torch.asarray(dense), torch.asarray(stored)
        out += [
            ("softmaxkit.sparse_softmax (torch COO)", lambda: sk.sparse_softmax(coo)),
            ("torch.sparse.softmax (torch COO)", lambda: torch.sparse.softmax(coo, dim=1)),
            ("dense masked softmax (torch masked_fill)",
             lambda: torch.softmax(t_dense.masked_fill(~t_stored, -torch.inf), dim=1)),
            ("dense masked softmaxkit.softmax (torch)", lambda: sk.softmax(t_dense, where=t_stored)),
        ]  # fmt: skip
    return out


def sampled_rows(args, rng):
    batch, dim = 128, 64
    weights = rng.normal(size=(args.classes, dim)) / np.sqrt(dim)
    biases = np.zeros(args.classes)
    inputs = rng.normal(size=(batch, dim))
    labels = rng.integers(0, args.classes, size=batch)
    logits = np.empty((batch, args.classes))

    def full():
        np.matmul(inputs, weights.T, out=logits)
        np.add(logits, biases, out=logits)
        return sk.cross_entropy(logits, labels)

    rows = [
        (f"memory copy of the ({batch}, {args.classes}) logits", lambda: logits.copy()),
        ("full: logits + softmaxkit.cross_entropy", full),
        ("full: softmaxkit.cross_entropy_and_grad on logits",
         lambda: sk.cross_entropy_and_grad(logits, labels)),
    ]  # fmt: skip
    for num_sampled in (64, 1024):
        rows += [
            (f"sampled_softmax_loss, {num_sampled} sampled",
             lambda n=num_sampled: sk.sampled_softmax_loss(weights, biases, labels, inputs, n,
                                                           args.classes, seed=0)),
            (f"sampled_softmax_loss_and_grad, {num_sampled} sampled",
             lambda n=num_sampled: sk.sampled_softmax_loss_and_grad(weights, biases, labels, inputs,
                                                                    n, args.classes, seed=0)),
        ]  # fmt: skip
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--entries", type=int, default=400_000)
    parser.add_argument("--segments", type=int, default=20_000)
    parser.add_argument("--classes", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    try:
        import torch

        torch.set_num_threads(1)  # a fair comparison with single-threaded NumPy
    except ImportError:
        torch = None
    rng = np.random.default_rng(0)
    print(f"{args.entries} entries in {args.segments} segments / rows; {args.classes} classes")
    print_table("segment softmax", segment_rows(args, rng, torch), args.repeat)
    print_table("sparse softmax over stored entries", sparse_rows(args, rng, torch), args.repeat)
    print_table("sampled softmax loss vs full cross-entropy", sampled_rows(args, rng), args.repeat)


if __name__ == "__main__":
    main()
