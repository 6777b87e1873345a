"""cdk-nag 2 (its newest release, in .venv-cdk-nag2: cdk-nag 2 and 3 are one distribution) passes on the construct's
resources through the suppressions the construct writes into their Metadata, with the findings and reasons of cdk-nag
3's acknowledgements, wired as the README says.

One run, in that venv's Python (aws-cdk-lib, cdk-nag 2 and this checkout's package only): the README's minimal app
with its cdk-nag 2 line, and the stacks that make every acknowledgement, run as the CDK CLI runs an app. cdk-nag 2
writes each finding as an error annotation, on which `cdk synth` fails, and its report of every rule on every
resource (`AwsSolutions-<stack>-NagReport.csv`: a suppressed finding's id leads its reason).
"""

from __future__ import annotations

import csv
import os
import re
import subprocess
from collections.abc import Callable
from dataclasses import dataclass

import aws_cdk as cdk
import pytest
from nag_stacks import everything_stacks
from readme import app_snippet, minimal_app
from support import assembly_errors, needs_cdk_nag

from tools.toolchain import QUIET_ENVIRONMENT, REPO

NAG2_VENV = REPO / ".venv-cdk-nag2"
EVERYTHING = "from nag_stacks import everything_stacks\neverything_stacks(app)\n"


@dataclass
class Nag2Run:
    errors: list[tuple[str, str]]  # (construct path, message) of every error annotation
    rows: list[dict[str, str]]  # the reports' rows, every stack's


@pytest.fixture(scope="module")
def nag2(tmp_path_factory: pytest.TempPathFactory) -> Nag2Run:
    if not (NAG2_VENV / "bin" / "python").exists():
        pytest.fail(f"{NAG2_VENV} is missing: run `make setup` (requirements-cdk-nag2.txt)")
    # Given the README's minimal app with its cdk-nag 2 line, and the stacks that make every acknowledgement
    work = tmp_path_factory.mktemp("nag2")
    (work / "app.py").write_text(minimal_app(app_snippet("Aspects.of(app).add(").code, EVERYTHING))
    sources = os.pathsep.join(str(REPO / root) for root in ("constructs", "lambda", "tests"))
    environment = {**os.environ, **QUIET_ENVIRONMENT, "CDK_OUTDIR": str(work / "cdk.out"), "PYTHONPATH": sources}
    # When it runs as the CDK CLI runs an app
    result = subprocess.run(
        [NAG2_VENV / "bin" / "python", "app.py"],
        cwd=work,
        env=environment,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    errors = assembly_errors(work / "cdk.out")
    rows = [
        row
        for report in (work / "cdk.out").glob("AwsSolutions-*-NagReport.csv")
        for row in csv.DictReader(report.open())
    ]
    return Nag2Run(errors, rows)


def test_the_venv_holds_cdk_nag_2s_newest_release() -> None:
    (metadata,) = NAG2_VENV.glob("lib/python*/site-packages/cdk_nag-*.dist-info")
    assert metadata.name.removesuffix(".dist-info") == "cdk_nag-2.38.2"


def test_cdk_nag_2_finds_nothing_in_the_minimal_app_or_the_constructs_resources(nag2: Nag2Run) -> None:
    assert {row["Resource ID"].split("/")[0] for row in nag2.rows} >= {"MarketData", "Fixed", "Networked"}
    assert nag2.errors == []
    assert [row for row in nag2.rows if row["Compliance"] not in ("Compliant", "Suppressed")] == []


def cdk_nag_3_acknowledgements(app: cdk.App) -> set[tuple[str, str]]:
    """(finding id, reason) of every cdk-nag 3 acknowledgement the constructs made in the app (tests/test_construct_
    citizenship.py shows that each matches a finding of cdk-nag 3's, and that they are all it reports)."""
    made: set[tuple[str, str]] = set()
    for construct in app.node.find_all():
        for entry in construct.node.metadata:
            if entry.type == cdk.Validations.ACKNOWLEDGED_RULES_METADATA_KEY:
                for key, reason in entry.data.items():
                    finding = re.sub(r"^annotation::", "", key, flags=re.IGNORECASE)
                    if finding.startswith("AwsSolutions-"):
                        made.add((finding, reason))
    return made


@needs_cdk_nag
def test_cdk_nag_2_suppresses_the_findings_cdk_nag_3_acknowledges_with_the_same_reasons(
    nag2: Nag2Run, new_cdk_app: Callable[..., cdk.App]
) -> None:
    # Given the same stacks made here: the acknowledgements are in their metadata once made
    app = new_cdk_app()
    everything_stacks(app)
    # Then each finding cdk-nag 2 suppressed there ("[finding] reason" in its report) is one cdk-nag 3 acknowledges,
    # with the same reason, and every acknowledgement suppressed one
    suppressed = set()
    for row in nag2.rows:
        if row["Compliance"] == "Suppressed" and not row["Resource ID"].startswith("MarketData/"):
            finding, reason = re.fullmatch(r"\[([^\]]*)\] (.*)", row["Exception Reason"], re.DOTALL).groups()  # type: ignore[union-attr]
            suppressed.add((f"{row['Rule ID']}[{finding}]", reason))
    assert suppressed == cdk_nag_3_acknowledgements(app)
