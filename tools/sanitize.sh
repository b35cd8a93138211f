#!/usr/bin/env bash
# Build the compiled kernel with AddressSanitizer + UndefinedBehaviorSanitizer
# and run the kernel's tests against that build; any report fails the run.
#
# Usage: tools/sanitize.sh [pytest arguments]   (default: the kernel tests)
# Needs gcc (or clang) with the sanitizer runtimes and an environment that has
# the test dependencies and meson-python (e.g. the one .ci/run makes). The
# sanitized build goes into build/sanitize-site, not into the environment.
#
# Python's own allocations are not leak-checked (detect_leaks=0: the
# interpreter keeps memory until exit by design); every other ASan and UBSan
# check is on and fatal.
set -euo pipefail
cd "$(dirname "$0")/.."

site=build/sanitize-site
rm -rf "$site"
python -m pip install --quiet meson-python meson ninja  # for --no-build-isolation
python -m pip install --quiet --no-build-isolation --no-deps --target "$site" \
    -Cbuild-dir=build/sanitize \
    -Csetup-args=-Db_sanitize=address,undefined \
    -Csetup-args=-Db_lundef=false \
    -Csetup-args=-Dc_args=-fno-sanitize-recover=all \
    .

asan_runtime=$(${CC:-gcc} -print-file-name=libasan.so)
if [ "$#" -eq 0 ]; then
    set -- tests/test_kernel.py tests/test_kernel_accuracy.py tests/test_kernel_hypothesis.py \
        tests/test_kernel_layouts.py \
        tests/test_core_edge_cases.py tests/test_core_values.py \
        -k "not jax and not numpy_spec and not array_api_strict"
    # jaxlib aborts under ASan; and the kernel only sees NumPy arrays (CPU torch
    # tensors as NumPy views): the numpy_spec (kernel off) and array-api-strict
    # legs of the core tests never reach the compiled code.
fi
LD_PRELOAD="$asan_runtime" \
ASAN_OPTIONS=detect_leaks=0:abort_on_error=1 \
UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
PYTHONPATH="$PWD/$site" \
python -m pytest -q -p no:cacheprovider "$@"
