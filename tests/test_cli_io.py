"""``softmaxkit.cli._io`` on its own: formats, checks, blocks of rows and atomic writes, in process.

The command-line tests (``test_cli*.py``) run these through the console script; here each
rule is checked on the function that holds it, so that a broken rule fails at once.
"""

from __future__ import annotations

import contextlib
import errno
import io
import os
import struct
import zipfile
from pathlib import Path

import numpy as np
import pytest

from softmaxkit import _progress
from softmaxkit.cli import _io
from softmaxkit.cli._errors import CLIError


def refused(fragment, function, *args, **kwargs):
    with pytest.raises(CLIError) as info:
        function(*args, **kwargs)
    assert fragment in str(info.value)
    assert "\n" not in str(info.value)
    return str(info.value)


def npy_bytes(header: dict, data: bytes, version=(1, 0)) -> bytes:
    handle = io.BytesIO()
    writer = np.lib.format.write_array_header_1_0 if version == (1, 0) else np.lib.format.write_array_header_2_0
    writer(handle, header)
    return handle.getvalue() + data


# ---------------------------------------------------------------- reading


def test_every_input_format_reads_the_same_array(tmp_path, monkeypatch):
    x = np.array([[1.5, -2.0, 3.0], [0.0, 4.0, -5.25]])
    np.save(tmp_path / "x.npy", x)
    np.savez(tmp_path / "x.npz", logits=x)
    (tmp_path / "x.csv").write_text("1.5,-2,3\n\n0,4,-5.25\n")
    (tmp_path / "x.tsv").write_text("1.5\t-2\t3\n0\t4\t-5.25\n")
    (tmp_path / "X.TXT").write_text("  1.5 -2 3\n0   4 -5.25\n")
    for name in ("x.npy", "x.npz", "x.csv", "x.tsv", "X.TXT"):
        np.testing.assert_array_equal(_io.read_array(str(tmp_path / name)), x)
    np.testing.assert_array_equal(_io.read_array(str(tmp_path / "x.npz"), key="logits"), x)
    monkeypatch.setattr("sys.stdin", io.StringIO("1.5 -2 3\n0 4 -5.25\n"))
    np.testing.assert_array_equal(_io.read_array("-"), x)


def test_inputs_refused_before_they_are_opened(tmp_path):
    (tmp_path / "x.npy").write_bytes(b"")
    (tmp_path / "dir.npy").mkdir()
    refused("-: --key applies only to .npz files", _io.read_array, "-", key="a")
    refused("--key applies only to .npz files", _io.read_array, str(tmp_path / "x.npy"), key="a")
    refused("unknown input format '.bin'", _io.read_array, str(tmp_path / "x.bin"))
    refused("no such file", _io.read_array, str(tmp_path / "missing.npy"))
    refused("no such file", _io.read_array, str(tmp_path / "dir.npy"))


def test_npz_members_are_chosen_by_key(tmp_path):
    with open(tmp_path / "one.NPZ", "wb") as handle:  # np.savez would add ".npz"
        np.savez(handle, logits=np.ones(2))
    np.savez(tmp_path / "two.npz", a=np.zeros(1), b=np.ones(3))
    np.savez(tmp_path / "none.npz")
    np.testing.assert_array_equal(_io.read_array(str(tmp_path / "one.NPZ"), key="logits"), np.ones(2))
    np.testing.assert_array_equal(_io.read_array(str(tmp_path / "two.npz"), key="b"), np.ones(3))
    refused("holds 2 arrays (a, b); choose one with --key", _io.read_array, str(tmp_path / "two.npz"))
    refused("holds 0 arrays (none); choose one with --key", _io.read_array, str(tmp_path / "none.npz"))
    refused("no array named 'c' (it holds a, b)", _io.read_array, str(tmp_path / "two.npz"), key="c")
    with zipfile.ZipFile(tmp_path / "mixed.npz", "w") as archive:
        archive.writestr("x.npy", npy_bytes({"descr": "<f8", "fortran_order": False, "shape": (1,)}, bytes(8)))
        archive.writestr("notes.txt", "hello")
    refused("mixed.npz: holds 'notes.txt', which is not a .npy array", _io.read_array, str(tmp_path / "mixed.npz"))
    (tmp_path / "flat.npz").write_bytes(b"not a zip")
    refused("flat.npz: not a valid .npz file (not a zip archive)", _io.read_array, str(tmp_path / "flat.npz"))


def test_text_inputs_name_the_line_and_the_field_that_is_wrong(tmp_path):
    (tmp_path / "x.csv").write_text("1,2\n\n3,oops\n")
    refused("x.csv: line 3: 'oops' is not a number", _io.read_array, str(tmp_path / "x.csv"))
    (tmp_path / "y.csv").write_text("1,2\n3\n")
    refused("y.csv: line 2 has 1 numbers, the first row has 2", _io.read_array, str(tmp_path / "y.csv"))
    (tmp_path / "z.csv").write_text("\n  \n")
    refused("z.csv: no numbers found", _io.read_array, str(tmp_path / "z.csv"))
    assert _io.is_number(" -1e5") and _io.is_number("inf") and not _io.is_number("1,5")


def test_only_real_numbers_are_read(tmp_path):
    np.save(tmp_path / "c.npy", np.ones(2, complex))
    np.save(tmp_path / "s.npy", np.array(["ab"]))
    np.save(tmp_path / "b.npy", np.array([True, False]))
    np.save(tmp_path / "o.npy", np.array([{}], dtype=object), allow_pickle=True)
    refused("c.npy: holds complex numbers", _io.read_array, str(tmp_path / "c.npy"))
    refused("s.npy: holds <U2 data, not numbers", _io.read_array, str(tmp_path / "s.npy"))
    refused("o.npy: holds Python objects, which softmaxkit does not load", _io.read_array, str(tmp_path / "o.npy"))
    np.testing.assert_array_equal(_io.read_array(str(tmp_path / "b.npy")), [True, False])


def test_a_header_of_either_version_with_either_order_or_no_axes(tmp_path):
    x = np.arange(6.0).reshape(2, 3)
    for version in ((1, 0), (2, 0)):
        for order in ("C", "F"):
            path = tmp_path / f"x{version[0]}{order}.npy"
            with open(path, "wb") as handle:
                np.lib.format.write_array(handle, np.asarray(x, order=order), version=version)
            np.testing.assert_array_equal(_io.read_array(str(path)), x)
    np.save(tmp_path / "scalar.npy", np.float32(2.5))
    assert _io.read_array(str(tmp_path / "scalar.npy")).shape == ()
    # A Fortran-ordered empty array: no bytes to read.
    header = {"descr": "<f8", "fortran_order": True, "shape": (0, 3)}
    (tmp_path / "empty.npy").write_bytes(npy_bytes(header, b""))
    assert _io.read_array(str(tmp_path / "empty.npy")).shape == (0, 3)


def test_a_header_longer_than_numpy_reads_safely_is_one_true_line(tmp_path):
    # Was: "holds Python objects", numpy's message about allow_pickle taken for an object array.
    text = "{'descr': '<f8', 'fortran_order': False, 'shape': (2,), }"
    text += " " * (12000 - len(text) - 1) + "\n"
    path = tmp_path / "long.npy"
    path.write_bytes(b"\x93NUMPY\x01\x00" + struct.pack("<H", len(text)) + text.encode() + bytes(16))
    message = refused("long.npy: not a valid .npy file (Header info length", _io.read_array, str(path))
    assert "Python objects" not in message


def test_a_header_is_checked_against_the_bytes_that_follow_it(tmp_path):
    header = {"descr": "<f8", "fortran_order": False, "shape": (2, 3)}
    (tmp_path / "exact.npy").write_bytes(npy_bytes(header, bytes(48)))
    assert _io.read_array(str(tmp_path / "exact.npy")).shape == (2, 3)
    (tmp_path / "short.npy").write_bytes(npy_bytes(header, bytes(47)))
    refused("short.npy: its header claims a (2, 3) float64 array (48 bytes) but only 47 bytes follow it",
            _io.read_array, str(tmp_path / "short.npy"))  # fmt: skip


def test_an_input_may_take_a_quarter_of_the_memory_and_no_more(tmp_path, monkeypatch):
    np.save(tmp_path / "x.npy", np.zeros((4, 2)))  # 64 bytes
    monkeypatch.setattr(_io, "max_input_bytes", lambda: 64)
    assert _io.read_array(str(tmp_path / "x.npy")).shape == (4, 2)
    monkeypatch.setattr(_io, "max_input_bytes", lambda: 63)
    refused("a (4, 2) float64 array needs 64 bytes, more than the 63", _io.read_array, str(tmp_path / "x.npy"))
    monkeypatch.undo()
    assert _io.max_input_bytes() == os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") // 4

    def no_sysconf(name):
        raise ValueError(name)

    monkeypatch.setattr(os, "sysconf", no_sysconf)
    assert _io.max_input_bytes() == 4 << 30


def test_data_that_ends_early_is_an_error_not_a_loop():
    counting = _io._Counting(io.BytesIO(b"abc"), 3)
    refused("x: not a valid .npy file (the data ends early)", _io._read_into, counting, np.empty(5, np.uint8), "x")
    counting = _io._Counting(io.BytesIO(b"abcdef"), 6)
    buffer = np.zeros(4, np.uint8)
    _io._read_into(counting, buffer, "x")
    assert bytes(buffer) == b"abcd" and counting.read(9) == b"ef" and counting.remaining == 0


# ---------------------------------------------------------------- blocks of rows


@pytest.mark.parametrize("suffix", [".npy", ".npz", ".csv"])
def test_blocks_hand_out_every_row_once_in_order(tmp_path, suffix):
    x = np.arange(15.0).reshape(5, 3)
    path = str(tmp_path / f"x{suffix}")
    _io.write_array(x, path, npz_key="x")
    with _io.row_blocks(path) as rows:
        assert rows.shape == (5, 3) and rows.dtype == np.float64
        blocks = list(rows.blocks(2))
    assert [len(b) for b in blocks] == [2, 2, 1]
    np.testing.assert_array_equal(np.concatenate(blocks), x)


def test_blocks_of_one_row_and_of_none(tmp_path):
    for shape, lengths in (((1, 3), [1]), ((0, 3), [0])):
        np.save(tmp_path / "x.npy", np.ones(shape))
        with _io.row_blocks(str(tmp_path / "x.npy")) as rows:
            assert [len(b) for b in rows.blocks(1)] == lengths


def test_a_streamed_input_read_whole_in_small_blocks(tmp_path, monkeypatch):
    x = np.arange(60.0).reshape(10, 2, 3)
    np.save(tmp_path / "x.npy", x)
    monkeypatch.setattr(_io, "BLOCK_BYTES", 100)  # 2 rows of 48 bytes a block
    with _io.row_blocks(str(tmp_path / "x.npy")) as rows:
        assert rows.rows_per_block() == 2
        np.testing.assert_array_equal(rows.whole(), x)
    # Streamed, the file may be larger than an input read whole may be (480 bytes here).
    monkeypatch.setattr(_io, "max_input_bytes", lambda: 100)
    with _io.row_blocks(str(tmp_path / "x.npy")) as rows:
        np.testing.assert_array_equal(np.concatenate(list(rows.blocks(2))), x)
        refused("needs 480 bytes, more than the 100", rows.whole)


def test_reading_whole_moves_the_bar_by_the_rows_of_each_block(tmp_path, monkeypatch):
    np.save(tmp_path / "x.npy", np.arange(54.0).reshape(9, 2, 3))
    monkeypatch.setattr(_io, "BLOCK_BYTES", 100)  # 2 rows of 48 bytes a block
    steps = []

    @contextlib.contextmanager
    def recording(total, description, unit="step"):
        steps.append((total, unit))
        yield steps.append

    monkeypatch.setattr(_progress, "progress", recording)
    with _io.row_blocks(str(tmp_path / "x.npy")) as rows:
        rows.whole()
    assert steps == [(9, "row"), 2, 2, 2, 2, 1]


def test_rows_per_block():
    rows = _io.RowBlocks.of(np.zeros((10, 3, 4)), "x")  # 96 bytes a row
    assert rows.rows_per_block(1000) == 10
    assert rows.rows_per_block(50) == 1
    monkeypatch_free_default = (16 << 20) // 96
    assert rows.rows_per_block() == monkeypatch_free_default
    assert _io.RowBlocks.of(np.zeros((5, 0)), "x").rows_per_block(1000) == 1000
    assert _io.BLOCK_BYTES == 16 << 20


# ---------------------------------------------------------------- writing


@pytest.mark.parametrize("suffix", [".npy", ".npz", ".csv", ".tsv", ".txt"])
def test_rows_written_in_blocks_are_the_whole_arrays_file(tmp_path, suffix):
    x = np.arange(12, dtype=np.float32).reshape(4, 3) / 7
    whole, blocks = str(tmp_path / f"whole{suffix}"), str(tmp_path / f"blocks{suffix}")
    _io.write_array(x, whole, npz_key="p")
    _io.write_rows(blocks, 4, [x[:3], x[3:]], npz_key="p")
    if suffix == ".npz":  # np.savez's layout (a ZIP64 member: it may pass 4 GiB), but the timestamps
        assert os.path.getsize(whole) == os.path.getsize(blocks)
        for path in (whole, blocks):
            with np.load(path) as archive:
                assert list(archive) == ["p"]
                np.testing.assert_array_equal(archive["p"], x)
                assert archive["p"].dtype == np.float32
    else:
        assert Path(whole).read_bytes() == Path(blocks).read_bytes()
    if suffix == ".csv":
        assert Path(whole).read_text().splitlines()[0] == ",".join(str(v) for v in x[0])


def test_text_goes_to_standard_output_one_row_a_line(capsys):
    _io.write_rows(None, 2, [np.array([[1.0, 0.5]]), np.array([[2.0, 3.0]])], npz_key="p")
    _io.write_array(np.array([0.25, 1e-300]), None, npz_key="p")
    _io.write_array(np.array(7.0), None, npz_key="p")
    assert capsys.readouterr().out == "1.0 0.5\n2.0 3.0\n0.25 1e-300\n7.0\n"
    refused("cannot write a 3-D array as text", _io.format_text, np.zeros((1, 1, 1)), " ")


def test_unknown_output_formats_are_refused(tmp_path):
    refused("unknown output format '.bin'", _io.write_array, np.ones(1), str(tmp_path / "x.bin"), npz_key="p")
    refused("unknown output format '.bin'", _io.write_rows, str(tmp_path / "x.bin"), 1, [np.ones((1, 1))],
            npz_key="p")  # fmt: skip
    assert os.listdir(tmp_path) == []


def test_destinations_that_cannot_be_written(tmp_path, monkeypatch):
    _io.check_destination(None)
    refused(f"the folder {tmp_path / 'no'} does not exist", _io.check_destination, str(tmp_path / "no" / "x.npy"))
    refused("is a folder, not a file", _io.check_destination, str(tmp_path))
    _io.check_destination(str(tmp_path / "x.npy"))
    monkeypatch.setattr(os, "access", lambda *args, **kwargs: False)
    refused("is not writable", _io.check_destination, str(tmp_path / "x.npy"))


def written_files(tmp_path):
    return sorted(p.name for p in tmp_path.iterdir())


def test_no_named_file_exists_while_an_output_is_written(tmp_path):
    seen = []

    def write(handle):
        handle.write(b"data")
        seen.append(written_files(tmp_path))

    _io.write_atomically(str(tmp_path / "out.txt"), write)
    assert seen == [[]]
    assert (tmp_path / "out.txt").read_bytes() == b"data"
    mask = os.umask(0o022)
    os.umask(mask)
    assert (tmp_path / "out.txt").stat().st_mode & 0o777 == 0o666 & ~mask


@pytest.mark.parametrize("where", ["no O_TMPFILE", "no /proc", "EOPNOTSUPP"])
def test_the_portable_way_where_there_is_no_unnamed_file(tmp_path, monkeypatch, where):
    if where == "no O_TMPFILE":
        monkeypatch.delattr(os, "O_TMPFILE", raising=False)
    elif where == "no /proc":
        isdir = os.path.isdir
        monkeypatch.setattr(os.path, "isdir", lambda path: path != "/proc/self/fd" and isdir(path))
    else:
        os_open = os.open

        def no_tmpfile(path, flags, *args, **kwargs):
            if flags & getattr(os, "O_TMPFILE", 0) == getattr(os, "O_TMPFILE", -1):
                raise OSError(errno.EOPNOTSUPP, "not supported")
            return os_open(path, flags, *args, **kwargs)

        monkeypatch.setattr(os, "open", no_tmpfile)
    seen = []

    def write(handle):
        handle.write(b"data")
        seen.append(written_files(tmp_path))

    _io.write_atomically(str(tmp_path / "out.txt"), write)
    assert len(seen[0]) == 1 and seen[0][0].startswith(".softmaxkit-") and seen[0][0].endswith(".partial")
    assert written_files(tmp_path) == ["out.txt"]
    assert (tmp_path / "out.txt").read_bytes() == b"data"
    mask = os.umask(0o022)
    os.umask(mask)
    assert (tmp_path / "out.txt").stat().st_mode & 0o777 == 0o666 & ~mask

    def fail(handle):
        handle.write(b"half")
        raise OSError(errno.ENOSPC, "No space left on device")

    refused("out.npy: cannot write (No space left on device)", _io.write_atomically, str(tmp_path / "out.npy"), fail)
    assert written_files(tmp_path) == ["out.txt"]


def test_an_unnamed_file_refused_for_another_reason_is_an_error(tmp_path, monkeypatch):
    os_open = os.open

    def refuse(path, flags, *args, **kwargs):
        if flags & os.O_TMPFILE == os.O_TMPFILE:
            raise OSError(errno.EACCES, "Permission denied")
        return os_open(path, flags, *args, **kwargs)

    monkeypatch.setattr(os, "open", refuse)
    refused("x.npy: cannot write (Permission denied)", _io.write_atomically, str(tmp_path / "x.npy"),
            lambda handle: handle.write(b"data"))  # fmt: skip
    assert written_files(tmp_path) == []


def test_a_failed_write_leaves_nothing_and_an_existing_file_untouched(tmp_path):
    (tmp_path / "out.txt").write_text("keep me")

    def fail(handle):
        handle.write(b"half")
        raise OSError(errno.ENOSPC, "No space left on device")

    refused("cannot write (No space left on device)", _io.write_atomically, str(tmp_path / "out.txt"), fail)
    assert written_files(tmp_path) == ["out.txt"] and (tmp_path / "out.txt").read_text() == "keep me"


def test_hidden_names_all_taken_is_a_one_line_error(tmp_path):
    for attempt in range(100):
        (tmp_path / f".softmaxkit-{os.getpid()}-{attempt}.partial").write_bytes(b"")
    refused("out.txt: cannot write (no free temporary name)", _io.write_atomically, str(tmp_path / "out.txt"),
            lambda handle: handle.write(b"data"))  # fmt: skip
    assert not (tmp_path / "out.txt").exists()


def test_reasons_are_one_line():
    assert _io._reason(OSError(errno.ENOSPC, "No space left on device")) == "No space left on device"
    assert _io._reason(ValueError("bad\nsecond line")) == "bad"
    assert _io._reason(EOFError()) == "EOFError"
    assert _io._reason(zipfile.BadZipFile("File is not a zip file")) == "File is not a zip file"
