"""The PNG chart: synth time, template size and resource count against N, one line per kind."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # no display here, and none wanted: the chart is a file

import matplotlib.pyplot as plt

from .synth import KINDS, LABELS, SynthResults

COLORS = {"ours": "#1b7837", "native": "#2166ac", "awscr": "#b2182b"}
MARKERS = {"ours": "o", "native": "s", "awscr": "^"}


def write_chart(synth: SynthResults, path: Path) -> None:
    figure, (time_axis, bytes_axis, resources_axis) = plt.subplots(1, 3, figsize=(16, 5.2), layout="constrained")
    counts = list(synth.counts)
    for kind in KINDS:
        cells = [synth.cell(kind, count) for count in counts]
        style = {"color": COLORS[kind], "marker": MARKERS[kind], "label": LABELS[kind], "linewidth": 2}
        medians = [cell.median_seconds for cell in cells]
        spread = [
            [median - min(run.seconds for run in cell.runs) for median, cell in zip(medians, cells, strict=True)],
            [max(run.seconds for run in cell.runs) - median for median, cell in zip(medians, cells, strict=True)],
        ]
        time_axis.errorbar(counts, medians, yerr=spread, capsize=4, **style)
        bytes_axis.plot(counts, [cell.metrics.bytes / 1024 for cell in cells], **style)
        resources_axis.plot(counts, [cell.metrics.resources for cell in cells], **style)
    for axis, title, unit in (
        (time_axis, f"Synth time, whole process (median of {synth.runs}, bars: min-max)", "seconds"),
        (bytes_axis, "Template size", "KB (JSON as synthesized)"),
        (resources_axis, "Resources in the template", "resources"),
    ):
        axis.set_title(title, fontsize=12)
        axis.set_xlabel("event actions per stack (N)", fontsize=11)
        axis.set_ylabel(unit, fontsize=11)
        axis.set_xscale("log")
        axis.set_xticks(counts, [str(count) for count in counts])
        axis.minorticks_off()
        axis.grid(True, alpha=0.3)
        axis.set_ylim(bottom=0)
    time_axis.legend(fontsize=10, loc="lower right")
    figure.suptitle("AutoExportEventAction vs CfnEventAction vs AwsCustomResource", fontsize=14)
    figure.savefig(path, dpi=110)
    plt.close(figure)
