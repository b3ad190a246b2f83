"""Array files (``.npz``, ``.npy``) read as numbers only: an object array in a received file would need
pickle to load, which runs code; it is refused, naming the file, whatever reads it."""

from __future__ import annotations

import numpy as np


class UnsafeArrayFileError(ValueError):
    """An array file holding Python objects, or not an array file at all."""


def _refusal(path, detail: str) -> str:
    return (
        f"{path} was not loaded: {detail}; the workflow writes numbers and text only, and a crafted file uses "
        "objects to run code. Delete it and let the workflow write it again"
    )


def load_npz(path) -> dict[str, np.ndarray]:
    """Every array of the ``.npz`` at ``path``; UnsafeArrayFileError naming the file for an object array."""
    try:
        with np.load(path, allow_pickle=False) as data:
            return {key: data[key] for key in data.files}
    except ValueError as error:
        if "allow_pickle" in str(error) or "object" in str(error).lower():
            raise UnsafeArrayFileError(_refusal(path, "it holds object arrays")) from None
        raise UnsafeArrayFileError(_refusal(path, f"not a readable .npz ({error})")) from None
    except (OSError, EOFError) as error:
        raise UnsafeArrayFileError(_refusal(path, f"not a readable .npz ({type(error).__name__}: {error})")) from None


def map_npy(path, error=UnsafeArrayFileError) -> np.ndarray:
    """The ``.npy`` at ``path`` memory-mapped read-only; ``error`` (naming the file) for an object array or a
    file that is not one array."""
    try:
        return np.load(path, mmap_mode="r", allow_pickle=False)
    except ValueError as problem:
        detail = "it holds object arrays" if "object" in str(problem).lower() else f"not a .npy array ({problem})"
        raise error(_refusal(path, detail)) from None
    except (OSError, EOFError) as problem:
        raise error(_refusal(path, f"not a readable .npy ({type(problem).__name__}: {problem})")) from None
