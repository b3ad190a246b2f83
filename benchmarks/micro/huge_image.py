"""The faces stage on one very large photo: peak memory and time of MTCNN detection and alignment.

A synthetic JPEG of ``--megapixels`` (default 81, a 9000 x 9000 photo) goes through ``prepare_faces`` with
MTCNN in a child process, whose peak resident memory (``ru_maxrss``) and wall time are the figures. MTCNN
searches a copy scaled down to ``detect.DETECTION_MAX_SIDE`` (and its padded retry copy), so the peak follows
that cap plus the decoded image, not the image's pixel count through the detector's pyramid. The image holds
no face (noise), so the retry on the enlarged copy runs too: the worst case.

    .venv/bin/python -m benchmarks.micro.huge_image [--megapixels 81] [--json PATH | --record]

Figures: megapixels, detection_max_side, peak_rss_mb, seconds, and the status the image got.
"""

from __future__ import annotations

import json
import math
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks import record

CHILD = """
import json, sys
import pandas as pd
from emoverify.faces.detect import FaceSettings, prepare_faces
path, out = sys.argv[1], sys.argv[2]
table = pd.DataFrame({"image_id": ["huge"], "path": [path], "identity": ["A"], "emotion_manual": [""], "session": [""]})
print(json.dumps({"status": str(prepare_faces(table, out, FaceSettings()).iloc[0]["status"])}))
"""


def write_photo(path: Path, megapixels: float) -> None:
    import numpy as np
    from PIL import Image

    side = round(math.sqrt(megapixels * 1e6))
    noise = np.random.default_rng(0).integers(0, 256, (90, 90, 3), dtype=np.uint8)
    Image.fromarray(noise).resize((side, side), Image.Resampling.BILINEAR).save(path, quality=90)


def main(argv=None) -> dict:
    parser = record.parser(__doc__)
    parser.add_argument("--megapixels", type=float, default=81.0)
    args = parser.parse_args(argv)
    from emoverify.faces.detect import DETECTION_MAX_SIDE

    with tempfile.TemporaryDirectory() as folder:
        photo = Path(folder) / "huge.jpg"
        write_photo(photo, args.megapixels)
        started = time.perf_counter()
        done = subprocess.run(
            [sys.executable, "-c", CHILD, str(photo), str(Path(folder) / "out")], capture_output=True, text=True
        )
        seconds = time.perf_counter() - started
    if done.returncode != 0:
        sys.exit(f"the faces child failed:\n{done.stderr[-3000:]}")
    peak_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    figures = {
        "megapixels": args.megapixels,
        "detection_max_side": DETECTION_MAX_SIDE,
        "peak_rss_mb": peak_kb / 1024,
        "seconds": seconds,
        "status": json.loads(done.stdout.strip().splitlines()[-1])["status"],
    }
    return record.save(args, __spec__.name, figures, __doc__, argv)


if __name__ == "__main__":
    main()
