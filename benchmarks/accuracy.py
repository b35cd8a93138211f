"""Accuracy of softmax, log_softmax and logsumexp in ulps against mpmath, beside the peers.

    python benchmarks/accuracy.py [--spread 60] [--rows 200] [--columns 16]

Prints the maximum and mean error in ulps of softmaxkit, scipy.special,
torch and onnxruntime (where installed) on the same random rows of logits
spread over ±spread, for float32 and float64. onnxruntime runs one-node
models (Softmax, LogSoftmax, ReduceLogSumExp; opset 13) on its CPU provider.
"""

import argparse
import pathlib
import sys

import numpy as np

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "tests"))
from helpers import mpmath_softmax_family, ulp_error  # noqa: E402

import softmaxkit as sk  # noqa: E402

NAMES = ["softmax", "log_softmax", "logsumexp"]


def peers():
    found = {"softmaxkit": lambda name, x: getattr(sk, name)(x, axis=-1)}
    try:
        import scipy.special

        found["scipy"] = lambda name, x: getattr(scipy.special, name)(x, axis=-1)
    except ImportError:
        pass
    try:
        import torch

        def torch_call(name, x):
            t = torch.from_numpy(x)
            function = {"softmax": torch.softmax, "log_softmax": torch.log_softmax,
                        "logsumexp": torch.logsumexp}[name]
            return function(t, -1).numpy()

        found["torch"] = torch_call
    except ImportError:
        pass
    try:
        import onnx
        import onnxruntime
    except ImportError:
        pass
    else:
        found["onnxruntime"] = OnnxRuntime(onnx, onnxruntime)
    return found


class OnnxRuntime:
    """softmax, log_softmax and logsumexp over the last axis by onnxruntime's CPU kernels."""

    OPS = {"softmax": "Softmax", "log_softmax": "LogSoftmax", "logsumexp": "ReduceLogSumExp"}

    def __init__(self, onnx, onnxruntime):
        self.onnx, self.onnxruntime = onnx, onnxruntime
        self.sessions = {}

    def session(self, name, dtype):
        key = (name, dtype)
        if key not in self.sessions:
            helper, proto = self.onnx.helper, self.onnx.TensorProto
            element = {np.dtype(np.float32): proto.FLOAT, np.dtype(np.float64): proto.DOUBLE}[dtype]
            if name == "logsumexp":  # opset 13 takes the axes as an attribute
                node = helper.make_node(self.OPS[name], ["x"], ["y"], axes=[-1], keepdims=0)
                out_dims = [None]
            else:
                node = helper.make_node(self.OPS[name], ["x"], ["y"], axis=-1)
                out_dims = [None, None]
            graph = helper.make_graph(
                [node], name, [helper.make_tensor_value_info("x", element, [None, None])],
                [helper.make_tensor_value_info("y", element, out_dims)],
            )  # fmt: skip
            model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
            model.ir_version = 8
            self.sessions[key] = self.onnxruntime.InferenceSession(
                model.SerializeToString(), providers=["CPUExecutionProvider"]
            )
        return self.sessions[key]

    def __call__(self, name, x):
        return self.session(name, x.dtype).run(None, {"x": x})[0]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--spread", type=float, default=60.0)
    parser.add_argument("--rows", type=int, default=200)
    parser.add_argument("--columns", type=int, default=16)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    x64 = rng.uniform(-args.spread, args.spread, size=(args.rows, args.columns))
    libraries = peers()
    print(f"max / mean error in ulps, {args.rows} rows x {args.columns} logits in ±{args.spread:g}")
    print(f"{'dtype':8} {'function':12} " + " ".join(f"{lib:>16}" for lib in libraries))
    for dtype in (np.float32, np.float64):
        x = x64.astype(dtype)
        references = dict(zip(NAMES, mpmath_softmax_family(x)))
        for name in NAMES:
            cells = []
            for call in libraries.values():
                errors = ulp_error(np.asarray(call(name, x)), references[name])
                cells.append(f"{errors.max():7.1f} / {errors.mean():6.2f}")
            print(f"{np.dtype(dtype).name:8} {name:12} " + " ".join(f"{c:>16}" for c in cells))


if __name__ == "__main__":
    main()
