"""One synth of stacks.py, whole process as the benchmark runs it, that counts its jsii round trips and says which
of our construct's modules it imported; it writes them as JSON to RESULT (not timed: counting costs time):

    python benchmarks/round_trips.py RESULT KIND N OUTDIR

Every request to jsii's node process, and every answer to a callback from it, is one call of
`jsii._kernel.providers.process._NodeProcess.send` and one JSON message each way: a round trip. Each is put down
to where it came from: the innermost frame in our construct's package, else in stacks.py, else "aws-cdk-lib".
"""

from __future__ import annotations

import json
import runpy
import sys
from collections import Counter
from pathlib import Path
from types import FrameType
from typing import Any

PACKAGE = "cdk_dataexchange_auto_export"
STACKS_APP = Path(__file__).with_name("stacks.py")


def _origin(frame: FrameType | None) -> str:
    """`module.Class.function` of the innermost frame of ours, else `stacks.function`, else aws-cdk-lib."""
    found = "aws-cdk-lib"
    while frame is not None:
        module = str(frame.f_globals.get("__name__", ""))
        if module.startswith(PACKAGE + "."):
            return f"{module.removeprefix(PACKAGE + '.')}.{frame.f_code.co_qualname}"
        if frame.f_code.co_filename == str(STACKS_APP) and found == "aws-cdk-lib":
            found = f"stacks.{frame.f_code.co_qualname}"
        frame = frame.f_back
    return found


def main(result: Path, kind: str, count: int, outdir: str) -> None:
    # Here, not at the top: the benchmark's driver imports this module for PACKAGE, and has no use for jsii.
    from jsii._kernel.providers.process import _NodeProcess

    round_trips: Counter[str] = Counter()
    send = _NodeProcess.send

    def counted(self: _NodeProcess, request: Any, response_type: Any) -> Any:
        round_trips[_origin(sys._getframe(1))] += 1
        return send(self, request, response_type)

    _NodeProcess.send = counted  # type: ignore[method-assign]
    runpy.run_path(str(STACKS_APP))["main"](kind, count, outdir)
    imported = sorted(name for name in sys.modules if name.startswith(PACKAGE))
    result.write_text(json.dumps({"round_trips": dict(round_trips), "imported": imported}))


if __name__ == "__main__":
    main(Path(sys.argv[1]), sys.argv[2], int(sys.argv[3]), sys.argv[4])
