"""Reading arrays from files or stdin and writing them back, for the command line.

Formats follow the file suffix: ``.npy``, ``.npz``, ``.csv``, ``.tsv``, ``.txt``
(whitespace-separated), and ``-`` for whitespace-separated numbers on stdin.
Text files hold one row per line, so they always read as 2-D arrays.

Nothing here unpickles (``allow_pickle=False``). An input is checked before it
is read: a ``.npy`` header (also inside a ``.npz``) must not claim more data
than its file holds, and no input may need more than a quarter of the
machine's memory (``max_input_bytes``), so a forged header or a zip bomb is
refused rather than allocated.

Outputs are written to an unnamed file in the target folder (Linux's
``O_TMPFILE``) that is given its name only when complete, so a failure, a
signal or even ``kill -9`` never leaves a half-written file behind; elsewhere a
hidden temporary file is renamed into place and removed on any error or
SIGTERM.
"""

from __future__ import annotations

import errno
import io
import os
import sys
import tempfile
import zipfile
from pathlib import Path
from typing import IO, Any, Callable, cast

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
        named: dict[str, Any] = {npz_key: array}
        write_atomically(destination, lambda f: np.savez(f, **named))
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


def max_input_bytes() -> int:
    """The largest array an input may hold: a quarter of the physical memory."""
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") // 4
    except (ValueError, OSError, AttributeError):  # no sysconf (Windows): 4 GiB
        return 4 << 30


def _read_checked_npy(handle: _Counting, name: str) -> np.ndarray:
    """Read a .npy stream whose header is checked against the bytes that follow it."""
    version = np.lib.format.read_magic(handle)
    if version == (1, 0):
        shape, fortran, dtype = np.lib.format.read_array_header_1_0(handle)
    else:
        shape, fortran, dtype = np.lib.format.read_array_header_2_0(handle)
    if dtype.hasobject:
        raise CLIError(f"{name}: holds Python objects, which softmaxkit does not load")
    claimed = dtype.itemsize
    for length in shape:
        claimed *= length
    if claimed > handle.remaining:
        raise CLIError(
            f"{name}: its header claims a {shape} {dtype} array ({claimed} bytes) "
            f"but only {handle.remaining} bytes follow it"
        )
    limit = max_input_bytes()
    if claimed > limit:
        raise CLIError(
            f"{name}: a {shape} {dtype} array needs {claimed} bytes, more than the "
            f"{limit} this machine allows an input (a quarter of its memory)"
        )
    data = bytearray(claimed)  # writable, read in place: the array's only copy
    view, filled = memoryview(data), 0
    while filled < claimed:
        n = handle.readinto(view[filled:])
        if not n:
            raise CLIError(f"{name}: not a valid .npy file (the data ends early)")
        filled += n
    array = np.frombuffer(data, dtype=dtype)
    if fortran:
        return array.reshape(shape[::-1]).transpose()
    return array.reshape(shape)


def _load_npy(path: str) -> np.ndarray:
    # The .npy magic is checked here; np.load would take any other file for
    # a pickle and report "pickled data", which misleads here.
    try:
        with open(path, "rb") as handle:
            size = os.fstat(handle.fileno()).st_size
            return _read_checked_npy(_Counting(handle, size), path)
    except ValueError as exc:
        if "allow_pickle" in str(exc):
            raise CLIError(f"{path}: holds Python objects, which softmaxkit does not load") from None
        raise CLIError(f"{path}: not a valid .npy file ({_reason(exc)})") from None
    except (OSError, EOFError) as exc:
        raise CLIError(f"{path}: not a valid .npy file ({_reason(exc)})") from None


class _Counting:
    """A binary stream that knows how many bytes remain (for the header check)."""

    def __init__(self, handle: io.BufferedIOBase, size: int):
        self._handle, self.remaining = handle, size

    def read(self, n: int = -1) -> bytes:
        data = self._handle.read(n)
        self.remaining -= len(data)
        return data

    def readinto(self, buffer: memoryview) -> int:
        n = self._handle.readinto(buffer)
        self.remaining -= n
        return n


def _load_npz(path: str, key: str | None) -> np.ndarray:
    if not zipfile.is_zipfile(path):
        raise CLIError(f"{path}: not a valid .npz file (not a zip archive)")
    try:
        with zipfile.ZipFile(path) as archive:
            members = {
                info.filename[: -len(".npy")]: info
                for info in archive.infolist()
                if info.filename.endswith(".npy")
            }
            others = [i.filename for i in archive.infolist() if not i.filename.endswith(".npy")]
            if others:
                raise CLIError(f"{path}: holds {others[0]!r}, which is not a .npy array")
            names = list(members)
            if key is None:
                if len(names) != 1:
                    listed = ", ".join(names) or "none"
                    raise CLIError(
                        f"{path}: holds {len(names)} arrays ({listed}); choose one with --key"
                    )
                key = names[0]
            if key not in names:
                raise CLIError(f"{path}: no array named {key!r} (it holds {', '.join(names)})")
            info = members[key]
            # The declared size bounds what is decompressed: zipfile stops
            # there, so a forged header (or a zip bomb) cannot allocate more.
            with archive.open(info) as member:
                # A ZipExtFile: a BufferedIOBase, as open(path, "rb") gives.
                stream = _Counting(cast(io.BufferedIOBase, member), info.file_size)
                return _read_checked_npy(stream, f"{path}[{key}]")
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


def check_destination(destination: str | None) -> None:
    """Refuse an output path that cannot be written, before any work is done or printed."""
    if destination is None:
        return
    folder = os.path.dirname(os.path.abspath(destination))
    if not os.path.isdir(folder):
        raise CLIError(f"{destination}: the folder {folder} does not exist")
    if os.path.isdir(destination):
        raise CLIError(f"{destination}: is a folder, not a file")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise CLIError(f"{destination}: the folder {folder} is not writable")


def write_atomically(destination: str, write: Callable[[IO[bytes]], object]) -> None:
    """Call ``write(handle)`` on a binary file that appears as ``destination`` only when complete."""
    check_destination(destination)
    folder = os.path.dirname(os.path.abspath(destination))
    try:
        fd = _unnamed_file(folder)
        if fd is None:
            _write_via_named_file(destination, folder, write)
            return
        with os.fdopen(fd, "wb") as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
            _link_into_place(handle.fileno(), folder, destination)
    except OSError as exc:
        raise CLIError(f"{destination}: cannot write ({_reason(exc)})") from None


def _unnamed_file(folder: str) -> int | None:
    """An unnamed file in ``folder`` (Linux O_TMPFILE), or None where that is not supported.

    Until it is linked into place it has no name, so nothing is left behind
    by any way of dying, ``kill -9`` included.
    """
    flag = getattr(os, "O_TMPFILE", None)
    if flag is None or not os.path.isdir("/proc/self/fd"):
        return None
    try:
        return os.open(folder, flag | os.O_WRONLY, 0o666 & ~_umask())
    except OSError as exc:
        if exc.errno in (errno.EOPNOTSUPP, errno.EISDIR, errno.EINVAL, errno.ENOENT):
            return None  # a file system without O_TMPFILE support
        raise


def _link_into_place(fd: int, folder: str, destination: str) -> None:
    """Give the unnamed file a hidden name, then rename it over ``destination``.

    ``link`` refuses to replace an existing file, ``rename`` replaces
    atomically; the hidden name exists only between the two calls.
    """
    # os.link calls link(2), which links the /proc symlink itself, unless a
    # directory fd is given: then it is linkat(2) with AT_SYMLINK_FOLLOW,
    # which links the file the descriptor refers to.
    folder_fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        for attempt in range(100):
            hidden = f".softmaxkit-{os.getpid()}-{attempt}.partial"
            try:
                os.link(f"/proc/self/fd/{fd}", hidden, src_dir_fd=folder_fd,
                        dst_dir_fd=folder_fd, follow_symlinks=True)  # fmt: skip
            except FileExistsError:
                continue
            try:
                os.replace(os.path.join(folder, hidden), destination)
            except BaseException:
                os.unlink(os.path.join(folder, hidden))
                raise
            return
    finally:
        os.close(folder_fd)
    raise FileExistsError(errno.EEXIST, "no free temporary name")


def _write_via_named_file(
    destination: str, folder: str, write: Callable[[IO[bytes]], object]
) -> None:
    """The portable way: a hidden temporary file, removed on any error or SIGTERM."""
    handle = tempfile.NamedTemporaryFile(
        dir=folder, prefix=".softmaxkit-", suffix=".partial", delete=False
    )
    try:
        with handle:
            write(handle)
        # NamedTemporaryFile makes the file private (0600); an output file gets the
        # permissions any new file gets (0666 less the umask).
        os.chmod(handle.name, 0o666 & ~_umask())
        os.replace(handle.name, destination)
    except BaseException:
        os.unlink(handle.name)
        raise


def _umask() -> int:
    mask = os.umask(0)  # reading the umask means setting it; put it straight back
    os.umask(mask)
    return mask


def _reason(exc: BaseException) -> str:
    return getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
