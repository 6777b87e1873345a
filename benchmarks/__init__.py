"""Benchmarks: synth cost, template footprint and handler cold start of AutoExportEventAction, side by
side with CloudFormation's native CfnEventAction and CDK's AwsCustomResource.

`python -m benchmarks` (or `make bench`) writes BENCHMARKS.md and benchmarks/chart.png. It is not
part of the test suite: a full run takes minutes and wants a quiet machine.
"""

from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
LAMBDA_PYTHON = REPO / ".venv-lambda" / "bin" / "python"


class BenchmarkError(Exception):
    """A step that could not be measured, in one line."""
