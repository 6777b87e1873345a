"""What the handler's asset is held to, zipped as uploaded (the tests and the benchmarks check it): small enough to
stage, hash and upload in a blink, far below Lambda's 50 MB limit for a direct upload."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

# 64 KB until the handler gained the drift check and the handler's lifecycle rules (issues 23 and 24): 80 KB keeps
# the same blink with room for what the worker gains.
ASSET_BUDGET_BYTES = 80 * 1024


def zipped_size(directory: Path) -> int:
    """Bytes of the folder zipped with deflate, as the CDK CLI uploads a file asset."""
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zipped:
        for path in sorted(directory.rglob("*")):
            if path.is_file():
                zipped.write(path, path.relative_to(directory))
    return len(archive.getvalue())
