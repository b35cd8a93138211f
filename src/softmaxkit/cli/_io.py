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

Large arrays go through in blocks of rows (:func:`row_blocks`,
:func:`write_rows`): a ``.npy`` file or ``.npz`` member in C order is read a
block at a time from its file, and an output is written block by block into
the same unnamed file, so that a command can work on a file larger than it
could hold twice and show its progress.
"""

from __future__ import annotations

import contextlib
import errno
import io
import math
import os
import sys
import tempfile
import zipfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO, Any, Callable, NamedTuple, cast

import numpy as np

from .. import _progress
from ._errors import CLIError

_TEXT_DELIMITERS = {".csv": ",", ".tsv": "\t", ".txt": None}
INPUT_FORMATS = ".npy, .npz, .csv, .tsv, .txt, or - for standard input"
OUTPUT_FORMATS = ".npy, .npz, .csv, .tsv or .txt"


#: Rows are read, computed and written in blocks of about this many bytes.
BLOCK_BYTES = 16 << 20


def read_array(source: str, *, key: str | None = None) -> np.ndarray:
    """Read a real numeric array from ``source`` (a path, or ``-`` for stdin)."""
    suffix = _input_suffix(source, key)
    if source == "-":
        array = _parse_text(sys.stdin.read(), None, name="standard input")
    else:
        if suffix in (".npy", ".npz"):
            with row_blocks(source, key=key) as rows:
                return rows.whole()
        else:
            try:
                text = Path(source).read_text()
            except (OSError, UnicodeDecodeError) as exc:
                raise CLIError(f"{source}: cannot read as text ({_reason(exc)})") from None
            array = _parse_text(text, _TEXT_DELIMITERS[suffix], name=source)
    return _check_real(array, source)


def _input_suffix(source: str, key: str | None) -> str:
    """The format of an input, after the checks every input gets before it is opened."""
    if key is not None and (source == "-" or not source.lower().endswith(".npz")):
        raise CLIError(f"{source}: --key applies only to .npz files")
    if source == "-":
        return ""
    suffix = Path(source).suffix.lower()
    if suffix not in (".npy", ".npz", *_TEXT_DELIMITERS):
        raise CLIError(f"{source}: unknown input format {suffix!r} (use {INPUT_FORMATS})")
    if not os.path.isfile(source):
        raise CLIError(f"{source}: no such file")
    return suffix


class RowBlocks:
    """An input array, handed out as consecutive blocks of rows (along axis 0).

    ``shape`` and ``dtype`` are known before any data is read; :meth:`blocks`
    reads the rows as they are asked for (from the file, for a streamed
    ``.npy``), :meth:`whole` all of them into one array.
    """

    def __init__(self, shape: tuple[int, ...], dtype: np.dtype, fill: Callable[[np.ndarray], None],
                 name: str, *, array: np.ndarray | None = None):  # fmt: skip
        self.shape, self.dtype, self.name = shape, dtype, name
        self._fill = fill  # fill(rows): reads the next len(rows) rows into them
        self._array = array  # the whole array, when it is in memory already

    @classmethod
    def of(cls, array: np.ndarray, name: str) -> RowBlocks:
        """The blocks of an array already in memory."""
        taken = 0

        def fill(rows: np.ndarray) -> None:
            nonlocal taken
            rows[...] = array[taken : taken + len(rows)]
            taken += len(rows)

        return cls(array.shape, array.dtype, fill, name, array=array)

    def rows_per_block(self, block_bytes: int | None = None) -> int:
        """How many rows make a block of about ``block_bytes`` (default :data:`BLOCK_BYTES`)."""
        row_bytes = self.dtype.itemsize * math.prod(self.shape[1:])
        return max(1, (BLOCK_BYTES if block_bytes is None else block_bytes) // max(row_bytes, 1))

    def blocks(self, rows_per_block: int) -> Iterator[np.ndarray]:
        """The rows, ``rows_per_block`` at a time (at least one block, empty for no rows)."""
        n_rows = self.shape[0]
        for start in range(0, max(n_rows, 1), rows_per_block):
            block = np.empty((min(rows_per_block, n_rows - start), *self.shape[1:]), self.dtype)
            self._fill(block)
            yield block

    def whole(self) -> np.ndarray:
        """Every row, in one array (read a block at a time, with a bar on a terminal)."""
        if self._array is not None:
            return self._array
        _check_fits_memory(self.shape, self.dtype, self.name)
        array = np.empty(self.shape, self.dtype)
        step = self.rows_per_block()
        with _progress.progress(self.shape[0], f"reading {self.name}", unit="row") as advance:
            for start in range(0, self.shape[0], step):
                self._fill(array[start : start + step])
                advance(len(array[start : start + step]))
        return array


@contextlib.contextmanager
def row_blocks(source: str, *, key: str | None = None) -> Iterator[RowBlocks]:
    """The array of ``source`` as :class:`RowBlocks`, checked as :func:`read_array` checks it.

    A C-ordered ``.npy`` file or ``.npz`` member of at least one dimension is
    streamed from its file while the block is open (so :meth:`RowBlocks.blocks`
    may go through a file larger than the quarter of the memory an input read
    whole may take); any other input is read whole first.
    """
    suffix = _input_suffix(source, key)
    if suffix not in (".npy", ".npz"):
        yield RowBlocks.of(read_array(source, key=key), source)
        return
    with contextlib.ExitStack() as stack:
        stream, name, kind = _open_npy_stream(stack, source, suffix, key)
        with _reading_errors(source, kind):
            header = _checked_header(stream, name)
        _check_real(np.empty(0, header.dtype), source)  # pragma: no mutate
        if header.fortran or not header.shape:
            with _reading_errors(source, kind):
                array = _array_from(stream, header, name)
            yield RowBlocks.of(array, name)
            return

        def fill(rows: np.ndarray) -> None:
            with _reading_errors(source, kind):
                _read_into(stream, rows.reshape(-1).view(np.uint8), name)

        yield RowBlocks(header.shape, header.dtype, fill, name)


def _open_npy_stream(stack: contextlib.ExitStack, path: str, suffix: str, key: str | None
                     ) -> tuple[_Counting, str, str]:  # fmt: skip
    """The stream of a .npy file or of the chosen .npz member, its name in messages, and the kind."""
    if suffix == ".npy":
        with _reading_errors(path, ".npy"):
            handle = stack.enter_context(open(path, "rb"))
            return _Counting(handle, os.fstat(handle.fileno()).st_size), path, ".npy"
    with _reading_errors(path, ".npz"):
        archive = stack.enter_context(_open_npz(path))
        info, name = _npz_member(archive, path, key)
        member = stack.enter_context(archive.open(info))
        # The declared size bounds what is decompressed: zipfile stops
        # there, so a forged header (or a zip bomb) cannot allocate more.
        # (A ZipExtFile: a BufferedIOBase, as open(path, "rb") gives.)
        return _Counting(cast(io.BufferedIOBase, member), info.file_size), name, ".npz"


@contextlib.contextmanager
def _reading_errors(path: str, kind: str) -> Iterator[None]:
    """Errors of reading a .npy or .npz input as one-line CLIErrors."""
    try:
        yield
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as exc:
        raise CLIError(f"{path}: not a valid {kind} file ({_reason(exc)})") from None


def write_rows(destination: str | None, n_rows: int, blocks: Iterable[np.ndarray], *,
               npz_key: str) -> None:  # fmt: skip
    """Write the array whose rows ``blocks`` hand out, ``n_rows`` in all, as
    :func:`write_array` writes it whole (the same bytes for ``.npy`` and text).

    The first block is computed before anything is written, and a file is
    written atomically, so an error in any block leaves no file behind.
    """
    blocks = iter(blocks)
    first = next(blocks)
    shape = (n_rows, *first.shape[1:])

    def every_block() -> Iterator[np.ndarray]:
        yield first
        yield from blocks

    if destination is None:
        for block in every_block():
            sys.stdout.write(format_text(block, " "))
        return
    suffix = Path(destination).suffix.lower()
    if suffix == ".npy":
        write_atomically(destination, lambda f: _write_npy(f, shape, first.dtype, every_block()))
    elif suffix == ".npz":
        write_atomically(destination, lambda f: _write_npz(f, npz_key, shape, first.dtype, every_block()))
    elif suffix in _TEXT_DELIMITERS:
        delimiter = _TEXT_DELIMITERS[suffix] or " "

        def write_text(handle: IO[bytes]) -> None:
            for block in every_block():
                handle.write(format_text(block, delimiter).encode())

        write_atomically(destination, write_text)
    else:
        raise CLIError(f"{destination}: unknown output format {suffix!r} (use {OUTPUT_FORMATS})")


def _write_npy(handle: IO[bytes], shape: tuple[int, ...], dtype: np.dtype,
               blocks: Iterable[np.ndarray]) -> None:  # fmt: skip
    """A .npy file of ``shape`` and ``dtype`` from blocks of rows, byte for byte as ``np.save``."""
    header = {"descr": np.lib.format.dtype_to_descr(dtype), "fortran_order": False, "shape": shape}
    try:
        np.lib.format.write_array_header_1_0(handle, header)
    except ValueError:  # more than version 1.0's 65535 bytes of header
        np.lib.format.write_array_header_2_0(handle, header)
    written = 0
    for block in blocks:
        handle.write(np.ascontiguousarray(block, dtype=dtype).reshape(-1).view(np.uint8).data)
        written += len(block)
    assert written == shape[0], (written, shape)


def _write_npz(handle: IO[bytes], key: str, shape: tuple[int, ...], dtype: np.dtype,
               blocks: Iterable[np.ndarray]) -> None:  # fmt: skip
    """A .npz archive holding one array, as ``np.savez`` writes it (uncompressed)."""
    with zipfile.ZipFile(handle, mode="w", compression=zipfile.ZIP_STORED, allowZip64=True) as archive:
        with archive.open(f"{key}.npy", mode="w", force_zip64=True) as member:
            _write_npy(member, shape, dtype, blocks)


def write_array(array: np.ndarray, destination: str | None, *, npz_key: str) -> None:
    """Write ``array`` to ``destination`` (format by suffix), or as text to stdout."""
    if destination is None:
        sys.stdout.write(format_text(array, " "))
        return
    suffix = Path(destination).suffix.lower()
    if suffix == ".npy":
        write_atomically(destination, lambda f: np.save(f, array, allow_pickle=False))  # pragma: no mutate
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


class _Header(NamedTuple):
    """What a .npy header says: the array's shape, order and dtype, and its size in bytes."""

    shape: tuple[int, ...]
    fortran: bool
    dtype: np.dtype
    nbytes: int


def _checked_header(handle: _Counting, name: str) -> _Header:
    """Read a .npy header and check it against the bytes that follow it."""
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
    return _Header(shape, fortran, dtype, claimed)


def _check_fits_memory(shape: tuple[int, ...], dtype: np.dtype, name: str) -> None:
    """Refuse an array that would take more than a quarter of the memory to hold whole."""
    nbytes, limit = dtype.itemsize * math.prod(shape), max_input_bytes()
    if nbytes > limit:
        raise CLIError(
            f"{name}: a {shape} {dtype} array needs {nbytes} bytes, more than the "
            f"{limit} this machine allows an input (a quarter of its memory)"
        )


def _read_into(handle: _Counting, buffer: np.ndarray, name: str) -> None:
    """Fill the bytes of ``buffer`` (a uint8 array) from ``handle``."""
    view, filled = buffer.data, 0
    while filled < len(buffer):
        n = handle.readinto(view[filled:])
        if not n:
            raise CLIError(f"{name}: not a valid .npy file (the data ends early)")
        filled += n


def _array_from(handle: _Counting, header: _Header, name: str) -> np.ndarray:
    """The whole array whose checked ``header`` has just been read."""
    _check_fits_memory(header.shape, header.dtype, name)
    data = np.empty(header.nbytes, np.uint8)  # writable, read in place: the array's only copy
    _read_into(handle, data, name)
    array = data.view(header.dtype) if header.nbytes else np.empty(0, header.dtype)
    if header.fortran:  # pragma: no mutate
        return array.reshape(header.shape[::-1]).transpose()
    return array.reshape(header.shape)


class _Counting:
    """A binary stream that knows how many bytes remain (for the header check)."""

    def __init__(self, handle: io.BufferedIOBase, size: int):
        self._handle, self.remaining = handle, size

    def read(self, n: int = -1, /) -> bytes:  # the default: NumPy reads through the file protocol  # pragma: no mutate
        data = self._handle.read(n)
        self.remaining -= len(data)
        return data

    def readinto(self, buffer: memoryview) -> int:
        n = self._handle.readinto(buffer)
        self.remaining -= n  # pragma: no mutate
        return n


def _open_npz(path: str) -> zipfile.ZipFile:
    if not zipfile.is_zipfile(path):
        raise CLIError(f"{path}: not a valid .npz file (not a zip archive)")
    return zipfile.ZipFile(path)


def _npz_member(archive: zipfile.ZipFile, path: str, key: str | None) -> tuple[zipfile.ZipInfo, str]:
    """The member holding the array ``key`` (the only one when None), and its name in messages."""
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
            raise CLIError(f"{path}: holds {len(names)} arrays ({listed}); choose one with --key")
        key = names[0]
    if key not in names:
        raise CLIError(f"{path}: no array named {key!r} (it holds {', '.join(names)})")
    return members[key], f"{path}[{key}]"


def _parse_text(text: str, delimiter: str | None, *, name: str) -> np.ndarray:
    rows = []
    for line_number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        fields = line.split(delimiter)
        try:
            rows.append([float(field) for field in fields])
        except ValueError:
            bad = next(f for f in fields if not is_number(f))
            raise CLIError(f"{name}: line {line_number}: {bad.strip()!r} is not a number") from None
        if len(rows[-1]) != len(rows[0]):
            raise CLIError(
                f"{name}: line {line_number} has {len(rows[-1])} numbers, "
                f"the first row has {len(rows[0])}"
            )
    if not rows:
        raise CLIError(f"{name}: no numbers found")
    return np.array(rows, dtype=np.float64)


def is_number(field: str) -> bool:
    """Whether ``float`` reads ``field``: the numbers of the text formats and the CLI's arguments."""
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
    # Reading the umask means setting it; put it straight back.
    mask = os.umask(0)  # pragma: no mutate
    os.umask(mask)
    return mask


def _reason(exc: BaseException) -> str:
    """Why ``exc`` happened, in one line (numpy's header errors go on for several)."""
    reason = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
    return reason.splitlines()[0]
