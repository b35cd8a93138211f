#!/usr/bin/env python3
"""Mutation testing: plant small bugs in a module, run its tests, list the bugs no test catches.

Usage (from the repository root, in the development environment)::

    python tools/mutate.py softmaxkit.calibration.metrics          # one module, its mapped tests
    python tools/mutate.py softmaxkit.losses --lines 480-560       # only mutants on these lines
    python tools/mutate.py softmaxkit._stable --list               # the mutants, nothing run
    python tools/mutate.py softmaxkit._core --only 17,42 -v        # rerun two, show pytest's output
    python tools/mutate.py softmaxkit.losses --max-minutes 10      # start no mutant after 10 min

A mutant is one change to the module's syntax tree: a comparison flipped at its boundary
(``<`` to ``<=``) or negated (``==`` to ``!=``), an arithmetic operator swapped (``+``/``-``,
``*``/``/``), a number moved (``0`` to ``1``, ``n`` to ``n + 1``, ``x`` to ``2x``), ``True``
and ``False`` swapped, ``and``/``or`` swapped, a ``not`` or a unary minus dropped, and a
guard removed (an ``if`` whose test becomes ``False``, or is negated when it has an ``else``).
Docstrings, other strings, annotations, ``raise`` statements and ``@overload`` stubs (typing
only: the implementation replaces them) are left alone; a line ending in ``# pragma: no
mutate`` too.

Each mutant runs the module's tests (``TESTS`` below; ``--tests`` overrides) with ``pytest
-x`` in a forked child of a process that has already imported the heavy libraries, and the
mutated module is put in place by an import hook: the source files are never rewritten, so
the work tree stays usable while this runs, and subprocesses the tests start (the CLI
tests run the console script) see the mutant too, through ``sitecustomize`` below (a line
that a test runs in process also runs every test that starts a subprocess). A mutant
is *killed* when a test fails (or times out, or the module no longer imports), *survives*
when all pass. The survivors are printed with their line and change: each one is either a
missing test or an equivalent change (argue it, then add ``# pragma: no mutate`` to the line
only when the argument is solid).

The tests each line runs are found by one traced run of the unmutated module first; its
result is kept in the temporary directory and reused by later runs over the same tests
while no file under ``src/`` or ``tests/`` changes (a module cut into ``--lines`` chunks
is traced once).

Not run in CI: a module takes minutes to an hour.
"""

from __future__ import annotations

import argparse
import ast
import copy
import hashlib
import importlib.abc
import importlib.util
import inspect
import json
import os
import pathlib
import signal
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
SOURCE = ROOT / "src"
HOOK_DIR = pathlib.Path(__file__).resolve().parent / "mutate_hook"

# The tests that check each module, as tight as keeps the runs short. A module missing
# here falls back to its tests/ mirror.
_CORE_TESTS = [
    "tests/test_core_values.py",
    "tests/test_core_edge_cases.py",
    "tests/test_core_properties.py",
    "tests/test_accuracy.py",
    "tests/test_validation.py",
    "tests/test_spec_path.py",
]
# gumbel_softmax's routes for a large input (blocks of rows, streamed slices): their
# memory tests' cases, which compare the values with those of one call.
_MEMORY, _SLICES = "tests/test_reliability_memory.py", "tests/test_reliability_memory_slices.py"
_GUMBEL_ROUTES = [
    *(
        f"{_SLICES}::{test}[gumbel_softmax_{case}]"
        for test in ("test_peak_is_the_result_and_a_few_blocks", "test_blocks_give_the_values_of_one_call")
        for case in ("one_row", "axis0", "where", "row_temperatures", "hard_one_row", "hard_axis0", "where_list")
    ),
    f"{_SLICES}::test_a_streamed_gumbel_softmax_leaves_the_generator_where_one_call_does",
    f"{_SLICES}::test_a_streamed_hard_gumbel_sample_leaves_the_generator_where_one_call_does",
    *(f"{_SLICES}::test_a_streamed_slice_keeps_the_edge_case_policy[gumbel_hard-{row}]" for row in ("plus_inf", "nan", "all_minus_inf")),
    *(
        f"{_MEMORY}::{test}[{dtype}-gumbel_softmax]"
        for test in ("test_peak_is_the_result_and_a_few_blocks", "test_blocks_give_the_values_of_one_call")
        for dtype in ("float32", "float64")
    ),
]
# The segment softmaxes' large-input routes (blocks, streamed vectors) and their pinned
# refusals and label relabelling, in the reliability files.
_SEGMENT_ROUTES = [
    *(
        f"{_SLICES}::{test}[{function}_vector]"
        for test in ("test_peak_is_the_result_and_a_few_blocks", "test_blocks_give_the_values_of_one_call")
        for function in ("segment_softmax", "segment_log_softmax", "segment_logsumexp")
    ),
    *(
        f"{_MEMORY}::{test}[{dtype}-{function}]"
        for test in ("test_peak_is_the_result_and_a_few_blocks", "test_blocks_give_the_values_of_one_call")
        for dtype in ("float32", "float64")
        for function in ("segment_softmax", "segment_log_softmax", "segment_logsumexp", "segment_softmax_last_axis")
    ),
    "tests/test_reliability_messages.py::test_huge_segment_ids_cost_no_memory",
    *(
        f"tests/test_reliability_masked.py::{test}[{function}]"
        for test in ("test_a_mask_that_hides_entries_is_refused", "test_a_mask_that_hides_nothing_gives_the_plain_result")
        for function in ("segment_softmax", "segment_log_softmax", "segment_logsumexp")
    ),
]
# entropy's and kl_divergence's large-input routes (blocks of rows, streamed slices, from
# logits and from probabilities): their peaks, their values against one call, their refusals.
_INFORMATION_ROUTES = [
    *(
        f"{_SLICES}::{test}[{case}]"
        for test in ("test_peak_is_the_result_and_a_few_blocks", "test_blocks_give_the_values_of_one_call")
        for case in (
            "entropy_one_row", "entropy_axis0", "entropy_where", "entropy_row_temperatures",
            "entropy_row_temperatures_list", "entropy_probs_one_row", "kl_one_row", "kl_axis0", "kl_where",
            "kl_probs_one_row", "kl_logits_probs_one_row",
        )
    ),
    *(f"{_SLICES}::test_streamed_probabilities_are_refused_as_in_one_call[{kind}]" for kind in ("negative", "zeros")),
    *(f"{_SLICES}::test_a_streamed_slice_keeps_the_edge_case_policy[entropy-{row}]" for row in ("plus_inf", "nan", "all_minus_inf")),
    *(
        f"{_MEMORY}::{test}[{dtype}-{function}]"
        for test in ("test_peak_is_the_result_and_a_few_blocks", "test_blocks_give_the_values_of_one_call")
        for dtype in ("float32", "float64")
        for function in ("entropy", "kl_divergence")
    ),
]
# sample's large-input routes (blocks of rows, streamed slices, the filters over blocks):
# their peaks and their draws against one call.
_SAMPLE_ROUTES = [
    *(
        f"{_SLICES}::{test}[{case}]"
        for test in ("test_peak_is_the_result_and_a_few_blocks", "test_blocks_give_the_values_of_one_call")
        for case in ("sample_one_row", "sample_greedy_vector", "sample_axis0", "sample_where")
    ),
    *(
        f"{_SLICES}::test_a_near_constant_row_or_filtered_draws_peak_at_a_few_blocks[{case}]"
        for case in ("sample_top_k_one_row", "sample_top_p_vector", "sample_min_p_one_row", "sample_top_k_axis0")
    ),
    *(
        f"{_MEMORY}::{test}[{dtype}-{case}]"
        for test in ("test_peak_is_the_result_and_a_few_blocks", "test_blocks_give_the_values_of_one_call")
        for dtype in ("float32", "float64")
        for case in ("sample", "sample_filtered", "sample_generator")
    ),
]
# sparsemax's and entmax's large-input routes (blocks of rows, slices streamed with the
# threshold found over their blocks) and their losses': the reliability files' cases of them.
_ENTMAX_ROUTES = [
    *(
        f"{_MEMORY}::{test}[{dtype}-{function}]"
        for test in ("test_peak_is_the_result_and_a_few_blocks", "test_blocks_give_the_values_of_one_call")
        for dtype in ("float32", "float64")
        for function in ("sparsemax", "entmax15", "entmax_bisect", "sparsemax_loss", "sparsemax_loss_none", "entmax15_loss")
    ),
    *(
        f"{_SLICES}::{test}[{case}]"
        for test in ("test_peak_is_the_result_and_a_few_blocks", "test_blocks_give_the_values_of_one_call")
        for case in (
            "sparsemax_one_row", "sparsemax_axis0", "sparsemax_where", "sparsemax_row_temperatures",
            "entmax15_vector", "entmax15_axis0", "entmax_bisect_one_row", "entmax_bisect_axis0_tall",
            "sparsemax_loss_one_row", "entmax15_loss_one_row", "sparsemax_near_constant_row",
            "sparsemax_where_list", "sparsemax_loss_axis0",
        )
    ),
    *(
        f"{_SLICES}::test_a_near_constant_row_or_filtered_draws_peak_at_a_few_blocks[{case}]"
        for case in ("entmax15_near_constant_row", "entmax_bisect_near_constant_row", "entmax15_loss_near_constant_row")
    ),
    *(
        f"{_SLICES}::test_a_streamed_slice_keeps_the_edge_case_policy[{function}-{row}]"
        for function in ("sparsemax", "entmax15", "entmax_bisect", "sparsemax_loss", "entmax15_loss")
        for row in ("plus_inf", "nan", "all_minus_inf")
    ),
    f"{_SLICES}::test_the_threshold_over_blocks_is_the_sorts",
    f"{_SLICES}::test_entmax15_over_blocks_does_not_overshoot",
]


def _docstring_tests(module: str) -> list[str]:
    """A module whose docstrings are completed at import (``__doc__.replace``): their
    examples, and the test that every public function has some, see what it made."""
    return [
        f"tests/test_package.py::test_docstring_examples_run[softmaxkit.{module}]",
        "tests/test_package.py::test_the_public_functions_have_examples",
    ]


# _core is the dispatcher: the kernel's tests (NumPy input, out=, layouts) and the
# large-input routes (blocks of rows, streamed slices) reach the lines the spec path skips.
_CORE_ROUTES = [
    "tests/test_kernel.py",
    "tests/test_kernel_layouts.py",
    *(
        f"{_MEMORY}::{test}[{dtype}-{function}]"
        for test in ("test_peak_is_the_result_and_a_few_blocks", "test_blocks_give_the_values_of_one_call")
        for dtype in ("float32", "float64")
        for function in (
            "softmax", "softmax_axis0", "softmax_temperature", "log_softmax_temperature", "logsumexp", "sigmoid",
            "log_sigmoid",
        )
    ),
    *(
        f"{_SLICES}::{test}[{case}]"
        for test in ("test_peak_is_the_result_and_a_few_blocks", "test_blocks_give_the_values_of_one_call")
        for case in (
            "softmax_T_one_row", "log_softmax_T_vector", "softmax_T_where_one_row", "softmax_T_axis0",
            "softmax_T_axis0_tall", "softmax_T_where", "softmax_row_temperatures", "sigmoid_one_row",
            "log_sigmoid_one_row",
        )
    ),
    *(
        f"{_SLICES}::test_a_streamed_slice_keeps_the_edge_case_policy[{function}-{row}]"
        for function in ("softmax", "log_softmax")
        for row in ("plus_inf", "nan", "all_minus_inf")
    ),
]
TESTS = {
    "softmaxkit._core": [*_CORE_TESTS, *_CORE_ROUTES],
    # The registry and the short paths' choices (test_backend_registry), every backend
    # against the reference, the short paths' calls and values; a NumPy process without torch.
    "softmaxkit._backends": [
        "tests/test_backend_registry.py",
        "tests/test_backend_contract.py",
        "tests/test_backends.py",
        "tests/test_torch.py",
        "tests/test_kernel.py::test_cross_entropy_short_path_gives_the_full_paths_values",
        "tests/test_kernel.py::test_vjps",
        "tests/test_package.py::test_numpy_calls_run_without_torch",
    ],
    # The spec path's softmax_vjp (softmax_vjp_from) is reached only by test_backends' cases.
    "softmaxkit._stable": [*_CORE_TESTS, "tests/test_backends.py"],
    # The reference backend: the contract tests call it directly (cross-entropy rows too), the
    # core tests' numpy_spec and array-api-strict cases through the functional layer.
    "softmaxkit._reference": [
        "tests/test_backend_contract.py",
        "tests/test_backends.py",
        "tests/test_core_values.py",
        "tests/test_core_edge_cases.py",
        "tests/test_losses.py",
    ],
    # _family is the prepare/row-layout layer every public function of the family goes
    # through (the kernel path too): the core tests reach all of it.
    "softmaxkit._family": _CORE_TESTS,
    # The refusals' messages and the masked-input checks are pinned in test_reliability_*.
    "softmaxkit._validate": [
        "tests/test_validation.py",
        "tests/test_core_values.py",
        "tests/test_reliability_messages.py",
        "tests/test_reliability_masked.py",
    ],
    "softmaxkit.losses": [
        "tests/test_losses.py",
        "tests/test_linear_cross_entropy.py",
        # cross_entropy holds no gradient: one case of the memory test says so.
        "tests/test_reliability_memory.py::test_peak_is_the_result_and_a_few_blocks[float64-cross_entropy]",
    ],
    # With the Triton route's fused override (the interpreter on CPU tensors) for _fused.
    "softmaxkit._linear": [
        "tests/test_linear_cross_entropy.py",
        "tests/test_softmax_regression.py",
        "tests/test_triton_interpreter.py::test_linear_cross_entropy_on_the_triton_route_is_the_fused_kernel",
        "tests/test_triton_interpreter.py::test_linear_cross_entropy_of_one_row_on_the_triton_route",
        "tests/test_triton_interpreter.py::test_linear_cross_entropy_with_sample_weights_on_the_triton_route_is_chunked",
    ],
    # Every loss's targets, weights and reductions (the torch-named tests too: keep them out of -k).
    "softmaxkit._targets": [
        "tests/test_losses.py",
        "tests/test_linear_cross_entropy.py",
        "tests/variants/test_sparsemax.py",
        "tests/test_reliability_messages.py",
        # the NaN rows of lazy targets out of range (Dask's targets are not checked)
        "tests/test_dask.py::test_a_class_index_out_of_range_gives_nan_not_a_silent_loss",
    ],
    # The planner's rules on their own; the size of a block through the peaks the README lists.
    "softmaxkit._chunks": [
        "tests/test_chunks.py",
        "tests/test_reliability_memory.py::test_peak_is_the_result_and_a_few_blocks",
    ],
    # The selection on its own; sample's streamed filters (one huge slice, top-k/top-p) use it.
    "softmaxkit._selection": [
        "tests/test_selection.py",
        "tests/variants/test_sampling.py",
        "tests/test_package.py::test_docstring_examples_run[softmaxkit._selection]",
    ],
    # The streamed slices' value tests (against one call); the peaks add nothing on values.
    "softmaxkit._streams": [
        "tests/test_streams.py",
        *(
            f"{_SLICES}::{test}"
            for test in (
                "test_a_streamed_slice_keeps_the_edge_case_policy",
                "test_the_threshold_over_blocks_is_the_sorts",
                "test_entmax15_over_blocks_does_not_overshoot",
                "test_streamed_probabilities_are_refused_as_in_one_call",
                "test_blocks_give_the_values_of_one_call",
                "test_a_streamed_gumbel_softmax_leaves_the_generator_where_one_call_does",
                "test_a_streamed_hard_gumbel_sample_leaves_the_generator_where_one_call_does",
            )
        ),
        "tests/variants/test_sampling.py",
    ],
    "softmaxkit.variants.sampling": ["tests/variants/test_sampling.py", *_SAMPLE_ROUTES],
    "softmaxkit.variants.information": ["tests/variants/test_information.py", *_INFORMATION_ROUTES],
    "softmaxkit.variants.sparse": ["tests/variants/test_sparse.py"],
    "softmaxkit.variants.sparsemax": ["tests/variants/test_sparsemax.py", *_ENTMAX_ROUTES, *_docstring_tests("variants.sparsemax")],
    "softmaxkit.variants.sampled": ["tests/variants/test_sampled.py"],
    "softmaxkit.variants.segment": ["tests/variants/test_segment.py", *_SEGMENT_ROUTES, *_docstring_tests("variants.segment")],
    "softmaxkit.variants._segments": ["tests/variants/test_segment.py", "tests/variants/test_sparse.py"],
    "softmaxkit.variants.gumbel": ["tests/variants/test_gumbel.py", *_GUMBEL_ROUTES],
    "softmaxkit.variants._random": ["tests/variants/test_gumbel.py", "tests/variants/test_sampling.py"],
    "softmaxkit.calibration.metrics": ["tests/test_calibration_metrics.py"],
    "softmaxkit.calibration.temperature": [
        "tests/test_calibration_scalers.py",
        "tests/test_package.py::test_docstring_examples_run[softmaxkit.calibration.temperature]",
    ],
    "softmaxkit.calibration.vector": [
        "tests/test_calibration_scalers.py",
        "tests/test_package.py::test_docstring_examples_run[softmaxkit.calibration.vector]",
    ],
    "softmaxkit.calibration._inputs": ["tests/test_calibration_metrics.py", "tests/test_calibration_scalers.py"],
    "softmaxkit.calibration._params": ["tests/test_calibration_scalers.py"],
    "softmaxkit.cli.calibrate": ["tests/test_cli_calibrate.py"],
    # The CLI tests run the console script in subprocesses: the traced run sees none of
    # their lines, so every mutant runs all these files (with -x): keep them tight.
    "softmaxkit.cli.apply": ["tests/test_cli.py", "tests/test_cli_blocks.py"],
    "softmaxkit.cli._io": ["tests/test_cli_io.py", "tests/test_cli.py", "tests/test_cli_blocks.py", "tests/test_cli_reliability.py", "tests/test_cli_calibrate.py"],
    "softmaxkit.cli._errors": ["tests/test_cli.py"],
    "softmaxkit.cli.explain": [
        "tests/test_cli_explain.py",
        "tests/test_package.py::test_docstring_examples_run[softmaxkit.cli.explain]",
        "tests/test_cli.py",
        "tests/test_cli_explain_plot.py",
    ],
    "softmaxkit.cli.demo": ["tests/test_cli_demo.py", "tests/test_package.py::test_docstring_examples_run[softmaxkit.cli.demo]"],
    "softmaxkit.cli.explore": ["tests/test_cli_explore.py"],
    "softmaxkit.cli.__main__": ["tests/test_cli_main.py", "tests/test_cli.py", "tests/test_cli_reliability.py"],
}

# The libraries the tests import, loaded once in the parent so each forked child starts warm.
PRELOAD = [
    "numpy", "scipy.special", "hypothesis", "mpmath", "pytest", "array_api_compat", "array_api_strict", "torch",
    "jax.numpy", "dask.array",
]

_COMPARE_SWAPS = {
    ast.Lt: [ast.LtE],
    ast.LtE: [ast.Lt],
    ast.Gt: [ast.GtE],
    ast.GtE: [ast.Gt],
    ast.Eq: [ast.NotEq],
    ast.NotEq: [ast.Eq],
    ast.Is: [ast.IsNot],
    ast.IsNot: [ast.Is],
    ast.In: [ast.NotIn],
    ast.NotIn: [ast.In],
}
_BINOP_SWAPS = {
    ast.Add: ast.Sub,
    ast.Sub: ast.Add,
    ast.Mult: ast.Div,
    ast.Div: ast.Mult,
    ast.FloorDiv: ast.Mult,
    ast.Mod: ast.FloorDiv,
    ast.Pow: ast.Mult,
}


class Mutant:
    """One change: where it is (the k-th visited node of a kind) and what it does."""

    def __init__(self, number: int, line: int, description: str):
        self.number, self.line, self.description = number, line, description

    def __str__(self) -> str:
        return f"#{self.number} line {self.line}: {self.description}"


def _docstring_nodes(tree: ast.AST) -> set[int]:
    ids = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                ids.add(id(first.value))
    return ids


def _skipped_subtrees(tree: ast.AST) -> set[int]:
    """Nodes never mutated: annotations, raise statements, f-strings, decorators."""
    skipped: set[int] = set()

    def mark(node):
        for sub in ast.walk(node):
            skipped.add(id(sub))

    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and _is_overload(node):
            # A typing stub: Python replaces it by the implementation that follows,
            # so no change to it (a default value) can reach a caller.
            mark(node)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            for arg in [*node.args.args, *node.args.kwonlyargs, *node.args.posonlyargs]:
                if arg.annotation is not None:
                    mark(arg.annotation)
            if node.returns is not None:
                mark(node.returns)
            for decorator in node.decorator_list:
                mark(decorator)
        elif isinstance(node, ast.AnnAssign):
            mark(node.annotation)
        elif isinstance(node, (ast.Raise, ast.JoinedStr, ast.Assert)):
            mark(node)
        elif isinstance(node, ast.If) and _is_type_checking(node.test):
            mark(node)
    return skipped


def _is_overload(function: ast.FunctionDef | ast.AsyncFunctionDef) -> bool:
    return any(
        isinstance(d, ast.Name) and d.id == "overload" or isinstance(d, ast.Attribute) and d.attr == "overload"
        for d in function.decorator_list
    )


def _is_type_checking(test: ast.AST) -> bool:
    return isinstance(test, ast.Name) and test.id == "TYPE_CHECKING" or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _raises_only(body: list[ast.stmt]) -> bool:
    return all(isinstance(statement, ast.Raise) for statement in body)


def _visit(tree: ast.AST, source_lines: list[str], apply: int | None = None) -> list[Mutant]:
    """List the mutants of ``tree``; with ``apply``, make that one change in place."""
    mutants: list[Mutant] = []
    docstrings = _docstring_nodes(tree)
    skipped = _skipped_subtrees(tree)

    def offer(node: ast.AST, description: str, change) -> None:
        line = getattr(node, "lineno", 0)
        if line and source_lines[line - 1].rstrip().endswith("# pragma: no mutate"):
            return
        number = len(mutants)
        mutants.append(Mutant(number, line, description))
        if apply == number:
            change()

    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.Compare):
            for position, op in enumerate(node.ops):
                for replacement in _COMPARE_SWAPS.get(type(op), []):
                    offer(
                        node,
                        f"{type(op).__name__} -> {replacement.__name__}",
                        lambda node=node, position=position, replacement=replacement: node.ops.__setitem__(
                            position, replacement()
                        ),
                    )
        elif isinstance(node, (ast.BinOp, ast.AugAssign)):
            replacement = _BINOP_SWAPS.get(type(node.op))
            if replacement is not None:
                offer(
                    node,
                    f"{type(node.op).__name__} -> {replacement.__name__}",
                    lambda node=node, replacement=replacement: setattr(node, "op", replacement()),
                )
        elif isinstance(node, ast.BoolOp):
            other = ast.Or if isinstance(node.op, ast.And) else ast.And
            offer(node, f"{type(node.op).__name__} -> {other.__name__}", lambda node=node, other=other: setattr(node, "op", other()))
        elif isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.Not, ast.USub)):
            offer(node, f"drop {type(node.op).__name__}", lambda node=node: _replace_with(node, node.operand))
        elif isinstance(node, ast.Constant) and id(node) not in docstrings:
            value = node.value
            if isinstance(value, bool):
                offer(node, f"{value} -> {not value}", lambda node=node: setattr(node, "value", not node.value))
            elif isinstance(value, int):
                offer(node, f"{value} -> {value + 1}", lambda node=node: setattr(node, "value", node.value + 1))
            elif isinstance(value, float):
                new = 1.0 if value == 0 else value * 2
                offer(node, f"{value!r} -> {new!r}", lambda node=node, new=new: setattr(node, "value", new))
        elif isinstance(node, ast.If):
            if node.orelse:
                offer(node, "negate the if", lambda node=node: setattr(node, "test", ast.UnaryOp(ast.Not(), node.test)))
            else:
                offer(node, "remove the guard (if False)", lambda node=node: setattr(node, "test", ast.Constant(False)))
                if not _raises_only(node.body):
                    offer(node, "always take the if (if True)", lambda node=node: setattr(node, "test", ast.Constant(True)))
        elif isinstance(node, ast.IfExp):
            offer(node, "negate the conditional expression", lambda node=node: setattr(node, "test", ast.UnaryOp(ast.Not(), node.test)))
    return mutants


def _replace_with(node: ast.AST, new: ast.AST) -> None:
    """Make ``node`` behave as ``new`` (a unary op becomes its operand: ``+x``)."""
    node.op = ast.UAdd()


def module_file(name: str) -> pathlib.Path:
    parts = name.split(".")
    path = SOURCE.joinpath(*parts).with_suffix(".py")
    if not path.is_file():
        raise SystemExit(f"no source file for {name} at {path}")
    return path


def installed_file(name: str) -> pathlib.Path:
    """The file of module ``name`` that the tests import: the installed package's, not
    ``src/``'s (the package is installed, not editable). Found without importing it: a
    module imported here would be inherited by every forked child, hiding the mutant."""
    package, *rest = name.split(".")
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit(f"{package} is not installed")
    path = pathlib.Path(spec.submodule_search_locations[0]).joinpath(*rest).with_suffix(".py")
    if path.read_bytes() != module_file(name).read_bytes():
        raise SystemExit(f"the installed {path} differs from {module_file(name)}: reinstall first")
    return path


def mutants_of(name: str) -> list[Mutant]:
    path = module_file(name)
    text = path.read_text()
    return _visit(ast.parse(text), text.splitlines())


def mutated_code(name: str, number: int):
    """The code object of module ``name`` with mutant ``number`` applied.

    The source is the snapshot taken when the run started (a merge into the work tree
    meanwhile must not renumber the mutants).
    """
    path = module_file(name)
    snapshot = os.environ.get("SOFTMAXKIT_MUTANT_SNAPSHOT")
    text = pathlib.Path(snapshot).read_text() if snapshot else path.read_text()
    tree = ast.parse(text)
    _visit(tree, text.splitlines(), apply=number)
    ast.fix_missing_locations(tree)
    return compile(tree, str(path), "exec")


class _MutantLoader(importlib.abc.Loader):
    def __init__(self, code):
        self.code = code

    def create_module(self, spec):
        return None

    def exec_module(self, module):
        exec(self.code, module.__dict__)


class _MutantFinder(importlib.abc.MetaPathFinder):
    def __init__(self, name: str, number: int):
        self.name, self.number = name, number

    def find_spec(self, fullname, path, target=None):
        if fullname != self.name:
            return None
        code = mutated_code(self.name, self.number)
        return importlib.util.spec_from_file_location(fullname, str(module_file(self.name)), loader=_MutantLoader(code))


def install_from_environment() -> None:
    """Called by sitecustomize in every Python process a test starts, and by the child."""
    name, number = os.environ.get("SOFTMAXKIT_MUTANT_MODULE"), os.environ.get("SOFTMAXKIT_MUTANT_NUMBER")
    if name and number:
        sys.meta_path.insert(0, _MutantFinder(name, int(number)))


class LineRecorder:
    """A pytest plugin that records which tests run each line of one source file.

    Lines run by the module's own code (its body at import: default values,
    constants, decorators) are recorded as run by every test: the package
    imports some modules lazily, so the first test that touches the module
    runs them, yet every later test depends on what they made.
    """

    def __init__(self, filename: str):
        self.filename = os.path.realpath(filename)
        self.current: str | None = None
        self.lines: dict[int, set[str]] = {}
        self.import_lines: set[int] = set()
        # The tests that start a subprocess: the tracer cannot see what it runs (the CLI
        # tests run the console script), so each may run any line of the module.
        self.spawning: set[str] = set()
        # A line run while a test's fixtures are set up (a module-scoped fixture runs once,
        # for the first test that asks for it) is needed by the file's other tests too.
        self.in_setup = False
        self.setup_files: dict[int, set[str]] = {}
        self.ran: list[str] = []
        # The tests that fail unmutated (with their phase), named when the traced run fails.
        self.failed: list[str] = []
        # Whether each code file is the module: every Python call in the test run asks,
        # and realpath's system calls made the traced run many times slower.
        self._is_module: dict[str, bool] = {}

    def _global(self, frame, event, arg):
        filename = frame.f_code.co_filename
        is_module = self._is_module.get(filename)
        if is_module is None:
            is_module = self._is_module[filename] = os.path.realpath(filename) == self.filename
        if is_module:
            self._record(frame)
            return self._local
        return None

    def _local(self, frame, event, arg):
        if event == "line":
            self._record(frame)
        return self._local

    def _record(self, frame) -> None:
        if not frame.f_code.co_flags & inspect.CO_OPTIMIZED:  # the module's or a class's body
            self.import_lines.add(frame.f_lineno)
        elif self.current is not None:
            self.lines.setdefault(frame.f_lineno, set()).add(self.current)
            if self.in_setup:
                self.setup_files.setdefault(frame.f_lineno, set()).add(self.current.split("::")[0])

    def tests_of(self, line: int) -> list[str]:
        """The tests that may depend on ``line`` having run as it does."""
        files = self.setup_files.get(line, set())
        ran_it = {t for t in self.ran if t in self.lines[line] or t.split("::")[0] in files}
        # Those seen running the line first: with -x, a mutant they catch ends sooner.
        return sorted(ran_it) + sorted(self.spawning - ran_it)

    def start(self) -> None:
        import subprocess
        import threading

        popen_init = subprocess.Popen.__init__

        def recording_init(popen, *args, **kwargs):
            if self.current is not None:
                self.spawning.add(self.current)
            popen_init(popen, *args, **kwargs)

        subprocess.Popen.__init__ = recording_init  # this traced child only
        sys.settrace(self._global)
        threading.settrace(self._global)

    def pytest_runtest_logstart(self, nodeid, location):
        self.current = nodeid
        self.ran.append(nodeid)

    def pytest_runtest_logfinish(self, nodeid, location):
        self.current = None

    def pytest_runtest_logreport(self, report):
        if report.failed:
            self.failed.append(report.nodeid if report.when == "call" else f"{report.nodeid} ({report.when})")


def run_tests(tests: list[str], verbose: bool, *, first_failure: bool = True, plugins=()) -> int:
    import pytest

    # The parent imported hypothesis (a pytest plugin) before pytest could rewrite its asserts.
    # -n 0: in this process (the tracer and the plugins see the tests), not in pytest-xdist's workers.
    args = ["-q", "-n", "0", "-p", "no:cacheprovider", "-W", "ignore::pytest.PytestAssertRewriteWarning", *tests]
    if first_failure:
        args.insert(0, "-x")
    if not verbose:
        args.append("--no-header")
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 1)
        os.dup2(devnull, 2)
    return int(pytest.main(args, plugins=list(plugins)))


_children: list[int] = []


def _stop(signum, frame) -> None:
    """On SIGTERM or SIGINT, end the running child's process group too."""
    for pid in _children:
        os.killpg(pid, signal.SIGKILL)
    os._exit(128 + signum)  # not sys.exit: the preloaded libraries' exit handlers can hang


def run_one(name: str, number: int | None, tests: list[str], timeout: float, verbose: bool) -> tuple[str, float]:
    """Fork, put mutant ``number`` (None: the original) in place, run the tests."""
    start = time.monotonic()
    pid = os.fork()
    if pid == 0:  # the child
        os.setpgid(0, 0)
        try:
            if number is not None:
                os.environ["SOFTMAXKIT_MUTANT_MODULE"] = name
                os.environ["SOFTMAXKIT_MUTANT_NUMBER"] = str(number)
                os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(HOOK_DIR), os.environ.get("PYTHONPATH")]))
                install_from_environment()
            code = run_tests(tests, verbose)
        except BaseException:  # noqa: BLE001 - anything is a failure of the run
            import traceback

            traceback.print_exc()
            code = 99
        os._exit(code)
    _children.append(pid)
    deadline = start + timeout
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            break
        if time.monotonic() > deadline:
            os.killpg(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            _children.remove(pid)
            return "timeout", time.monotonic() - start
        time.sleep(0.05)
    _children.remove(pid)
    code = os.waitstatus_to_exitcode(status)
    elapsed = time.monotonic() - start
    if code == 0:
        return "survived", elapsed
    # 1: a test failed; 2: collection failed (the mutant breaks an import that the
    # unmutated module passed); 99: the run itself raised.
    if code in (1, 2, 99):
        return "killed", elapsed
    return f"error {code}", elapsed


def map_lines_to_tests(name: str, tests: list[str]) -> tuple[dict[int, list[str]], float]:
    """Run ``tests`` once, unmutated and traced: which tests run each line of the module."""
    start = time.monotonic()
    result = tempfile.NamedTemporaryFile(suffix=".json", prefix="mutate-lines-", delete=False)
    result.close()
    pid = os.fork()
    if pid == 0:
        os.setpgid(0, 0)
        import pytest

        # The tests run the installed copy (the mutants are put in its place by the hook).
        recorder = LineRecorder(str(installed_file(name)))

        class Phases:
            @pytest.hookimpl(hookwrapper=True)
            def pytest_runtest_setup(self, item):
                recorder.in_setup = True
                yield
                recorder.in_setup = False

        recorder.start()
        code = run_tests(tests, False, first_failure=False, plugins=[recorder, Phases()])
        sys.settrace(None)
        # An import-time line maps to no test list: it runs every test. A line the tracer
        # saw also runs the tests that start a subprocess (it may run there too), and one
        # run by a fixture every test of that file.
        covered = {line: recorder.tests_of(line) for line in recorder.lines if line not in recorder.import_lines}
        pathlib.Path(result.name).write_text(json.dumps({"lines": covered, "failed": recorder.failed}))
        os._exit(code)
    _children.append(pid)
    _, status = os.waitpid(pid, 0)
    _children.remove(pid)
    text = pathlib.Path(result.name).read_text()
    os.unlink(result.name)
    if os.waitstatus_to_exitcode(status) != 0:
        failed = json.loads(text)["failed"] if text else []
        raise SystemExit(
            f"the unmutated tests fail ({' '.join(tests)}), traced: fix them first. Failed: "
            + (", ".join(failed) or "none reported (a collection error, or the run crashed)")
        )
    lines = {int(line): ids for line, ids in json.loads(text)["lines"].items()}
    return lines, time.monotonic() - start


def cached_map(name: str, tests: list[str]) -> tuple[dict[int, list[str]], float, bool]:
    """``map_lines_to_tests``, reused while the sources, the tests and the arguments are the same.

    The traced run is the slowest part of a short run (tens of minutes for the core modules
    on a loaded machine): runs cut into ``--lines`` or ``--only`` chunks share one. Any change
    to a file under ``src/`` or ``tests/`` (or to this tool) makes a new one.
    """
    digest = hashlib.sha256(json.dumps([name, tests]).encode())
    for path in sorted([*SOURCE.rglob("*.py"), *(ROOT / "tests").rglob("*.py"), pathlib.Path(__file__)]):
        digest.update(str(path.relative_to(ROOT)).encode())
        digest.update(path.read_bytes())
    cache = pathlib.Path(tempfile.gettempdir()) / "softmaxkit-mutate" / f"{digest.hexdigest()[:32]}.json"
    if cache.is_file():
        saved = json.loads(cache.read_text())
        return {int(line): ids for line, ids in saved["lines"].items()}, saved["seconds"], True
    lines, seconds = map_lines_to_tests(name, tests)
    cache.parent.mkdir(exist_ok=True)
    cache.write_text(json.dumps({"lines": lines, "seconds": seconds}))
    return lines, seconds, False


def parse_lines(text: str | None) -> range | None:
    if not text:
        return None
    low, _, high = text.partition("-")
    return range(int(low), int(high or low) + 1)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("module", help="dotted module name, e.g. softmaxkit.losses")
    parser.add_argument("--tests", nargs="+", help="test files or node ids (default: TESTS[module])")
    parser.add_argument("-k", dest="keyword", help="pytest -k expression to narrow the tests further")
    parser.add_argument("--lines", help="only mutants on these lines, e.g. 100-180")
    parser.add_argument("--only", help="comma-separated mutant numbers")
    parser.add_argument("--list", action="store_true", help="list the mutants and stop")
    parser.add_argument("-v", "--verbose", action="store_true", help="show pytest's output")
    parser.add_argument(
        "--max-minutes", type=float, help="start no mutant after this long; the summary says how many ran"
    )
    args = parser.parse_args(argv)

    mutants = mutants_of(args.module)
    snapshot = tempfile.NamedTemporaryFile("w", suffix=".py", prefix="mutate-", delete=False)
    snapshot.write(module_file(args.module).read_text())
    snapshot.close()
    os.environ["SOFTMAXKIT_MUTANT_SNAPSHOT"] = snapshot.name
    lines = parse_lines(args.lines)
    if lines is not None:
        mutants = [m for m in mutants if m.line in lines]
    if args.only:
        wanted = {int(n) for n in args.only.split(",")}
        mutants = [m for m in mutants if m.number in wanted]
    if args.list:
        for mutant in mutants:
            print(mutant)
        print(f"{len(mutants)} mutants")
        return 0

    tests = args.tests or TESTS.get(args.module) or [f"tests/test_{args.module.rsplit('.', 1)[-1]}.py"]
    tests = [t for t in tests if pathlib.Path(t.split("::")[0]).exists()]
    if args.keyword:
        tests = [*tests, "-k", args.keyword]
    os.chdir(ROOT)
    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    os.environ.setdefault("HYPOTHESIS_PROFILE", "ci")
    for library in PRELOAD:
        try:
            importlib.import_module(library)
        except ImportError:
            pass

    # Each mutant runs only the tests that run its line (all of them for a line that
    # runs at import, or only in a subprocess): a mutant cannot change what a test
    # that never reaches its line computes.
    installed_file(args.module)  # the tests must run this source: else the lines are another file's
    covering, baseline, reused = cached_map(args.module, tests)
    timeout = 3 * baseline + 60
    print(
        f"{args.module}: {len(mutants)} mutants; tests {' '.join(tests)} "
        f"({baseline:.0f} s traced{', the mapping reused' if reused else ''})",
        flush=True,
    )
    survivors, counts = [], {}
    stop_at = None if args.max_minutes is None else time.monotonic() + 60 * args.max_minutes
    run = 0
    for mutant in mutants:
        if stop_at is not None and time.monotonic() > stop_at:
            break
        run += 1
        selected = covering.get(mutant.line) or tests
        outcome, elapsed = run_one(args.module, mutant.number, selected, timeout, args.verbose)
        if outcome == "error 4" and selected is not tests:
            # A usage error: a node id of the unmutated run is not collected under
            # the mutant (a parametrisation that reads the mutated module). Run the
            # whole files instead of failing the mutant for a missing test name.
            outcome, elapsed = run_one(args.module, mutant.number, tests, timeout, args.verbose)
        counts[outcome] = counts.get(outcome, 0) + 1
        if outcome == "survived":
            survivors.append(mutant)
            print(f"SURVIVED {mutant}", flush=True)
        elif args.verbose or outcome != "killed":
            print(f"{outcome} {mutant} ({elapsed:.1f} s)", flush=True)
    summary = ", ".join(f"{count} {outcome}" for outcome, count in sorted(counts.items()))
    os.unlink(snapshot.name)
    ran = f"{len(mutants)} mutants" if run == len(mutants) else f"{run} of {len(mutants)} mutants (--max-minutes)"
    print(f"{args.module}: {ran}: {summary}")
    for mutant in survivors:
        print(f"  survivor {mutant}")
    return 1 if survivors else 0


if __name__ == "__main__":
    sys.exit(main())
