"""The README cannot drift from the code: every Python example runs alone, pasted into a stack's `__init__`, imports
included; every version, limit and default it states is the code's; its failure alert is the message the construct
sends; it lists every warning id the construct has.

How the README marks its code blocks (stack-body examples, app lines, whole files, the rest) is in tests/readme.py.
"""

from __future__ import annotations

import ast
import re
import tomllib
from collections.abc import Callable
from importlib.metadata import requires
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk import aws_events as events
from aws_cdk import aws_s3 as s3
from aws_cdk.assertions import Annotations, Match, Template
from packaging.requirements import Requirement
from readme import APP_SNIPPET, FILES, USER_DOCUMENTS, Block, blocks, file, stack_examples
from support import DATA_SET, REGION, code_spans, readme_table

import cdk_dataexchange_auto_export
from cdk_dataexchange_auto_export import AutoExportEventAction, ExistingRevisions, monitoring
from cdk_dataexchange_auto_export._checks import (
    DATA_EXCHANGE_REGIONS,
    EVENT_ACTIONS_PER_DATA_SET,
    EVENT_ACTIONS_PER_DATA_SET_CONTEXT,
    runs_per_month,
)
from cdk_dataexchange_auto_export._export_construct import SERVICE_TIMEOUT
from cdk_dataexchange_auto_export._findings import ACKNOWLEDGING_RELEASE
from dataexchange_auto_export_handler.contract import MAX_REVISIONS, OWNER_TAGS, PACKAGE_TAGS, Property
from dataexchange_auto_export_handler.rules import ID_PATTERN, MAX_TAGS_PER_RESOURCE, MAX_USER_TAGS
from tools.toolchain import REPO

# --- the examples -------------------------------------------------------------------------------------------------


def test_every_python_block_is_a_stack_example_app_lines_or_a_file_a_test_runs() -> None:
    python = [block for block in blocks() if block.language == "python"]
    assert [block.where for block in python if block.label not in (None, APP_SNIPPET, *FILES)] == []
    in_docs = [block for document in USER_DOCUMENTS[1:] for block in blocks(document) if block.language == "python"]
    assert [block.where for block in in_docs if block.label is not None] == [], "docs/ holds stack examples only"
    named = sorted(block.label for block in blocks() if block.label in FILES)
    assert named == sorted(FILES), "each whole file the README holds once, each run by the test FILES names"
    assert len(stack_examples()) >= 7


@pytest.fixture(scope="module")
def examples(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Block, cdk.Stack]]:
    """Each stack-body example run alone in a stack of its own (the code's namespace holds only `self`, so a missing
    import is a NameError), each in an account of its own (the app-wide checks count per account); one synth."""
    app = cdk.App(outdir=str(tmp_path_factory.mktemp("cdk.out")), context={"aws:cdk:disable-stack-trace": True})
    made: dict[str, tuple[Block, cdk.Stack]] = {}
    for number, block in enumerate(stack_examples(), start=1):
        stack = cdk.Stack(app, f"Example{number}", env=cdk.Environment(account=f"{number:012d}", region=REGION))
        code = compile(block.code, f"{block.document}:{block.line}", "exec")
        try:
            exec(code, {"self": stack})
        except Exception as error:
            raise AssertionError(f"{block.where} fails when pasted alone into a stack's __init__: {error!r}") from error
        made[block.where] = (block, stack)
    app.synth()
    return made


def test_every_stack_example_synthesizes_alone_without_an_error(examples: dict[str, tuple[Block, cdk.Stack]]) -> None:
    failing = {
        where: [str(message.entry.data) for message in Annotations.from_stack(stack).find_error("*", Match.any_value())]
        for where, (_, stack) in examples.items()
    }
    assert {where: errors for where, errors in failing.items() if errors} == {}


def test_every_stack_example_uses_the_construct(examples: dict[str, tuple[Block, cdk.Stack]]) -> None:
    assert all("cdk_dataexchange_auto_export" in block.code for block, _ in examples.values())


# --- versions, limits and defaults --------------------------------------------------------------------------------

# What the user documents state, the README and docs/ alike.
TEXT = "\n".join(document.read_text() for document in USER_DOCUMENTS)


def lower_bound(name: str) -> str:
    dependencies = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    (requirement,) = [Requirement(line) for line in dependencies if Requirement(line).name == name]
    (bound,) = [spec.version for spec in requirement.specifier if spec.operator == ">="]
    return str(bound)


def pinned(name: str) -> str:
    lines = (REPO / "requirements.txt").read_text().splitlines()
    (pin,) = [line.split("==")[1] for line in lines if line.startswith(f"{name}==")]
    return pin


def cdk_nag_3_needs() -> str:
    (requirement,) = [Requirement(line) for line in requires("cdk-nag") or [] if line.startswith("aws-cdk-lib")]
    (bound,) = [spec.version for spec in requirement.specifier if spec.operator == ">="]
    return str(bound)


def grouped(number: int) -> str:
    return f"{number:,}"


@pytest.fixture(scope="module")
def deployed(tmp_path_factory: pytest.TempPathFactory) -> Template:
    """What the README describes deploying: a construct of each removal policy, with a backfill."""
    app = cdk.App(outdir=str(tmp_path_factory.mktemp("cdk.out")))
    stack = cdk.Stack(app, "Described", env=cdk.Environment(account="111111111111", region=REGION))
    bucket = s3.Bucket(stack, "Destination")
    AutoExportEventAction(stack, "Destroyed", data_set_id=DATA_SET, bucket=bucket)
    AutoExportEventAction(
        stack,
        "Retained",
        data_set_id=DATA_SET,
        bucket=bucket,
        key_pattern="${Revision.Id}/${Asset.Id}",
        removal_policy=cdk.RemovalPolicy.RETAIN,
        export_existing_revisions=ExistingRevisions.ALL,
    )
    return Template.from_stack(stack)


def function(template: Template, description: str) -> dict[str, Any]:
    (found,) = [
        resource["Properties"]
        for resource in template.find_resources("AWS::Lambda::Function").values()
        if description in resource["Properties"].get("Description", "")
    ]
    return found


def deletion_policy(template: Template, logical_id_prefix: str) -> str:
    (found,) = [
        resource["DeletionPolicy"]
        for logical_id, resource in template.find_resources("Custom::DataExchangeEventAction").items()
        if logical_id.startswith(logical_id_prefix)
    ]
    return str(found)


FACTS: dict[str, tuple[str, Callable[[Template], set[str]]]] = {
    "aws-cdk-lib's lower bound": (r"aws-cdk-lib (\d+\.\d+\.\d+) or newer", lambda t: {lower_bound("aws-cdk-lib")}),
    "constructs' lower bound": (r"constructs (\d+\.\d+\.\d+) or newer", lambda t: {lower_bound("constructs")}),
    "the pinned aws-cdk-lib": (r"pinned aws-cdk-lib (\d+\.\d+\.\d+)", lambda t: {pinned("aws-cdk-lib")}),
    "the first release taking cdk-nag 3's ids": (
        r"need aws-cdk-lib (\d+\.\d+\.\d+)",
        lambda t: {".".join(map(str, ACKNOWLEDGING_RELEASE))},
    ),
    "the aws-cdk-lib cdk-nag 3 needs": (r"cdk-nag 3 itself needs (\d+\.\d+\.\d+)", lambda t: {cdk_nag_3_needs()}),
    "the tags left to users": (
        r"at most (\d+); keys not starting|more than (\d+) tags|\*\*Tags\*\*: (\d+) on an event action"
        r"|so (\d+) are left",
        lambda t: {str(MAX_USER_TAGS)},
    ),
    "the service's tags per event action": (
        r"allows (\d+) tags per event action|the service's (\d+), less",
        lambda t: {str(MAX_TAGS_PER_RESOURCE)},
    ),
    "the construct's own tags": (
        r"up to (\w+) tags of its own|less the (\w+) the construct keeps",
        lambda t: {("one", "two", "three", "four")[len(OWNER_TAGS) - 1]},
    ),
    "the tag keys reserved": (
        r"one of the construct's (\w+)\)",
        lambda t: {("one", "two", "three", "four", "five")[len(PACKAGE_TAGS) - 1]},
    ),
    "a data set id's length": (
        r"(\d+\u2013\d+) letters or digits",
        lambda t: {"\u2013".join(re.findall(r"\{(\d+),(\d+)\}", ID_PATTERN.pattern)[0])},
    ),
    "the most revisions": (
        r"1 ≤ n ≤ (\d+,\d+)|from 1 to\s+(\d+,\d+)|holds at most (\d+,\d+) revisions",
        lambda t: {grouped(MAX_REVISIONS)},
    ),
    "event actions per data set": (
        r"(\d+) event actions per data set|(\d+) per data set by default|'Auto export event actions per data set' "
        r"\((\d+)\)",
        lambda t: {str(EVENT_ACTIONS_PER_DATA_SET)},
    ),
    "the context for a raised quota": (
        r"set the context `(@cdk-dataexchange-auto-export/\w+)` to it",
        lambda t: {EVENT_ACTIONS_PER_DATA_SET_CONTEXT},
    ),
    "the Regions with Data Exchange": (r"names the (\d+) that have it", lambda t: {str(len(DATA_EXCHANGE_REGIONS))}),
    "a reconcile every minute": (
        r"`rate\(1 minute\)`: ([\d,]+)",
        lambda t: {grouped(runs_per_month("rate(1 minute)") or 0)},
    ),
    "the custom resource's ServiceTimeout": (
        r"`ServiceTimeout` (\d+) s|most (\d+) s \(`ServiceTimeout`\)|`ServiceTimeout` \((\d+) s\)"
        r"|(\d+) s `ServiceTimeout`",
        lambda t: {str(int(SERVICE_TIMEOUT.to_seconds()))},
    ),
    "DESTROY's DeletionPolicy": (
        r"`DESTROY` deletes it \(`DeletionPolicy: (\w+)`",
        lambda t: {deletion_policy(t, "Destroyed")},
    ),
    "RETAIN's DeletionPolicy": (
        r"when it leaves the stack \(`DeletionPolicy: (\w+)`\)",
        lambda t: {deletion_policy(t, "Retained")},
    ),
    "the functions' runtime": (
        r"Python (\d\.\d+) \(the newest runtime|Python (\d\.\d+), arm64",
        lambda t: {function(t, "handler")["Runtime"].removeprefix("python")},
    ),
    "the handler's memory and timeout": (
        r"arm64, (\d+ MB, \d+ s) timeout",
        lambda t: {"{MemorySize} MB, {Timeout} s".format(**function(t, "handler"))},
    ),
    "the worker's memory and timeout": (
        r"per provider, (\d+ MB, \d+ s) \(15 minutes\), the same asset",
        lambda t: {"{MemorySize} MB, {Timeout} s".format(**function(t, "Exports revisions"))},
    ),
    "the log groups' retention": (
        r"(\d+) days retention|Log group, (\d+) days",
        lambda t: {str(next(iter(t.find_resources("AWS::Logs::LogGroup").values()))["Properties"]["RetentionInDays"])},
    ),
}


@pytest.mark.parametrize("fact", list(FACTS))
def test_the_readme_states_what_the_code_does(fact: str, deployed: Template) -> None:
    pattern, truth = FACTS[fact]
    found = {value for match in re.findall(pattern, TEXT) for value in ([match] if isinstance(match, str) else match)}
    found.discard("")
    assert found, f"the README no longer says {pattern!r}: drop or change the fact in this test"
    assert found == truth(deployed)


def test_every_aws_cdk_lib_and_constructs_release_the_readme_names_is_one_the_code_has() -> None:
    # A release named anywhere else (an old lower bound left in a sentence) is a contradiction
    known = {
        lower_bound("aws-cdk-lib"),
        pinned("aws-cdk-lib"),
        ".".join(map(str, ACKNOWLEDGING_RELEASE)),
        cdk_nag_3_needs(),
    }
    assert set(re.findall(r"aws-cdk-lib\D{0,12}?(\d+\.\d+(?:\.\d+)?)", TEXT)) <= known
    assert set(re.findall(r"\bconstructs (\d+\.\d+(?:\.\d+)?)", TEXT)) <= {
        lower_bound("constructs"),
        pinned("constructs"),
    }


def test_the_minimal_apps_requirements_are_the_packages_own() -> None:
    requirements = {Requirement(line).name: Requirement(line) for line in file("requirements.txt").split("\n") if line}
    dependencies = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    for dependency in map(Requirement, dependencies):
        assert requirements[dependency.name].specifier == dependency.specifier
    major = int(cdk_dataexchange_auto_export.__version__.split(".")[0])
    assert str(requirements["cdk-dataexchange-auto-export"].specifier) == f"<{major + 1},>={major}"
    assert set(requirements) == {"aws-cdk-lib", "constructs", "cdk-dataexchange-auto-export"}


def test_the_install_line_is_the_packages_name() -> None:
    name = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["name"]
    install = next(block for block in blocks() if block.heading == "Install" and block.language == "bash")
    assert install.code == f"pip install {name}\n"


# --- the alert's wording, and the warnings ----------------------------------------------------------------------


def test_the_failure_alert_reads_as_the_readme_shows_it(new_cdk_app: Callable[..., cdk.App]) -> None:
    # Given the message the construct sends for a data set, as EventBridge's input template holds it
    stack = cdk.Stack(new_cdk_app(), "Alert")
    rule = events.Rule(stack, "Rule", event_pattern=events.EventPattern(source=["aws.dataexchange"]))
    message = monitoring.failure_notification("my-bucket", Property.DATA_SET_ID, DATA_SET).bind(rule)
    template = str(stack.resolve(message.input_template)).strip('"')
    # Then the README's row shows it, the values EventBridge and the construct fill in as <...>
    (row,) = [row for row in readme_table("### Knowing when exports stop") if "failure_notification()" in row["member"]]
    shown = code_spans(row["what"])[0]
    placeholder = re.compile(r"<[^<>]+>")
    expected = placeholder.sub("<>", template.replace(DATA_SET, "<data set id>").replace("my-bucket", "<bucket>"))
    assert placeholder.sub("<>", shown) == expected


def warning_ids() -> set[str]:
    """Every warning id of the package: the modules' `..._WARNING_ID` constants."""
    package = Path(cdk_dataexchange_auto_export.__file__).parent
    found = set()
    for module in package.glob("*.py"):
        for node in ast.walk(ast.parse(module.read_text())):
            if isinstance(node, ast.Assign) and any(
                isinstance(target, ast.Name) and target.id.endswith("_WARNING_ID") for target in node.targets
            ):
                assert isinstance(node.value, ast.Constant)
                found.add(str(node.value.value))
    return found


def test_the_readme_lists_every_warning_id() -> None:
    listed = {code_spans(row["warning id"])[0] for row in readme_table("### Checked at `cdk synth`")}
    assert listed == warning_ids()
    assert len(listed) >= 3


def test_the_upgrade_promise_and_the_changelog_are_linked_from_the_install_section() -> None:
    install = TEXT[TEXT.index("## Install") : TEXT.index("### A minimal app")]
    assert "semantic versioning" in install
    assert "logical ids" in install and "props stay compatible" in install
    assert "[CHANGELOG.md](CHANGELOG.md)" in install
    assert (REPO / "CHANGELOG.md").is_file()
