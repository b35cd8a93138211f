"""The vocabulary-parallel cases, run by every rank of a spawned gloo process group.

Both the ranks and the test process build each case's full data from the same
seed: the ranks compute on their slice of the class axis, the test process on
the whole of it with the single-process functions, and tests/test_distributed.py
compares the two.
"""

from __future__ import annotations

import traceback
import zlib
from datetime import timedelta
from typing import NamedTuple

import numpy as np


class Case(NamedTuple):
    name: str
    op: str  # "log_softmax", "softmax" or "cross_entropy"
    logits: np.ndarray  # the full logits, classes along the last axis
    target: np.ndarray | None
    upstream: np.ndarray  # the gradient fed to backward (shape of the op's output)
    sizes: list  # classes per rank, in rank order
    options: dict  # keyword arguments of the cross-entropy
    dtype: str  # the torch dtype the ranks compute in


def even_sizes(n_classes: int, world: int) -> list:
    return [n_classes // world + (r < n_classes % world) for r in range(world)]


def uneven_sizes(n_classes: int, world: int) -> list:
    """Unequal slices, one of them empty when there are more than two ranks."""
    if world == 2:
        return [1, n_classes - 1]
    return [n_classes - world + 1, 0] + [1] * (world - 3) + [2]


def edge_case_logits() -> np.ndarray:
    """Rows whose special values sit on different ranks (with 11 classes)."""
    inf, nan = np.inf, np.nan
    x = np.linspace(-3.0, 4.0, 11 * 6).reshape(6, 11)
    x[0, :] = -inf  # nothing left anywhere: probabilities 0
    x[1, [0, 10]] = inf  # +inf on the first and the last rank share the mass
    x[2, 9] = nan  # a NaN on one rank poisons the row on every rank
    x[3, :] = [1e300, -1e300] + [0.0] * 9  # huge spread
    x[4, :8] = -inf  # only the last classes (the later ranks) are alive
    return x


def cases(world: int) -> list[Case]:
    def rng(name: str) -> np.random.Generator:
        return np.random.default_rng(zlib.crc32(f"{name}/{world}".encode()))

    def case(name, op, logits, *, target=None, sizes=None, dtype="float64", **options):
        g = rng(name)
        if op == "cross_entropy":
            shape = logits.shape[:-1] if options.get("reduction") == "none" else ()
        else:
            shape = logits.shape
        upstream = g.normal(size=shape)
        return Case(
            name, op, logits, target, upstream,
            sizes or even_sizes(logits.shape[-1], world), options, dtype,
        )  # fmt: skip

    def normal(name, shape, scale=3.0):
        return rng(name + "/logits").normal(scale=scale, size=shape)

    def targets(name, shape, n_classes, n_ignored=0):
        t = rng(name + "/target").integers(0, n_classes, size=shape)
        t.reshape(-1)[:n_ignored] = -100
        return t

    c = 13
    out = [
        case("log_softmax", "log_softmax", normal("ls", (7, c))),
        case("log_softmax_uneven", "log_softmax", normal("lsu", (7, c)), sizes=uneven_sizes(c, world)),
        case("log_softmax_3d", "log_softmax", normal("ls3", (2, 3, c))),
        case("log_softmax_edge_cases", "log_softmax", edge_case_logits()),
        case("log_softmax_float32", "log_softmax", normal("ls32", (7, c), 30.0), dtype="float32"),
        case("softmax", "softmax", normal("sm", (7, c))),
        case("softmax_uneven", "softmax", normal("smu", (7, c)), sizes=uneven_sizes(c, world)),
        case("softmax_edge_cases", "softmax", edge_case_logits()),
        case("softmax_bfloat16", "softmax", normal("smbf", (7, c)), dtype="bfloat16"),
    ]
    for reduction in ("mean", "sum", "none"):
        name = f"cross_entropy_{reduction}"
        out.append(case(name, "cross_entropy", normal(name, (9, c)),
                        target=targets(name, 9, c), reduction=reduction))  # fmt: skip
    name = "cross_entropy_ignored_targets"
    out.append(case(name, "cross_entropy", normal(name, (9, c)), target=targets(name, 9, c, 4)))
    name = "cross_entropy_all_ignored"
    out.append(case(name, "cross_entropy", normal(name, (3, c)), target=np.full(3, -100)))
    name = "cross_entropy_custom_ignore_index"
    t = targets(name, 9, c)
    t[:2] = 5
    out.append(case(name, "cross_entropy", normal(name, (9, c)), target=t, ignore_index=5))
    for reduction in ("mean", "none"):
        name = f"cross_entropy_label_smoothing_{reduction}"
        out.append(case(name, "cross_entropy", normal(name, (9, c)), target=targets(name, 9, c, 2),
                        label_smoothing=0.2, reduction=reduction))  # fmt: skip
    name = "cross_entropy_uneven"
    out.append(case(name, "cross_entropy", normal(name, (9, c)), target=targets(name, 9, c, 1),
                    sizes=uneven_sizes(c, world), label_smoothing=0.1))  # fmt: skip
    name = "cross_entropy_3d"
    out.append(case(name, "cross_entropy", normal(name, (2, 4, c)), target=targets(name, (2, 4), c, 1),
                    reduction="none"))  # fmt: skip
    name = "cross_entropy_float32"
    out.append(case(name, "cross_entropy", normal(name, (9, c), 30.0), target=targets(name, 9, c),
                    dtype="float32", label_smoothing=0.1))  # fmt: skip
    name = "cross_entropy_edge_cases"
    # targets: an -inf logit (infinite loss), a +inf class, the NaN row, the
    # huge spread, an alive class.
    out.append(case(name, "cross_entropy", edge_case_logits()[1:], target=np.array([0, 10, 9, 0, 9]),
                    reduction="none"))  # fmt: skip
    return out


def class_slice(case: Case, rank: int) -> slice:
    start = sum(case.sizes[:rank])
    return slice(start, start + case.sizes[rank])


def run_case(case: Case, rank: int) -> dict:
    """Forward and backward of one case on this rank's slice; tensors as NumPy arrays."""
    import torch

    from softmaxkit import distributed

    dtype = getattr(torch, case.dtype)
    local = torch.tensor(case.logits[..., class_slice(case, rank)]).to(dtype).requires_grad_()
    if case.op == "cross_entropy":
        out = distributed.vocab_parallel_cross_entropy(
            local, torch.tensor(case.target), **case.options
        )
        upstream = torch.tensor(case.upstream).to(dtype)
    else:
        out = getattr(distributed, f"vocab_parallel_{case.op}")(local)
        upstream = torch.tensor(case.upstream[..., class_slice(case, rank)]).to(dtype)
    out.backward(upstream)
    return {
        "out": out.detach().to(torch.float64).numpy(),
        "grad": local.grad.to(torch.float64).numpy(),
        "out_dtype": str(out.dtype),
    }


def out_of_range_target(rank: int, world: int) -> str:
    import torch

    from softmaxkit import distributed

    try:
        distributed.vocab_parallel_cross_entropy(torch.zeros(2, 3), torch.tensor([1, 3 * world]))
    except ValueError as exc:
        return str(exc)
    return "no error"


def worker(rank: int, world: int, store_path: str, results_dir: str) -> None:
    """Entry point of one spawned rank: run every case, save what came out."""
    import pickle

    import torch.distributed as dist

    dist.init_process_group(
        "gloo", init_method=f"file://{store_path}", rank=rank, world_size=world,
        timeout=timedelta(seconds=60),
    )  # fmt: skip
    results = {}
    try:
        for case in cases(world):
            try:
                results[case.name] = run_case(case, rank)
            except Exception:  # reported by the test of this case, not by a hang
                results[case.name] = {"error": traceback.format_exc()}
        results["out_of_range_target"] = out_of_range_target(rank, world)
    finally:
        with open(f"{results_dir}/rank{rank}.pkl", "wb") as f:
            pickle.dump(results, f)
        dist.destroy_process_group()
