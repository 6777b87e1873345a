"""A stack of a cloud assembly as the CDK CLI writes it: its template and the staged assets beside it."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import LocalError

STACK_ARTIFACT = "aws:cloudformation:stack"
# Annotations (cdk.Annotations) by their metadata type.
_LEVELS = {"aws:cdk:info": "Info", "aws:cdk:warning": "Warning", "aws:cdk:error": "Error"}


class AssemblyError(LocalError):
    """A cloud assembly that cannot be read or made, in one line a person can act on."""


@dataclass(frozen=True)
class LambdaFunction:
    logical_id: str
    asset_dir: Path
    handler: str
    timeout_seconds: int
    memory_mb: int
    environment: Mapping[str, str]
    # From its AWS::Lambda::EventInvokeConfig: how often Lambda retries a failed asynchronous invocation
    # (Lambda's default: twice), and where the record of one that failed for good goes (as in the template).
    retry_attempts: int = 2
    on_failure: Any = None
    # How long Lambda keeps an asynchronous invocation it has not run yet (Lambda's default: 6 hours).
    max_event_age_seconds: int = 21600
    # Its RecursiveLoop: Lambda stops a recursive loop of the function unless it is "Allow".
    recursive_loop: str = "Terminate"


def stack_names(assembly_dir: Path) -> list[str]:
    """The stacks of the cloud assembly (their artifact ids), in the manifest's order."""
    manifest = _manifest(assembly_dir)
    return [name for name, artifact in manifest["artifacts"].items() if artifact.get("type") == STACK_ARTIFACT]


def _manifest(assembly_dir: Path) -> dict[str, Any]:
    path = assembly_dir / "manifest.json"
    if not path.is_file():
        raise AssemblyError(f"{assembly_dir} is not a cloud assembly: it has no manifest.json")
    manifest: dict[str, Any] = json.loads(path.read_text())
    return manifest


class SynthesizedStack:
    def __init__(self, assembly_dir: Path, stack_name: str) -> None:
        self.assembly_dir = assembly_dir
        self.stack_name = stack_name
        manifest = _manifest(assembly_dir)
        artifact = manifest["artifacts"].get(stack_name)
        if artifact is None or artifact.get("type") != STACK_ARTIFACT:
            raise AssemblyError(f"No stack {stack_name} in the cloud assembly {assembly_dir}")
        self.template: dict[str, Any] = json.loads((assembly_dir / artifact["properties"]["templateFile"]).read_text())
        self.resources: dict[str, Any] = self.template.get("Resources", {})
        self._staged_assets = _staged_assets(assembly_dir, manifest)
        self.annotations = _annotations(assembly_dir, artifact)

    def messages(self, level: str) -> list[str]:
        """The app's annotations of a level (Info, Warning, Error), as the CDK CLI prints them."""
        return [f"[{level} at {path}] {text}" for found, path, text in self.annotations if found == level]

    def of_type(self, resource_type: str) -> list[str]:
        return [key for key, resource in self.resources.items() if resource["Type"] == resource_type]

    def in_dependency_order(self) -> list[str]:
        """Every logical id, each after what it depends on (DependsOn and references)."""
        ordered: list[str] = []

        def visit(logical_id: str) -> None:
            if logical_id in ordered:
                return
            for dependency in sorted(_dependencies(self.resources[logical_id])):
                if dependency in self.resources:
                    visit(dependency)
            ordered.append(logical_id)

        for logical_id in self.resources:
            visit(logical_id)
        return ordered

    def function(self, logical_id: str) -> LambdaFunction:
        resource = self.resources[logical_id]
        if resource["Type"] != "AWS::Lambda::Function":
            raise AssemblyError(f"{logical_id} is a {resource['Type']}, not a Lambda function")
        properties = resource["Properties"]
        asset_path = self._staged_assets.get(str(properties.get("Code", {}).get("S3Key")))
        if asset_path is None:
            raise AssemblyError(f"Function {logical_id} has no staged asset (inline code is not supported)")
        invoke_config: Mapping[str, Any] = next(
            (
                resource["Properties"]
                for resource in self.resources.values()
                if resource["Type"] == "AWS::Lambda::EventInvokeConfig"
                and resource["Properties"]["FunctionName"] == {"Ref": logical_id}
            ),
            {},
        )
        return LambdaFunction(
            logical_id=logical_id,
            asset_dir=self.assembly_dir / asset_path,
            handler=properties["Handler"],
            timeout_seconds=int(properties.get("Timeout", 3)),
            memory_mb=int(properties.get("MemorySize", 128)),
            environment=properties.get("Environment", {}).get("Variables", {}),
            retry_attempts=int(invoke_config.get("MaximumRetryAttempts", 2)),
            on_failure=invoke_config.get("DestinationConfig", {}).get("OnFailure", {}).get("Destination"),
            max_event_age_seconds=int(invoke_config.get("MaximumEventAgeInSeconds", 21600)),
            recursive_loop=properties.get("RecursiveLoop", "Terminate"),
        )


def _annotations(assembly_dir: Path, artifact: Mapping[str, Any]) -> list[tuple[str, str, str]]:
    """(level, construct path, text) of the stack's annotations, in its metadata or the file it names."""
    metadata: dict[str, Any] = dict(artifact.get("metadata", {}))
    if "additionalMetadataFile" in artifact:
        metadata.update(json.loads((assembly_dir / artifact["additionalMetadataFile"]).read_text()))
    return [
        (_LEVELS[entry["type"]], path, str(entry["data"]))
        for path, entries in metadata.items()
        for entry in entries
        if entry["type"] in _LEVELS
    ]


def _staged_assets(assembly_dir: Path, manifest: Mapping[str, Any]) -> dict[str, str]:
    """S3 object key -> staged folder, from the asset manifests the deployment would publish."""
    staged: dict[str, str] = {}
    for artifact in manifest["artifacts"].values():
        if artifact.get("type") != "cdk:asset-manifest":
            continue
        assets = json.loads((assembly_dir / artifact["properties"]["file"]).read_text())
        for asset in assets.get("files", {}).values():
            for destination in asset["destinations"].values():
                staged[destination["objectKey"]] = asset["source"]["path"]
    return staged


def _dependencies(resource: Mapping[str, Any]) -> set[str]:
    depends_on = resource.get("DependsOn", [])
    found = set([depends_on] if isinstance(depends_on, str) else depends_on)

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if "Ref" in node and isinstance(node["Ref"], str):
                found.add(node["Ref"])
            if "Fn::GetAtt" in node:
                target = node["Fn::GetAtt"]
                found.add(target[0] if isinstance(target, list) else target.split(".")[0])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(resource.get("Properties", {}))
    return found
