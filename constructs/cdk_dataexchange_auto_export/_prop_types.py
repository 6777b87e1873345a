"""Props of the wrong type, refused at synth with the prop, the type it takes and the value it got, rather than the
attribute error a later line would raise (`'str' object has no attribute 'bucket_name'`).

The types are the ones annotated on the props (`ExportProps`, the constructors' keyword arguments), read with
`typing.get_type_hints`: nothing is declared twice. A jsii interface (`aws_s3.IBucket`) is a `typing.Protocol` that
is not runtime-checkable, and what implements it may be an L2 (`s3.Bucket`), a proxy of an imported resource
(`Bucket.from_bucket_name`) or a dynamic proxy of several interfaces (`Key.from_key_arn`): a value is taken for the
interface when it has every method the interface declares. Methods, not properties: reading a property of a jsii
object calls into its JavaScript side, looking a method up does not.
"""

from __future__ import annotations

import inspect
import types
import typing
from collections.abc import Callable, Mapping, Sequence
from functools import cache
from typing import Any

from constructs import IConstruct


def check_prop_types(construct: IConstruct, hints: Mapping[str, Any], values: Mapping[str, Any]) -> None:
    """Raises TypeError naming `construct`'s path and the first of `values` that is not of its type in `hints`."""
    for name, value in values.items():
        complaint = _complaint(name, value, hints[name])
        if complaint is not None:
            raise TypeError(f"{construct.node.path}: {complaint}")


@cache
def type_hints(owner: Callable[..., Any] | type) -> Mapping[str, Any]:
    """The types annotated on a TypedDict's keys or a function's parameters, resolved once."""
    return typing.get_type_hints(owner)


def _complaint(name: str, value: Any, expected: Any) -> str | None:
    if not _is(value, expected):
        return f"{name} must be {_article(_named(expected))}, got {_shown(value)}"
    if isinstance(value, Mapping):
        key_type, item_type = typing.get_args(_given(expected))
        for key, item in value.items():
            if not _is(key, key_type):
                return f"{name} keys must be {_article(_named(key_type))}, got {_shown(key)}"
            if not _is(item, item_type):
                return f"{name}[{key!r}] must be {_article(_named(item_type))}, got {_shown(item)}"
    return None


def _given(expected: Any) -> Any:
    """The type an optional prop takes when it is given."""
    options = [option for option in typing.get_args(expected) if option is not type(None)]
    return options[0] if _is_union(expected) and len(options) == 1 else expected


def _is(value: Any, expected: Any) -> bool:
    if expected is Any:
        return True
    if _is_union(expected):
        return any(_is(value, option) for option in typing.get_args(expected))
    if expected is type(None):
        return value is None
    origin = typing.get_origin(expected)
    if origin is Mapping:
        return isinstance(value, Mapping)
    if origin is Sequence:
        (item,) = typing.get_args(expected)
        return isinstance(value, Sequence) and not isinstance(value, str) and all(_is(each, item) for each in value)
    if typing.Protocol in getattr(expected, "__mro__", ()):
        return all(hasattr(value, method) for method in _methods(expected))
    return isinstance(value, expected)


def _is_union(expected: Any) -> bool:
    return isinstance(expected, types.UnionType) or typing.get_origin(expected) is typing.Union


@cache
def _methods(interface: type) -> frozenset[str]:
    """The public methods a jsii interface declares, its own and those of the interfaces it extends."""
    return frozenset(
        name
        for declaring in interface.__mro__
        if typing.Protocol in declaring.__mro__ and declaring not in (typing.Protocol, typing.Generic)
        for name, member in vars(declaring).items()
        if not name.startswith("_") and inspect.isfunction(member)
    )


def _named(expected: Any) -> str:
    """A type as a user writes it: `aws_s3.IBucket`, `RemovalPolicy`, `Mapping[str, str]`."""
    if _is_union(expected):
        return " or ".join(_named(option) for option in typing.get_args(expected) if option is not type(None))
    origin = typing.get_origin(expected)
    if origin is not None:
        return f"{origin.__name__}[{', '.join(_named(argument) for argument in typing.get_args(expected))}]"
    module = getattr(expected, "__module__", "")
    # aws_cdk.aws_s3.IBucket as `from aws_cdk import aws_s3` names it; aws_cdk.RemovalPolicy and our own by name.
    prefix = module.removeprefix("aws_cdk.") + "." if module.startswith("aws_cdk.") else ""
    return f"{prefix}{expected.__name__}"


def _article(named: str) -> str:
    return f"{'an' if named[0].lower() in 'aeiou' else 'a'} {named}"


def _shown(value: Any) -> str:
    """The value a user passed, recognisably: a construct by its class and path, anything else by its type and
    repr. jsii's proxies of imported resources are named by the public class they stand for, if any."""
    if value is None:
        return "None"
    kind = next(
        (
            _named(klass)
            for klass in type(value).__mro__
            if not klass.__name__.startswith("_") and klass is not object and klass.__module__.split(".")[0] != "jsii"
        ),
        None,
    )
    node = None if isinstance(value, (str, bytes, Mapping, Sequence)) else getattr(value, "node", None)
    path = getattr(node, "path", None)
    if isinstance(path, str):
        return f"{kind or 'construct'} at {path}"
    shown = repr(value)
    return f"{kind or type(value).__name__} {shown if len(shown) <= 80 else shown[:77] + '...'}"
