"""What one more construct costs, timed inside one process: after a discarded synth that pays the imports and jsii's
start, the stack of stacks.py of KIND with LOW and with HIGH constructs, each built and synthesized ROUNDS times,
alternating which goes first; each time in seconds, as JSON, to RESULT:

    python benchmarks/in_process.py RESULT LOW ROUNDS KIND HIGH OUTDIR

A whole-process synth (measure.synthesize) also times Python's and node's start and jsii's loading of aws-cdk-lib,
whose jitter on a shared machine (a second between two runs of the same stack) is larger than what 100 constructs
cost; in one process only the building and the synth differ between LOW and HIGH.
"""

from __future__ import annotations

import json
import runpy
import sys
import time
from pathlib import Path

STACKS_APP = Path(__file__).with_name("stacks.py")


def main(result: Path, low: int, rounds: int, kind: str, high: int, outdir: Path) -> None:
    synthesize = runpy.run_path(str(STACKS_APP))["main"]
    synthesize(kind, low, str(outdir / "warm-up"))
    seconds: dict[int, list[float]] = {low: [], high: []}
    for round_number in range(rounds):
        for count in (low, high) if round_number % 2 == 0 else (high, low):
            started = time.perf_counter()
            synthesize(kind, count, str(outdir / f"{count}-{round_number}"))
            seconds[count].append(time.perf_counter() - started)
    result.write_text(json.dumps({"low": seconds[low], "high": seconds[high]}))


if __name__ == "__main__":
    main(Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], int(sys.argv[5]), Path(sys.argv[6]))
