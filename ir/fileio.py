"""Safe file output shared by every layer: atomic writes and .npz with any key."""
from __future__ import annotations

import io
import os
import tempfile
import zipfile
from typing import Callable, Mapping, Union

import numpy as np

from .errors import UserError


def write_atomic(path: str, data: Union[bytes, Callable]) -> None:
    """Write ``data`` (bytes, or ``fn(file)``) to a temp file beside ``path``, then rename it
    over ``path``: a reader never sees half a file and a failure leaves no partial output."""
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise UserError(f"{path}: folder {folder} does not exist")
    fd, tmp = tempfile.mkstemp(prefix=".litesmith-", dir=folder)
    try:
        with os.fdopen(fd, "wb") as f:
            if callable(data):
                data(f)
            else:
                f.write(data)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def write_npz(f, arrays: Mapping[str, np.ndarray]) -> None:
    """Like ``np.savez`` but any key works (``np.savez(f, file=...)`` would clash).
    String arrays are stored as unicode: an .npz cannot hold objects without pickle."""
    with zipfile.ZipFile(f, "w", zipfile.ZIP_STORED) as zf:
        for key, arr in arrays.items():
            arr = np.asarray(arr)
            if arr.dtype == object:
                arr = np.vectorize(lambda s: s.decode("utf-8", "replace") if isinstance(s, bytes) else str(s), otypes=[str])(arr)
            with zf.open(key + ".npy", "w", force_zip64=True) as out:
                np.lib.format.write_array(out, arr, allow_pickle=False)


def npz_bytes(arrays: Mapping[str, np.ndarray]) -> bytes:
    buf = io.BytesIO()
    write_npz(buf, arrays)
    return buf.getvalue()
