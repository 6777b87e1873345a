"""The Data Exchange API model the handler was tested against, bundled with it.

The Lambda runtime's boto3 is whatever AWS last put there: older ones lack members the handler sends
(event-action `Tags` arrived in botocore between 1.36 and 1.38). botocore looks for its service models
in the directories of `AWS_DATA_PATH` before its own, so pointing that at the bundled copy makes any
runtime's botocore speak the API the tests spoke.
"""

from __future__ import annotations

import os
from pathlib import Path

BUNDLED_MODELS = Path(__file__).with_name("botocore_data")


def prefer_bundled_model() -> None:
    """Call before the process makes its first boto3 client: botocore reads the path once per session."""
    paths = [str(BUNDLED_MODELS), *filter(None, [os.environ.get("AWS_DATA_PATH")])]
    os.environ["AWS_DATA_PATH"] = os.pathsep.join(paths)
