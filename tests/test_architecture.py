"""The shape of the code a newcomer relies on: the contract spelled once, and no import cycle."""

from __future__ import annotations

import ast
import gzip
import json
from collections.abc import Iterator
from pathlib import Path

from dataexchange_auto_export_handler import contract
from tools.toolchain import REPO

CONSTRUCT = REPO / "constructs" / "cdk_dataexchange_auto_export"
HANDLER = REPO / "lambda" / "dataexchange_auto_export_handler"
# Not ours to spell: the generated asset, the vendored crhelper, the offline kit's stand-ins (written from AWS's
# documentation, so they must not take names from the code they stand in for).
NOT_OURS = ("lambda_asset", "_vendor", "local")
# What CloudFormation sends a custom resource: the handler reads its requests by these names.
CLOUDFORMATION_REQUEST = {"StackId", "LogicalResourceId", "ResourceProperties", "RequestType", "PhysicalResourceId"}


def sources(root: Path) -> Iterator[Path]:
    for path in sorted(root.rglob("*.py")):
        if not set(path.relative_to(root).parts) & set(NOT_OURS):
            yield path


def contract_values() -> dict[str, str]:
    """Every name the contract spells, by value."""
    found: dict[str, str] = {}
    for name, value in vars(contract).items():
        if isinstance(value, str) and not name.startswith("_"):
            found[value] = name
        elif isinstance(value, type) and value.__module__ == contract.__name__:
            found.update({v: f"{name}.{n}" for n, v in vars(value).items() if isinstance(v, str) and n.isupper()})
    return found


def api_member_names() -> set[str]:
    """The member names of the Data Exchange API (the model the handler bundles): the handler calls the API by
    these, some of which the resource properties share (Bucket, KeyPattern, DataSetId, ...)."""
    model = HANDLER / "botocore_data" / "dataexchange" / "2017-07-25" / "service-2.json.gz"
    shapes = json.loads(gzip.decompress(model.read_bytes()))["shapes"]
    return {member for shape in shapes.values() for member in shape.get("members", {})}


def literals(path: Path) -> Iterator[tuple[int, str]]:
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            yield node.lineno, node.value


def test_the_contract_is_spelled_only_in_the_contract() -> None:
    # Given every name the construct and the handler are written against
    spelled = contract_values()
    assert {contract.EVENT_ACTION_RESOURCE_TYPE, contract.EVENT_SOURCE, contract.STACK_ID_TAG} <= set(spelled)
    # The handler may use the API's own member names (and CloudFormation's request fields), which some share
    api = api_member_names() | CLOUDFORMATION_REQUEST
    copies = []
    for root, allowed in ((CONSTRUCT, set()), (HANDLER, api)):
        for path in sources(root):
            if path.name == "contract.py":
                continue
            copies += [
                f"{path.relative_to(REPO)}:{line} {value!r} (contract.{spelled[value]})"
                for line, value in literals(path)
                if value in spelled and value not in allowed
            ]
    assert copies == [], "use the contract's name for these"


def module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path, root: Path, modules: set[str]) -> set[str]:
    """The modules of `modules` that the module at `path` imports, TYPE_CHECKING imports included: `from p import
    m` imports module p.m where there is one, and p's __init__ otherwise."""
    name = module_name(path, root)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, *filter(None, [node.module])])
            found.update(f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base for a in node.names)
    return found & modules


def test_no_module_of_the_construct_or_the_handler_imports_itself_back() -> None:
    graph: dict[str, set[str]] = {}
    for root in (REPO / "constructs", REPO / "lambda"):
        paths = [p for p in root.rglob("*.py") if not set(p.parts) & {"lambda_asset", "_vendor"}]
        modules = {module_name(path, root) for path in paths}
        graph.update({module_name(path, root): imports_of(path, root, modules) for path in paths})
    assert len(graph) > 20, "the modules were not found"

    cycles: list[list[str]] = []
    done: set[str] = set()

    def visit(module: str, trail: list[str]) -> None:
        if module in trail:
            cycles.append([*trail[trail.index(module) :], module])
            return
        if module in done:
            return
        for imported in sorted(graph[module]):
            visit(imported, [*trail, module])
        done.add(module)

    for module in sorted(graph):
        visit(module, [])
    assert cycles == []


def test_the_layout_table_names_every_module() -> None:
    # CONTRIBUTING's layout is where a newcomer looks a module up: one left out is one nobody finds
    layout = (REPO / "CONTRIBUTING.md").read_text().split("## Layout", 1)[1]
    roots = (
        HANDLER,
        CONSTRUCT,
        CONSTRUCT / "local",
        CONSTRUCT / "local" / "endpoints",
        REPO / "tools",
        REPO / "benchmarks",
    )
    modules = {path.name for root in roots for path in root.glob("*.py") if path.name != "__init__.py"}
    assert sorted(name for name in modules if f"`{name}`" not in layout) == []
