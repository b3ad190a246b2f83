"""facenet-pytorch's InceptionResnetV1 as an extractor: 512-d descriptors from its released weights.

Two weight files exist, trained on VGGFace2 (``facenet_vggface2``) and CASIA-WebFace (``facenet_casia``).
facenet-pytorch downloads them into the torch hub cache; this pipeline never downloads at run time, so the
file must already be there (``<torch hub dir>/checkpoints/<file>``; ``TORCH_HOME`` moves the hub dir), and
the features rule stops naming the file, its URL and that place when it is not.

The input: the faces stage's aligned crop, resized to facenet's 160 x 160 and standardised as
facenet-pytorch's ``fixed_image_standardization`` does ((x - 127.5) / 128). facenet-pytorch's own MTCNN
crops are tight boxes (margin 0 by default) like the faces stage's, so no second detection is needed.
Descriptors are L2-normalised (facenet's output) and compared by cosine.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np
import pandas as pd
import torch
from torch import nn

from emoverify.data.imageio import read_rgb
from emoverify.features.store import Features, FeaturesError, FeaturesUnavailableError, usable_crops
from emoverify.model.networks import PRETRAINED_FILES, PRETRAINED_URL, MissingWeightsError, find_pretrained_weights
from emoverify.model.safe_load import load_weights

WEIGHTS: dict[str, str] = {"facenet_vggface2": "vggface2", "facenet_casia": "casia-webface"}
DESCRIPTOR_SIZE = 512
INPUT_SIZE = 160
CHIP_METHOD = "aligned_crop"


def weights_file(extractor: str):
    """The local copy of the extractor's weights; FeaturesUnavailableError saying what to get and where."""
    name = WEIGHTS[extractor]
    try:
        return find_pretrained_weights(name)
    except MissingWeightsError:
        target = torch.hub.get_dir() + f"/checkpoints/{PRETRAINED_FILES[name]}"
        raise FeaturesUnavailableError(
            f"the {extractor} extractor needs facenet-pytorch's released weights {PRETRAINED_FILES[name]}, which "
            f"are not on this machine and are never downloaded at run time: get "
            f"{PRETRAINED_URL.format(file=PRETRAINED_FILES[name])} on a machine with internet access and put it at "
            f"{target} (TORCH_HOME sets the folder), then rerun"
        ) from None


def load_model(extractor: str) -> tuple[nn.Module, str]:
    """InceptionResnetV1 with the extractor's weights, in eval mode, and the weight file's name."""
    from facenet_pytorch import InceptionResnetV1

    path = weights_file(extractor)
    state = load_weights(path)
    state = {key: value for key, value in state.items() if not key.startswith("logits.")}  # the classifier
    model = InceptionResnetV1(pretrained=None, classify=False)
    try:
        model.load_state_dict(state)
    except RuntimeError as error:
        raise FeaturesError(f"{path} is not an InceptionResnetV1 state dict: {str(error)[:300]}") from None
    return model.eval(), path.name


def standardized(paths: list[str]) -> torch.Tensor:
    """Aligned crops as facenet's input: N x 3 x 160 x 160 floats, (x - 127.5) / 128."""
    try:
        crops = [torch.from_numpy(read_rgb(path)).permute(2, 0, 1).float() for path in paths]
    except ValueError as error:
        raise FeaturesError(f"cannot read an aligned crop: {error}; rerun the faces stage") from None
    resized = [
        nn.functional.interpolate(crop[None], size=(INPUT_SIZE, INPUT_SIZE), mode="bilinear", align_corners=False)
        for crop in crops
    ]
    return (torch.cat(resized) - 127.5) / 128.0


@torch.no_grad()
def extract_features(
    manifest: pd.DataFrame,
    extractor: str,
    *,
    model: nn.Module,
    model_name: str,
    batch_size: int = 32,
    progress: Callable[[int], None] | None = None,
) -> Features:
    """Descriptors of every face with ``status == ok``, from its aligned crop, in manifest order."""
    ids, paths = usable_crops(manifest)
    start = time.perf_counter()
    blocks = []
    for first in range(0, len(paths), batch_size):
        blocks.append(model(standardized(paths[first : first + batch_size])).numpy().astype(np.float32))
        if progress:
            progress(len(blocks[-1]))
    descriptors = np.concatenate(blocks) if blocks else np.empty((0, DESCRIPTOR_SIZE), dtype=np.float32)
    return Features(
        np.asarray(ids, dtype=str),
        descriptors,
        extractor=extractor,
        chip=CHIP_METHOD,
        chip_size=INPUT_SIZE,
        chip_padding=0.0,
        models=(model_name,),
        seconds=time.perf_counter() - start,
    )
