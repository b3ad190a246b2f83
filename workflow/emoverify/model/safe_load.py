"""Weight files are read as data, never as code: ``torch.load`` with ``weights_only=True`` everywhere.

A ``model.pt`` in a results folder or a facenet weight file may come from someone else; a full unpickle of a
crafted file runs whatever it names. The restricted loader accepts tensors and plain values (dicts, lists,
strings, numbers) only, which is all this project saves (see ``checkpoint.plain``), and its refusal names the file
instead of advising the unsafe load.
"""

from __future__ import annotations

import pickle

import torch


class UnsafeFileError(ValueError):
    """A weight file that holds more than tensors and plain values, or is not a torch file at all."""


def load_weights(path, map_location="cpu"):
    """The tensors and plain values saved in ``path``; UnsafeFileError (naming the file) for anything else."""
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as error:
        detail = next((line for line in str(error).splitlines() if "GLOBAL" in line or "Unsupported" in line), "")
        raise UnsafeFileError(
            f"{path} was not loaded: it holds objects other than tensors and plain values, which a weight file "
            f"never needs and a crafted one uses to run code ({detail.strip() or 'refused by the restricted loader'}); "
            "delete it and let the workflow write it again, or get it from its original source"
        ) from None
    except (RuntimeError, EOFError, KeyError, ValueError) as error:
        raise UnsafeFileError(
            f"{path} is not a readable torch weight file ({type(error).__name__}: {str(error)[:200]}); delete it "
            "and let the workflow write it again"
        ) from None
