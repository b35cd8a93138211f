"""softmaxkit.torch: values against torch.nn.functional, gradcheck, training, torch.compile."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import softmaxkit.torch as skt  # noqa: E402
import softmaxkit as sk  # noqa: E402
from softmaxkit import _backends, _dispatch  # noqa: E402
from softmaxkit.torch import _eager  # noqa: E402

F = torch.nn.functional


@pytest.fixture
def logits(rng):
    return torch.tensor(rng.normal(scale=2.0, size=(4, 5)), requires_grad=True)


@pytest.fixture
def mask():
    return torch.tensor([[True, False, True, True, True]] * 3 + [[False, True, True, False, True]])


# ---- gradcheck in float64 --------------------------------------------------------------------


def _gradcheck(function, x):
    assert torch.autograd.gradcheck(function, (x,), eps=1e-6, atol=1e-8, rtol=1e-6)


@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
@pytest.mark.parametrize("dim", [0, 1, -1])
def test_gradcheck_softmax_family(logits, name, dim):
    _gradcheck(lambda x: getattr(skt, name)(x, dim), logits)


@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
def test_gradcheck_softmax_family_temperature(logits, name):
    _gradcheck(lambda x: getattr(skt, name)(x, 1, temperature=0.3), logits)


@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
def test_gradcheck_softmax_family_mask(logits, mask, name):
    # log_softmax is -inf at excluded entries: compare the others.
    _gradcheck(lambda x: getattr(skt, name)(x, 1, where=mask).masked_fill(~mask, 0.0), logits)


CROSS_ENTROPY_OPTIONS = {
    "plain": {},
    "sum": {"reduction": "sum"},
    "none": {"reduction": "none"},
    "label_smoothing": {"label_smoothing": 0.3},
    "ignore_index": {"ignore_index": 2},
    "weight": {"weight": torch.tensor([1.0, 2.0, 0.5, 3.0, 1.5], dtype=torch.float64)},
    "weight_smoothing_ignored": {
        "weight": torch.tensor([1.0, 2.0, 0.5, 3.0, 1.5], dtype=torch.float64),
        "label_smoothing": 0.2, "ignore_index": 4,
    },
    "temperature": {"temperature": 2.5},
}


@pytest.mark.parametrize("options", CROSS_ENTROPY_OPTIONS.values(), ids=CROSS_ENTROPY_OPTIONS.keys())
def test_gradcheck_cross_entropy_class_indices(logits, options):
    target = torch.tensor([0, 2, 4, 1])
    _gradcheck(lambda x: skt.cross_entropy(x, target, **options), logits)


@pytest.mark.parametrize("reduction", ["mean", "none"])
def test_gradcheck_cross_entropy_probabilities(logits, rng, reduction):
    target = torch.softmax(torch.tensor(rng.normal(size=(4, 5))), dim=1)
    _gradcheck(lambda x: skt.cross_entropy(x, target, reduction=reduction, label_smoothing=0.1), logits)


def test_gradcheck_cross_entropy_mask(logits, mask):
    target = torch.tensor([0, 2, 4, 1])
    _gradcheck(lambda x: skt.cross_entropy(x, target, where=mask), logits)


def test_gradcheck_cross_entropy_spatial(rng):
    x = torch.tensor(rng.normal(size=(2, 3, 4)), requires_grad=True)
    target = torch.tensor([[0, 1, 2, -100], [2, 2, 0, 1]])
    _gradcheck(lambda x: skt.cross_entropy(x, target, reduction="none"), x)


# ---- values: torch's OpInfo samples ----------------------------------------------------------


def _opinfo_samples(names):
    pytest.importorskip("expecttest")  # torch.testing._internal needs it
    from torch.testing._internal.common_methods_invocations import op_db

    for op in op_db:
        if op.name in names:
            for dtype in (torch.float32, torch.float64):
                for sample in op.sample_inputs("cpu", dtype, requires_grad=True):
                    yield op, dtype, sample


def _compare_with_torch(ours, theirs, sample):
    x = sample.input
    expected = theirs(x, *sample.args, **sample.kwargs)
    x_ours = x.detach().clone().requires_grad_()
    got = ours(x_ours, *sample.args, **sample.kwargs)
    torch.testing.assert_close(got, expected)
    if expected.numel():
        upstream = torch.randn_like(expected)
        (expected_grad,) = torch.autograd.grad(expected, x, upstream)
        (grad,) = torch.autograd.grad(got, x_ours, upstream)
        torch.testing.assert_close(grad, expected_grad)


@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
def test_opinfo_softmax_family(name):
    count = 0
    for op, _, sample in _opinfo_samples({name}):
        _compare_with_torch(getattr(skt, name), op.op, sample)
        count += 1
    assert count >= 20


def test_opinfo_cross_entropy():
    count = 0
    for op, _, sample in _opinfo_samples({"nn.functional.cross_entropy"}):
        _compare_with_torch(skt.cross_entropy, op.op, sample)
        count += 1
    assert count >= 40


# ---- values: edge cases and dtypes -----------------------------------------------------------


def test_fully_masked_row_is_zero_not_nan():
    x = torch.tensor([[1.0, 2.0], [3.0, 4.0]])
    where = torch.tensor([[True, True], [False, False]])
    torch.testing.assert_close(skt.softmax(x, 1, where=where), torch.tensor([[0.2689414, 0.7310586], [0.0, 0.0]]))


def test_temperature_divides_the_logits(logits):
    torch.testing.assert_close(skt.log_softmax(logits, 1, temperature=4.0), F.log_softmax(logits / 4.0, 1))


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16], ids=["bfloat16", "float16"])
def test_half_precision_cpu_tensors_match_torch(rng, dtype):
    x = torch.tensor(rng.normal(size=(6, 30))).to(dtype)
    torch.testing.assert_close(skt.softmax(x, -1), F.softmax(x.double(), -1).to(dtype))
    target = torch.tensor(rng.integers(0, 30, size=6))
    torch.testing.assert_close(skt.cross_entropy(x, target), F.cross_entropy(x.double(), target).to(dtype))


def test_dtype_casts_first(logits):
    out = skt.softmax(logits.float(), 1, dtype=torch.float64)
    assert out.dtype == torch.float64


# ---- validation: softmaxkit's checks, with torch-friendly errors -----------------------------


@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        (lambda: skt.softmax(torch.zeros(2, 3), 2), ValueError, "axis 2"),
        (lambda: skt.softmax(torch.zeros(2, 3), 1.0), TypeError, "dim must be an int"),
        (lambda: skt.softmax(torch.zeros(2, 3), 1, temperature=0.0), ValueError, "temperature"),
        (lambda: skt.softmax(torch.zeros(2, 3), 1, temperature="hot"), TypeError, "temperature"),
        (lambda: skt.softmax([1.0, 2.0], 0), TypeError, "input must be a torch.Tensor"),
        (lambda: skt.cross_entropy(torch.zeros(2, 3), torch.tensor([0, 3])), ValueError, "class index 3"),
        (lambda: skt.cross_entropy(torch.zeros(2, 3), torch.tensor([0, 1]), reduction="avg"), ValueError, "reduction"),
        (lambda: skt.cross_entropy(torch.zeros(2, 3), torch.tensor([0, 1]), label_smoothing=2.0), ValueError, "label_smoothing"),
    ],
    ids=["dim_out_of_range", "float_dim", "zero_temperature", "string_temperature", "list_input",
         "target_out_of_range", "bad_reduction", "bad_smoothing"],
)  # fmt: skip
def test_bad_arguments_raise(call, error, match):
    with pytest.raises(error, match=match):
        call()


# ---- dispatch --------------------------------------------------------------------------------


def test_cpu_tensors_reach_the_kernel_as_zero_copy_views(monkeypatch):
    # The op calls softmaxkit.softmax, whose one dispatch point hands CPU
    # float tensors to the C kernel as NumPy views of their memory.
    seen = {}
    kernel_softmax = _dispatch.softmax

    def spy(x, *args, **options):
        seen["input"] = x
        return kernel_softmax(x, *args, **options)

    monkeypatch.setattr(_dispatch, "softmax", spy)
    x = torch.arange(6.0).reshape(2, 3)
    skt.softmax(x, 1, temperature=2.0)
    assert isinstance(seen["input"], np.ndarray)
    assert np.shares_memory(seen["input"], x.numpy())


def test_default_calls_take_the_kernels_short_path(monkeypatch, rng):
    # Forward and backward with every option at its default skip the
    # validation and layout planning (they cost 10x torch's whole op on small
    # tensors): the short paths compute them, with the full path's numbers.
    calls = []
    for name in ("fast_softmax", "fast_vjp"):
        original = getattr(_dispatch, name)
        monkeypatch.setattr(_dispatch, name, lambda *a, _f=original, _n=name, **k: calls.append(_n) or _f(*a, **k))
    x = torch.tensor(rng.normal(scale=3.0, size=(3, 40)), dtype=torch.float32, requires_grad=True)
    upstream = torch.tensor(rng.normal(size=(3, 40)), dtype=torch.float32)
    for name in ("softmax", "log_softmax"):
        calls.clear()
        x.grad = None
        y = getattr(skt, name)(x, -1)
        y.backward(upstream)
        assert calls == ["fast_softmax", "fast_vjp"]
        plain = x.detach().numpy().copy(order="F")  # not C-contiguous: the full path
        full_y = getattr(sk, name)(plain)
        full_grad = getattr(sk, f"{name}_vjp")(full_y.copy(order="F"), upstream.numpy().copy(order="F"))
        np.testing.assert_array_equal(y.detach().numpy(), full_y)
        np.testing.assert_array_equal(x.grad.numpy(), full_grad)
        torch.testing.assert_close(x.grad, torch.autograd.grad(getattr(F, name)(x, -1), x, upstream)[0])


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("heap_bytes", [1 << 40, 0], ids=["torch_allocator", "numpy_huge_pages"])
def test_short_path_results_from_either_allocator(monkeypatch, rng, heap_bytes, dtype):
    # Outputs up to _HEAP_REUSE_BYTES come from torch's allocator, larger ones from
    # NumPy's (huge pages): both are plain tensors of the input's dtype with the
    # same numbers (the threshold moved instead of allocating 32 MiB).
    monkeypatch.setattr(_backends, "_HEAP_REUSE_BYTES", heap_bytes)
    x = torch.tensor(rng.normal(scale=3.0, size=(5, 33)), dtype=dtype, requires_grad=True)
    upstream = torch.tensor(rng.normal(size=(5, 33)), dtype=dtype)
    for name in ("softmax", "log_softmax"):
        x.grad = None
        y = getattr(skt, name)(x, -1)
        y.backward(upstream)
        for result in (y, x.grad):
            assert type(result) is torch.Tensor and result.dtype is dtype and result.is_contiguous()
        np.testing.assert_array_equal(y.detach().numpy(), getattr(sk, name)(x.detach().numpy()))
        torch.testing.assert_close(x.grad, torch.autograd.grad(getattr(F, name)(x, -1), x, upstream)[0])


def test_tensors_autograd_tracks_stay_on_torch_ops(monkeypatch):
    # softmaxkit.softmax on a tensor that requires grad (outside the ops) is
    # computed by torch's own ops, so that autograd sees it.
    for name in ("softmax", "fast_softmax"):
        monkeypatch.setattr(_dispatch, name, lambda *a, **k: pytest.fail("kernel called"))
    x = torch.arange(6.0, requires_grad=True)
    sk.softmax(x).sum().backward()
    assert x.grad is not None


@pytest.fixture
def through_the_ops(monkeypatch):
    """Within the test, every call takes the custom ops (as under a trace or a mode)."""
    def ops_only():
        monkeypatch.setattr(_eager, "only_eager_autograd", lambda: False)

    return ops_only


@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
def test_eager_softmax_skips_the_custom_ops_with_their_numbers(rng, through_the_ops, name):
    # A default call in eager mode runs as an autograd.Function over the kernel's
    # short paths (the ops' dispatch cost 5x torch's whole step on small
    # tensors), with the ops' values and gradients, bit for bit.
    x = torch.tensor(rng.normal(scale=3.0, size=(3, 40)), dtype=torch.float32, requires_grad=True)
    upstream = torch.tensor(rng.normal(size=(3, 40)), dtype=torch.float32)
    y = getattr(skt, name)(x, -1)
    assert type(y.grad_fn) is _eager._Softmax._backward_cls
    (grad,) = torch.autograd.grad(y, x, upstream)
    through_the_ops()
    y_ops = getattr(skt, name)(x, 1)
    assert type(y_ops.grad_fn) is not _eager._Softmax._backward_cls
    torch.testing.assert_close(y, y_ops, rtol=0, atol=0)
    torch.testing.assert_close(grad, torch.autograd.grad(y_ops, x, upstream)[0], rtol=0, atol=0)


EAGER_CROSS_ENTROPY_OPTIONS = {
    "mean": {},
    "sum": {"reduction": "sum"},
    "none": {"reduction": "none"},
    "smoothing_ignored": {"label_smoothing": 0.1, "ignore_index": 2},
    "all_ignored": {"ignore_index": 1},
}


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("options", EAGER_CROSS_ENTROPY_OPTIONS.values(), ids=EAGER_CROSS_ENTROPY_OPTIONS.keys())
def test_eager_cross_entropy_matches_the_ops_and_torch(rng, through_the_ops, monkeypatch, dtype, options):
    # Plain (N, C) logits and int64 class indices without class weights take the
    # kernel's fused loss-and-gradient straight from an autograd.Function: the
    # ops' numbers bit for bit, torch's within float rounding ("all_ignored":
    # a mean over no rows is NaN and the gradient 0, as in torch).
    calls = []
    original = _dispatch.fast_cross_entropy
    monkeypatch.setattr(_dispatch, "fast_cross_entropy", lambda *a: calls.append(1) or original(*a))
    x = torch.tensor(rng.normal(scale=3.0, size=(5, 7)), dtype=dtype, requires_grad=True)
    target = torch.tensor([0, 2, 6, 1, 2]) if "all_ignored" not in options else torch.full((5,), 1)
    upstream = torch.tensor(rng.normal(size=5), dtype=dtype) if options.get("reduction") == "none" else None
    loss = skt.cross_entropy(x, target, **options)
    assert type(loss.grad_fn) is _eager._CrossEntropy._backward_cls and calls == [1]
    loss.backward(upstream)
    expected = F.cross_entropy(x, target, **options)
    torch.testing.assert_close(loss, expected, equal_nan=True)
    torch.testing.assert_close(x.grad, torch.autograd.grad(expected, x, upstream)[0])
    grad, x.grad = x.grad, None
    through_the_ops()
    loss_ops = skt.cross_entropy(x, target, **options)
    loss_ops.backward(upstream)
    torch.testing.assert_close(loss, loss_ops, rtol=0, atol=0, equal_nan=True)
    torch.testing.assert_close(grad, x.grad, rtol=0, atol=0)
    assert calls == [1]


def test_eager_cross_entropy_without_autograd_is_the_loss(rng):
    x = torch.tensor(rng.normal(size=(4, 6)), dtype=torch.float32)
    target = torch.tensor([5, 0, 3, 3])
    with torch.no_grad():
        torch.testing.assert_close(skt.cross_entropy(x, target, reduction="sum"), F.cross_entropy(x, target, reduction="sum"))
    loss = skt.cross_entropy(x, target)
    assert loss.grad_fn is None
    torch.testing.assert_close(loss, F.cross_entropy(x, target))


def test_eager_cross_entropy_under_a_forced_backend_is_that_backends(rng):
    # The kernel's short path steps aside for a forced backend (the reference here).
    x = torch.tensor(rng.normal(size=(4, 6)), requires_grad=True)
    target = torch.tensor([5, 0, 3, 3])
    with _backends.forced("reference"):
        loss = skt.cross_entropy(x, target)
    loss.backward()
    expected = F.cross_entropy(x, target)
    torch.testing.assert_close(loss, expected)
    torch.testing.assert_close(x.grad, torch.autograd.grad(expected, x)[0])


def test_eager_cross_entropy_hands_on_its_gradient_without_a_copy(rng, monkeypatch):
    # loss.backward() (an upstream gradient of 1) leaves the gradient the forward
    # wrote as the logits' .grad (a 16 MB copy a (4096, 1000) step, and its page
    # faults, before); with retain_graph the second backward still adds the same.
    written = []
    original = _dispatch.fast_cross_entropy
    monkeypatch.setattr(_dispatch, "fast_cross_entropy", lambda *a: written.append(a[-1]) or original(*a))
    x = torch.tensor(rng.normal(size=(6, 9)), dtype=torch.float32, requires_grad=True)
    target = torch.tensor([0, 8, 4, 4, 1, 2])
    skt.cross_entropy(x, target).backward()
    assert x.grad.data_ptr() == written[0].ctypes.data
    expected = torch.autograd.grad(F.cross_entropy(x, target), x)[0]
    x.grad = None
    loss = skt.cross_entropy(x, target)
    loss.backward(retain_graph=True)
    loss.backward()
    torch.testing.assert_close(x.grad, 2 * expected)


def test_eager_cross_entropy_refuses_a_class_out_of_range_in_the_full_paths_words():
    x = torch.zeros(2, 3, requires_grad=True)
    with pytest.raises(ValueError, match="class index 3, outside"):
        skt.cross_entropy(x, torch.tensor([0, 3]))


def test_a_torch_function_mode_sees_the_custom_ops(logits):
    # A mode (as a trace or a functorch transform) sees the custom ops, not the
    # eager short paths' kernel calls.
    from torch.overrides import TorchFunctionMode

    seen = []

    class Record(TorchFunctionMode):
        def __torch_function__(self, func, types, args=(), kwargs=None):
            seen.append(func)
            return func(*args, **(kwargs or {}))

    with Record():
        skt.softmax(logits, 1)
        skt.cross_entropy(logits, torch.tensor([0, 1, 2, 3]))
    assert {"softmaxkit.softmax", "softmaxkit.cross_entropy"} <= {str(func) for func in seen}


def test_cross_entropy_gradient_output_alone_passes_no_gradient(logits):
    # The op's second output (the gradient it computed) is not differentiable:
    # a backward through it alone leaves the logits without a gradient (autograd
    # no longer fills the loss's upstream gradient with zeros for it).
    _, grad = torch.ops.softmaxkit.cross_entropy(logits, torch.tensor([0, 1, 2, 3]), None, 1, -100, 0.0, "mean", True)
    grad.sum().backward()
    assert logits.grad is None


# ---- modules, training, torch.compile --------------------------------------------------------


def test_modules_match_functional(logits, mask):
    torch.testing.assert_close(skt.Softmax(dim=1)(logits, mask), skt.softmax(logits, 1, where=mask))
    torch.testing.assert_close(skt.LogSoftmax(dim=0, temperature=2.0)(logits), skt.log_softmax(logits, 0, temperature=2.0))
    weight = torch.tensor([1.0, 2.0, 0.5, 3.0, 1.5], dtype=torch.float64)
    loss = skt.CrossEntropyLoss(weight, label_smoothing=0.1, reduction="sum")
    target = torch.tensor([0, 1, 2, 3])
    torch.testing.assert_close(loss(logits, target), F.cross_entropy(logits, target, weight, reduction="sum", label_smoothing=0.1))
    assert "weight" in dict(loss.named_buffers())


def _train(loss_module, steps=5):
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.Tanh(), torch.nn.Linear(16, 5))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.5)
    data = torch.randn(32, 8)
    target = torch.randint(0, 5, (32,))
    losses = []
    for _ in range(steps):
        optimizer.zero_grad()
        loss = loss_module(model(data), target)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return losses, [p.detach().clone() for p in model.parameters()]


def test_training_matches_torch_step_for_step():
    ours, our_params = _train(skt.CrossEntropyLoss(label_smoothing=0.1))
    theirs, their_params = _train(torch.nn.CrossEntropyLoss(label_smoothing=0.1))
    np.testing.assert_allclose(ours, theirs, rtol=1e-5)
    for a, b in zip(our_params, their_params):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)
    assert ours[-1] < ours[0]


def test_compile_fullgraph_has_no_graph_break(logits, mask):
    # aot_eager traces forward and backward through the fake implementations
    # and the registered backwards (what inductor needs) without compiling C++.
    torch._dynamo.reset()
    target = torch.tensor([0, 2, 4, 1])

    def model(x):
        p = skt.softmax(x, 1, where=mask)
        return skt.cross_entropy(x * 2.0, target, label_smoothing=0.1) + (p * p).sum()

    compiled = torch.compile(model, backend="aot_eager", fullgraph=True)
    x = logits.detach().clone().requires_grad_()
    value = compiled(x)
    value.backward()
    expected_x = logits.detach().clone().requires_grad_()
    expected = model(expected_x)
    expected.backward()
    torch.testing.assert_close(value, expected)
    torch.testing.assert_close(x.grad, expected_x.grad)


def test_custom_ops_pass_torch_opcheck(logits, mask):
    target = torch.tensor([0, 2, 4, 1])
    torch.library.opcheck(torch.ops.softmaxkit.softmax, (logits, 1, 1.0, mask))
    torch.library.opcheck(torch.ops.softmaxkit.log_softmax, (logits, 0, 2.0, None))
    torch.library.opcheck(
        torch.ops.softmaxkit.cross_entropy, (logits, target, None, 1, -100, 0.1, "none", True)
    )


# ---- linear cross-entropy --------------------------------------------------------------------


@pytest.fixture
def linear_problem(rng):
    x = torch.tensor(rng.normal(size=(7, 4)), requires_grad=True)
    w = torch.tensor(rng.normal(size=(6, 4)), requires_grad=True)
    b = torch.tensor(rng.normal(size=6), requires_grad=True)
    target = torch.tensor([0, 5, -100, 3, 2, 2, 1])
    return x, w, b, target


LINEAR_OPTIONS = {
    "plain": {},
    "none": {"reduction": "none"},
    "sum_smoothing": {"reduction": "sum", "label_smoothing": 0.2},
    "weight": {"weight": torch.tensor([1.0, 2.0, 0.5, 3.0, 1.5, 0.7], dtype=torch.float64)},
}


@pytest.mark.parametrize("chunk_size", [1, 3, 100])
@pytest.mark.parametrize("options", LINEAR_OPTIONS.values(), ids=LINEAR_OPTIONS.keys())
def test_linear_cross_entropy_matches_torch(linear_problem, options, chunk_size):
    x, w, b, target = linear_problem
    got = skt.linear_cross_entropy(x, w, target, bias=b, chunk_size=chunk_size, **options)
    expected = F.cross_entropy(x @ w.T + b, target, **options)
    torch.testing.assert_close(got, expected)


@pytest.mark.parametrize("options", LINEAR_OPTIONS.values(), ids=LINEAR_OPTIONS.keys())
def test_gradcheck_linear_cross_entropy(linear_problem, options):
    x, w, b, target = linear_problem
    assert torch.autograd.gradcheck(
        lambda x, w, b: skt.linear_cross_entropy(x, w, target, bias=b, chunk_size=3, **options),
        (x, w, b),
    )


def test_gradcheck_linear_cross_entropy_without_bias_3d(rng):
    x = torch.tensor(rng.normal(size=(2, 3, 4)), requires_grad=True)
    w = torch.tensor(rng.normal(size=(5, 4)), requires_grad=True)
    target = torch.tensor([[0, 1, 4], [2, -100, 3]])
    assert torch.autograd.gradcheck(
        lambda x, w: skt.linear_cross_entropy(x, w, target, reduction="none", chunk_size=2), (x, w)
    )


@pytest.mark.parametrize(
    ("args", "kwargs", "error", "match"),
    [
        (((7, 4), (6, 3), (7,)), {}, ValueError, "linear_weight must have shape"),
        (((7, 4), (6, 4), (6,)), {}, ValueError, "target must have shape"),
        (((7, 4), (6, 4), (7,)), {"chunk_size": 0}, ValueError, "chunk_size"),
        (((7, 4), (6, 4), (7,)), {"bias": torch.zeros(5)}, ValueError, "bias must have shape"),
        (((7, 4), (6, 4), (7,)), {"reduction": "avg"}, ValueError, "reduction"),
    ],
    ids=["feature_mismatch", "target_shape", "chunk_size", "bias_shape", "reduction"],
)
def test_linear_cross_entropy_bad_arguments(args, kwargs, error, match):
    x, w, t = (torch.zeros(shape) for shape in args)
    with pytest.raises(error, match=match):
        skt.linear_cross_entropy(x, w, t.long(), **kwargs)


def test_linear_cross_entropy_module_trains_like_torch():
    torch.manual_seed(0)
    ours = skt.LinearCrossEntropyLoss(8, 5, chunk_size=7)
    reference = torch.nn.Linear(8, 5)
    reference.load_state_dict({"weight": ours.weight.detach().clone(), "bias": ours.bias.detach().clone()})
    hidden, target = torch.randn(20, 8), torch.randint(0, 5, (20,))
    for module, head in ((ours, lambda h: ours(h, target)), (reference, lambda h: F.cross_entropy(reference(h), target))):
        optimizer = torch.optim.SGD(module.parameters(), lr=0.5)
        for _ in range(3):
            optimizer.zero_grad()
            head(hidden).backward()
            optimizer.step()
    torch.testing.assert_close(ours.weight, reference.weight)
    torch.testing.assert_close(ours.bias, reference.bias)


def test_linear_cross_entropy_compiles_fullgraph(linear_problem):
    torch._dynamo.reset()
    x, w, b, target = linear_problem
    compiled = torch.compile(
        lambda x, w, b: skt.linear_cross_entropy(x, w, target, bias=b, chunk_size=3),
        backend="aot_eager", fullgraph=True,
    )  # fmt: skip
    compiled(x, w, b).backward()
    grads = [t.grad.clone() for t in (x, w, b)]
    for t in (x, w, b):
        t.grad = None
    skt.linear_cross_entropy(x, w, target, bias=b, chunk_size=3).backward()
    for got, t in zip(grads, (x, w, b)):
        torch.testing.assert_close(got, t.grad)


def test_linear_cross_entropy_ops_pass_opcheck(linear_problem):
    x, w, b, target = linear_problem
    torch.library.opcheck(torch.ops.softmaxkit.linear_cross_entropy, (x, w, b, target, None, -100, 0.1, "mean", 3))
