"""Reading arrays from files or stdin and writing them back, for the command line.

Formats follow the file suffix: ``.npy``, ``.npz``, ``.csv``, ``.tsv``, ``.txt``
(whitespace-separated), and ``-`` for whitespace-separated numbers on stdin.
Text files hold one row per line, so they always read as 2-D arrays.

Nothing here unpickles (``allow_pickle=False``), and outputs are written to a
temporary file in the target folder and renamed into place, so a failure never
leaves a half-written file behind.
"""

from __future__ import annotations

import os
import sys
import tempfile
import zipfile
from pathlib import Path
from typing import Callable

import numpy as np

from ._errors import CLIError

_TEXT_DELIMITERS = {".csv": ",", ".tsv": "\t", ".txt": None}
INPUT_FORMATS = ".npy, .npz, .csv, .tsv, .txt, or - for standard input"
OUTPUT_FORMATS = ".npy, .npz, .csv, .tsv or .txt"


def read_array(source: str, *, key: str | None = None) -> np.ndarray:
    """Read a real numeric array from ``source`` (a path, or ``-`` for stdin)."""
    if key is not None and (source == "-" or not source.lower().endswith(".npz")):
        raise CLIError(f"{source}: --key applies only to .npz files")
    if source == "-":
        array = _parse_text(sys.stdin.read(), None, name="standard input")
    else:
        suffix = Path(source).suffix.lower()
        if suffix not in (".npy", ".npz", *_TEXT_DELIMITERS):
            raise CLIError(f"{source}: unknown input format {suffix!r} (use {INPUT_FORMATS})")
        if not os.path.isfile(source):
            raise CLIError(f"{source}: no such file")
        if suffix == ".npy":
            array = _load_npy(source)
        elif suffix == ".npz":
            array = _load_npz(source, key)
        else:
            try:
                text = Path(source).read_text()
            except (OSError, UnicodeDecodeError) as exc:
                raise CLIError(f"{source}: cannot read as text ({_reason(exc)})") from None
            array = _parse_text(text, _TEXT_DELIMITERS[suffix], name=source)
    return _check_real(array, source)


def write_array(array: np.ndarray, destination: str | None, *, npz_key: str) -> None:
    """Write ``array`` to ``destination`` (format by suffix), or as text to stdout."""
    if destination is None:
        sys.stdout.write(format_text(array, " "))
        return
    suffix = Path(destination).suffix.lower()
    if suffix == ".npy":
        write_atomically(destination, lambda f: np.save(f, array, allow_pickle=False))
    elif suffix == ".npz":
        write_atomically(destination, lambda f: np.savez(f, **{npz_key: array}))
    elif suffix in _TEXT_DELIMITERS:
        text = format_text(array, _TEXT_DELIMITERS[suffix] or " ")
        write_atomically(destination, lambda f: f.write(text.encode()))
    else:
        raise CLIError(f"{destination}: unknown output format {suffix!r} (use {OUTPUT_FORMATS})")


def format_text(array: np.ndarray, delimiter: str) -> str:
    """One row per line, each number in its shortest round-trip form."""
    if array.ndim > 2:
        raise CLIError(
            f"cannot write a {array.ndim}-D array as text; write it to a .npy or .npz file"
        )
    rows = np.atleast_2d(array) if array.ndim else array.reshape(1, 1)
    return "".join(delimiter.join(str(v) for v in row) + "\n" for row in rows)


def _load_npy(path: str) -> np.ndarray:
    # read_array checks the .npy magic itself; np.load would take any other
    # file for a pickle and report "pickled data", which misleads here.
    try:
        with open(path, "rb") as handle:
            return np.lib.format.read_array(handle, allow_pickle=False)
    except ValueError as exc:
        if "allow_pickle" in str(exc):
            raise CLIError(f"{path}: holds Python objects, which softmaxkit does not load") from None
        raise CLIError(f"{path}: not a valid .npy file ({_reason(exc)})") from None
    except (OSError, EOFError) as exc:
        raise CLIError(f"{path}: not a valid .npy file ({_reason(exc)})") from None


def _load_npz(path: str, key: str | None) -> np.ndarray:
    if not zipfile.is_zipfile(path):
        raise CLIError(f"{path}: not a valid .npz file (not a zip archive)")
    try:
        with np.load(path, allow_pickle=False) as archive:
            names = list(archive.files)
            if key is None:
                if len(names) != 1:
                    listed = ", ".join(names) or "none"
                    raise CLIError(
                        f"{path}: holds {len(names)} arrays ({listed}); choose one with --key"
                    )
                key = names[0]
            if key not in names:
                raise CLIError(f"{path}: no array named {key!r} (it holds {', '.join(names)})")
            return archive[key]
    except ValueError as exc:
        if "allow_pickle" in str(exc):
            raise CLIError(f"{path}: holds Python objects, which softmaxkit does not load") from None
        raise CLIError(f"{path}: not a valid .npz file ({_reason(exc)})") from None
    except (OSError, EOFError, zipfile.BadZipFile) as exc:
        raise CLIError(f"{path}: not a valid .npz file ({_reason(exc)})") from None


def _parse_text(text: str, delimiter: str | None, *, name: str) -> np.ndarray:
    rows = []
    for line_number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        fields = line.split(delimiter)
        try:
            rows.append([float(field) for field in fields])
        except ValueError:
            bad = next(f for f in fields if not _is_number(f))
            raise CLIError(f"{name}: line {line_number}: {bad.strip()!r} is not a number") from None
        if len(rows[-1]) != len(rows[0]):
            raise CLIError(
                f"{name}: line {line_number} has {len(rows[-1])} numbers, "
                f"the first row has {len(rows[0])}"
            )
    if not rows:
        raise CLIError(f"{name}: no numbers found")
    return np.array(rows, dtype=np.float64)


def _is_number(field: str) -> bool:
    try:
        float(field)
    except ValueError:
        return False
    return True


def _check_real(array: np.ndarray, source: str) -> np.ndarray:
    if np.iscomplexobj(array):
        raise CLIError(f"{source}: holds complex numbers; softmax needs real logits")
    if not (np.issubdtype(array.dtype, np.number) or array.dtype == np.bool_):
        raise CLIError(f"{source}: holds {array.dtype} data, not numbers")
    return array


def write_atomically(destination: str, write: Callable) -> None:
    folder = os.path.dirname(os.path.abspath(destination))
    if not os.path.isdir(folder):
        raise CLIError(f"{destination}: the folder {folder} does not exist")
    try:
        handle = tempfile.NamedTemporaryFile(
            dir=folder, prefix=".softmaxkit-", suffix=".partial", delete=False
        )
    except OSError as exc:
        raise CLIError(f"{destination}: cannot write ({_reason(exc)})") from None
    try:
        with handle:
            write(handle)
        # NamedTemporaryFile makes the file private (0600); an output file gets the
        # permissions any new file gets (0666 less the umask).
        os.chmod(handle.name, 0o666 & ~_umask())
        os.replace(handle.name, destination)
    except BaseException as exc:
        os.unlink(handle.name)
        if isinstance(exc, OSError):
            raise CLIError(f"{destination}: cannot write ({_reason(exc)})") from None
        raise


def _umask() -> int:
    mask = os.umask(0)  # reading the umask means setting it; put it straight back
    os.umask(mask)
    return mask


def _reason(exc: BaseException) -> str:
    return getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
