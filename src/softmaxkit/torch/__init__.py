"""softmaxkit for PyTorch: custom ops with autograd and torch.compile support, and nn.Modules.

Needs the ``torch`` extra. Not imported by ``import softmaxkit``.

>>> import torch, softmaxkit.torch as skt
>>> skt.softmax(torch.tensor([0.0, float("inf"), float("inf")]), dim=0)
tensor([0.0000, 0.5000, 0.5000])
"""

try:
    import torch as _torch_itself  # noqa: F401 (imported only to say clearly when it is missing)
except ImportError as exc:
    raise ImportError(
        "softmaxkit.torch needs PyTorch, which is not installed: pip install torch==2.13.0 "
        "(or the build for your machine), then pip install 'softmaxkit[torch]'",
        name="torch",
    ) from exc

from .functional import cross_entropy, linear_cross_entropy, log_softmax, nll_loss, softmax
from .modules import CrossEntropyLoss, LinearCrossEntropyLoss, LogSoftmax, Softmax

__all__ = [
    "CrossEntropyLoss",
    "LinearCrossEntropyLoss",
    "LogSoftmax",
    "Softmax",
    "cross_entropy",
    "linear_cross_entropy",
    "log_softmax",
    "nll_loss",
    "softmax",
]
