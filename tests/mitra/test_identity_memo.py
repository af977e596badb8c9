"""A model file's identity is remembered by its status, and never trusted past a change.

The memo spares hashing the model on every first open; these tests hold it to the rules of
``wlearn_mitra.graphs._identity``: remembered only for settled files, forgotten when the file
or an external data file is rewritten (even with its size and modification time put back),
and a damaged memo is only a cache.
"""

from __future__ import annotations

import hashlib
import os
import shutil

import pytest

from wlearn_mitra.graphs import _identity
from wlearn_mitra.graphs._identity import model_buffer, model_identity


@pytest.fixture(autouse=True)
def _settled_at_once(monkeypatch):
    """Files count as settled as soon as they are written (the rule is tested apart)."""
    monkeypatch.setattr(_identity, "SETTLED_S", 0.0)


@pytest.fixture
def hashed(monkeypatch):
    """The list of files hashed by model_identity (one entry per hash of a model's bytes)."""
    calls: list = []
    real = hashlib.sha256

    def counting(data=b"", *args, **kwargs):
        if isinstance(data, memoryview) and len(data) > 1000:
            calls.append(len(data))
        return real(data, *args, **kwargs)

    monkeypatch.setattr(_identity.hashlib, "sha256", counting)
    return calls


def identity(path) -> str:
    with model_buffer(path) as view:
        return model_identity(path, view)


def test_a_settled_file_is_hashed_once(tmp_path, fixtures_dir, hashed):
    path = tmp_path / "m.onnx"
    shutil.copyfile(fixtures_dir / "onnx" / "tiny-mitra-classifier.onnx", path)
    expected = hashlib.sha256(path.read_bytes()).hexdigest()
    assert identity(path) == expected and len(hashed) == 1
    assert identity(path) == expected and len(hashed) == 1  # remembered


def test_a_rewritten_file_is_hashed_again_even_with_its_times_put_back(tmp_path, fixtures_dir):
    path = tmp_path / "m.onnx"
    shutil.copyfile(fixtures_dir / "onnx" / "tiny-mitra-classifier.onnx", path)
    first = identity(path)
    info = os.stat(path)
    data = bytearray(path.read_bytes())
    data[-1] ^= 0xFF  # same size, other bytes
    path.write_bytes(bytes(data))
    os.utime(path, ns=(info.st_atime_ns, info.st_mtime_ns))  # modification time put back
    assert identity(path) == hashlib.sha256(bytes(data)).hexdigest() != first


def test_a_file_changed_just_before_hashing_is_not_remembered(tmp_path, fixtures_dir,
                                                             monkeypatch, hashed):
    monkeypatch.setattr(_identity, "SETTLED_S", 3600.0)
    path = tmp_path / "m.onnx"
    shutil.copyfile(fixtures_dir / "onnx" / "tiny-mitra-classifier.onnx", path)
    identity(path)
    identity(path)
    assert len(hashed) == 2


def test_a_damaged_memo_is_only_a_cache(tmp_path, fixtures_dir, hashed):
    path = tmp_path / "m.onnx"
    shutil.copyfile(fixtures_dir / "onnx" / "tiny-mitra-classifier.onnx", path)
    expected = identity(path)
    memo = _identity._memo(path, _identity._status(path))
    assert memo.is_file()
    for damage in ('{"identity": "not hex", "external": []}', "{", '["a"]',
                   '{"identity": "' + "0" * 64 + '", "external": [["x", 1]]}'):
        memo.write_text(damage)
        assert identity(path) == expected
    folder = memo.parent
    aside = folder.with_name("identity-aside")
    folder.rename(aside)
    folder.write_text("a file where the memo folder should be")  # memos cannot be written
    try:
        before = len(hashed)
        assert identity(path) == expected
        assert identity(path) == expected
        assert len(hashed) == before + 2  # hashed each time, never an error
    finally:
        folder.unlink()
        aside.rename(folder)


def _with_external_weights(folder, fixtures_dir):
    """The tiny regressor saved as ``model.onnx`` with its weights in ``model.onnx.data``."""
    onnx = pytest.importorskip("onnx")
    from onnx.external_data_helper import convert_model_to_external_data

    model = onnx.load(fixtures_dir / "onnx" / "tiny-mitra-regressor.onnx")
    convert_model_to_external_data(model, all_tensors_to_one_file=True,
                                   location="model.onnx.data", size_threshold=0)
    path = folder / "model.onnx"
    onnx.save(model, path)
    return path


def test_new_external_weights_are_hashed_again(tmp_path, fixtures_dir):
    path = _with_external_weights(tmp_path, fixtures_dir)
    first = identity(path)
    data = tmp_path / "model.onnx.data"
    info = os.stat(data)
    weights = bytearray(data.read_bytes())
    weights[0] ^= 0xFF
    data.write_bytes(bytes(weights))
    os.utime(data, ns=(info.st_atime_ns, info.st_mtime_ns))
    second = identity(path)
    assert second != first
    assert identity(path) == second


def test_a_slice_of_the_mapped_model_outliving_the_read_is_no_error(tmp_path):
    # Dask's workers sample their threads' frames, which keeps a reader's slices of the map
    # alive past its block: closing the map then raised BufferError in the middle of a fit.
    path = tmp_path / "model.onnx"
    path.write_bytes(b"abcdefgh")
    kept = []
    with model_buffer(path) as view:
        kept.append(view[2:5])
    assert bytes(kept[0]) == b"cde"


def test_an_error_while_reading_the_mapped_model_is_the_one_raised(tmp_path):
    path = tmp_path / "model.onnx"
    path.write_bytes(b"abcdefgh")
    with pytest.raises(ValueError, match="not a model"):
        with model_buffer(path) as view:
            part = view[1:3]  # noqa: F841 - held by the traceback's frame
            raise ValueError("not a model")


def test_a_remembered_model_names_its_external_files_without_a_scan(tmp_path, fixtures_dir,
                                                                    monkeypatch):
    """The engine's key (``stamp``) lists the external files; for a remembered model they come
    from the memo, not from reading the whole model file, and a changed one is noticed."""
    path = _with_external_weights(tmp_path, fixtures_dir)
    scanned = _identity.stamp(path)
    assert len(scanned) == 2 and scanned[1][0] == os.path.realpath(tmp_path / "model.onnx.data")
    identity(path)  # remembered from here on
    _identity._listed_files.cache_clear()
    real = _identity.external_files
    monkeypatch.setattr(_identity, "external_files",
                        lambda *args: pytest.fail("the model file was scanned"))
    assert _identity.stamp(path) == scanned
    # the external file rewritten: the memo no longer holds, the file is read again
    data = tmp_path / "model.onnx.data"
    data.write_bytes(data.read_bytes())
    _identity._listed_files.cache_clear()
    monkeypatch.setattr(_identity, "external_files", real)
    again = _identity.stamp(path)
    assert again[1][0] == scanned[1][0] and again[0] == scanned[0]
