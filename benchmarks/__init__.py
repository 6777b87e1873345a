"""Synth cost, template footprint and handler cold start of AutoExportEventAction beside CfnEventAction and
AwsCustomResource, and its backfill at scale: `make bench` writes BENCHMARKS.md and its chart. Not a test: it takes
minutes, on a quiet machine."""


class BenchmarkError(Exception):
    """A step that could not be measured, in one line."""
