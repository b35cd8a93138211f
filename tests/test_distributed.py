"""Vocabulary-parallel ops over torch.distributed: gloo, 2 and 4 processes.

Each world size is spawned once (a module fixture): every rank runs all the
cases of tests/distributed_workers.py on its slice of the class axis; each test
here compares one case, on every rank, with the single-process functions
(softmaxkit.log_softmax, softmax, cross_entropy and their gradients) on the
whole class axis.
"""

from __future__ import annotations

import pickle

import distributed_workers as workers
import numpy as np
import pytest

torch = pytest.importorskip("torch")
dist = pytest.importorskip("torch.distributed")
pytestmark = pytest.mark.skipif(not dist.is_available(), reason="torch.distributed missing")

import softmaxkit as sk  # noqa: E402
from softmaxkit import distributed  # noqa: E402

WORLD_SIZES = (2, 4)
CASE_NAMES = [case.name for case in workers.cases(2)]


@pytest.fixture(scope="module", params=WORLD_SIZES, ids=lambda w: f"{w}ranks")
def world(request, tmp_path_factory) -> tuple[int, list[dict]]:
    """Run every case in ``world`` fresh gloo ranks; each rank's results."""
    import multiprocessing

    import torch.multiprocessing as mp

    size = request.param
    folder = tmp_path_factory.mktemp(f"world{size}")
    # Fresh processes, as torch.distributed needs, but forked from one server
    # that has imported torch once: importing it in every rank would take most
    # of the test's time.
    multiprocessing.get_context("forkserver").set_forkserver_preload(
        ["torch", "softmaxkit.distributed", "distributed_workers"]
    )
    mp.start_processes(
        workers.worker, args=(size, str(folder / "store"), str(folder)), nprocs=size,
        join=True, start_method="forkserver",
    )  # fmt: skip
    results = []
    for rank in range(size):
        with open(folder / f"rank{rank}.pkl", "rb") as f:
            results.append(pickle.load(f))
    return size, results


def reference(case: workers.Case) -> tuple[np.ndarray, np.ndarray]:
    """The single-process value and gradient, in float64 on the logits the ranks saw."""
    logits = torch.tensor(case.logits).to(getattr(torch, case.dtype)).double().numpy()
    if case.op == "log_softmax":
        logp = sk.log_softmax(logits)
        return logp, sk.log_softmax_vjp(logp, case.upstream)
    if case.op == "softmax":
        p = sk.softmax(logits)
        return p, sk.softmax_vjp(p, case.upstream)
    loss, grad = sk.cross_entropy_and_grad(logits, case.target, **case.options)
    upstream = case.upstream[..., None] if case.options.get("reduction") == "none" else case.upstream
    return loss, grad * upstream


TOLERANCE = {"float64": 1e-13, "float32": 2e-6, "bfloat16": 1e-2}


@pytest.mark.parametrize("name", CASE_NAMES)
def test_matches_single_process(world, name):
    size, results = world
    case = next(c for c in workers.cases(size) if c.name == name)
    value, grad = reference(case)
    rtol = TOLERANCE[case.dtype]
    for rank, result in enumerate(results):
        got = result[name]
        assert "error" not in got, f"rank {rank}:\n{got.get('error')}"
        assert got["out_dtype"] == f"torch.{case.dtype}"
        expected_value = value if case.op == "cross_entropy" else value[..., workers.class_slice(case, rank)]
        np.testing.assert_allclose(got["out"], expected_value, rtol=rtol, atol=rtol, err_msg=f"rank {rank} value")
        np.testing.assert_allclose(
            got["grad"], grad[..., workers.class_slice(case, rank)], rtol=rtol, atol=rtol,
            err_msg=f"rank {rank} gradient",
        )  # fmt: skip


def test_uneven_split_leaves_a_rank_without_classes():
    # The uneven cases really test an empty slice at 4 ranks (and a 1-class one at 2).
    assert 0 in workers.uneven_sizes(13, 4)
    assert 1 in workers.uneven_sizes(13, 2)


def test_out_of_range_target_raises_on_every_rank(world):
    size, results = world
    for result in results:
        assert result["out_of_range_target"] == (
            f"target contains class index {3 * size}, outside [0, {3 * size}) and not "
            "ignore_index (-100)"
        )


def test_without_process_group_raises():
    assert not dist.is_initialized()
    with pytest.raises(ValueError, match="init_process_group"):
        distributed.vocab_parallel_log_softmax(torch.zeros(2, 3))


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"label_smoothing": 1.5}, ValueError, "label_smoothing"),
        ({"reduction": "avg"}, ValueError, "reduction"),
        ({"ignore_index": 1.0}, TypeError, "ignore_index"),
    ],
    ids=["label_smoothing", "reduction", "ignore_index"],
)
def test_bad_options_raise_before_communicating(kwargs, error, match):
    # No process group exists: the options are checked first.
    with pytest.raises(error, match=match):
        distributed.vocab_parallel_cross_entropy(torch.zeros(2, 3), torch.tensor([0, 1]), **kwargs)


@pytest.fixture
def one_rank():
    """A process group of one rank (every class local), torn down afterwards."""
    dist.init_process_group("gloo", store=dist.HashStore(), rank=0, world_size=1)
    yield
    dist.destroy_process_group()


@pytest.mark.parametrize(
    ("logits", "target", "error", "match"),
    [
        ([[0.0, 1.0]], [0.0], TypeError, "integer class indices"),
        ([[0.0, 1.0]], [0, 1], ValueError, "shape"),
        ([[0.0, 1.0]], [True], TypeError, "integer class indices"),
    ],
    ids=["float_target", "wrong_shape", "bool_target"],
)
def test_bad_target_raises(one_rank, logits, target, error, match):
    with pytest.raises(error, match=match):
        distributed.vocab_parallel_cross_entropy(torch.tensor(logits), torch.tensor(target))


def test_zero_d_logits_raise(one_rank):
    with pytest.raises(ValueError, match="0-d"):
        distributed.vocab_parallel_softmax(torch.tensor(1.0))


def test_one_rank_matches_torch_cross_entropy(one_rank, rng):
    logits = torch.tensor(rng.normal(size=(6, 5)), requires_grad=True)
    target = torch.tensor([0, 4, -100, 2, 1, 3])
    loss = distributed.vocab_parallel_cross_entropy(logits, target, label_smoothing=0.3)
    loss.backward()
    ref_logits = logits.detach().clone().requires_grad_()
    ref = torch.nn.functional.cross_entropy(ref_logits, target, label_smoothing=0.3)
    ref.backward()
    torch.testing.assert_close(loss, ref)
    torch.testing.assert_close(logits.grad, ref_logits.grad)
