"""Command-line arguments from typed configuration dataclasses.

Each command is configured by one `@dataclass(kw_only=True)`; the docstring under each field is its
`--help` text, so the documentation lives once, next to the field. Fields marked with
`positional()` become positional arguments; `bool` fields become switches; `Literal[...]` fields
become choices; `tuple[X, ...]` fields take several values (`--stop "###" "END"`); nested dataclasses become prefixed groups (`--optim.lr`). Validation stays in the
dataclass's `__post_init__`; a `ValueError` raised there is reported as a usage error.
"""

from __future__ import annotations

import argparse
import ast
import dataclasses
import functools
import inspect
import itertools
import textwrap
import types
import typing
from pathlib import Path
from typing import Any, Literal, TypeVar, get_args, get_origin

from rlhf.fields import FLAG_ALIASES

T = TypeVar("T")

POSITIONAL = "rlhf.positional"


def positional(**kwargs: Any) -> Any:
    """A dataclass field given on the command line by position instead of `--name`."""
    metadata = {**kwargs.pop("metadata", {}), POSITIONAL: True}
    return dataclasses.field(metadata=metadata, **kwargs)


@functools.cache
def field_docs(cls: type) -> dict[str, str]:
    """The docstring under each field of a dataclass (and of its dataclass bases)."""
    docs: dict[str, str] = {}
    for klass in reversed(cls.__mro__):
        if not dataclasses.is_dataclass(klass):
            continue
        try:
            tree = ast.parse(textwrap.dedent(inspect.getsource(klass)))
        except (OSError, TypeError):  # no source available (e.g. a frozen binary)
            continue
        body = tree.body[0].body if tree.body and isinstance(tree.body[0], ast.ClassDef) else []
        for node, after in itertools.pairwise(body):
            if (
                isinstance(node, ast.AnnAssign)
                and isinstance(node.target, ast.Name)
                and isinstance(after, ast.Expr)
                and isinstance(after.value, ast.Constant)
                and isinstance(after.value.value, str)
            ):
                docs[node.target.id] = inspect.cleandoc(after.value.value)
    return docs


def _unwrap_optional(tp: Any) -> tuple[Any, bool]:
    if get_origin(tp) in (typing.Union, types.UnionType):
        args = [a for a in get_args(tp) if a is not type(None)]
        if len(args) == 1 and len(get_args(tp)) == 2:
            return args[0], True
    return tp, False


def _converter(tp: Any) -> dict[str, Any]:
    if get_origin(tp) is tuple:
        item, *rest = get_args(tp)
        if rest != [Ellipsis]:
            raise TypeError(f"no command-line form for fixed-length tuples {tp!r}")
        return {"nargs": "*", **_converter(item)}
    if get_origin(tp) is Literal:
        choices = get_args(tp)
        return {"choices": choices, "type": type(choices[0])}
    if tp in (str, int, float):
        return {"type": tp}
    if tp is Path:
        return {"type": Path}
    raise TypeError(f"no command-line form for fields of type {tp!r}")


def _field_default(f: dataclasses.Field[Any], defaults: Any) -> Any:
    """A field's default: from the enclosing config's default instance when nested, else its own."""
    if defaults is not None:
        return getattr(defaults, f.name)
    if f.default is not dataclasses.MISSING:
        return f.default
    if f.default_factory is not dataclasses.MISSING:
        return f.default_factory()
    return dataclasses.MISSING


def add_arguments(
    parser: argparse.ArgumentParser,
    cls: type,
    prefix: str = "",
    defaults: Any = None,
    aliases: dict[str, str] | None = None,
) -> None:
    """Add one argument per field of the dataclass `cls` (recursing into nested dataclasses).

    A nested config takes its defaults from the enclosing field's default (so an algorithm can
    default `optim.lr` differently from `OptimizerConfig`'s own default), and the extra flag
    spellings its field declares with `rlhf.fields.nested(..., aliases=...)`.
    """
    hints = typing.get_type_hints(cls)
    docs = field_docs(cls)
    for f in dataclasses.fields(cls):
        if not f.init:
            continue
        tp, optional = _unwrap_optional(hints[f.name])
        dest = f"{prefix}{f.name}"
        help_text = docs.get(f.name, "")
        field_default = _field_default(f, defaults)
        has_default = field_default is not dataclasses.MISSING
        default = field_default if has_default else None
        if dataclasses.is_dataclass(tp):
            group = parser.add_argument_group(dest, help_text or None)
            add_arguments(group, tp, prefix=f"{dest}.", defaults=default,  # type: ignore[arg-type]
                          aliases=f.metadata.get(FLAG_ALIASES))  # fmt: skip
            continue
        flags = ["--" + dest.replace("_", "-")]
        if aliases and f.name in aliases:
            flags.append(aliases[f.name])
        if tp is bool:
            action = argparse.BooleanOptionalAction if default else "store_true"
            parser.add_argument(
                *flags, dest=dest, action=action, default=bool(default), help=help_text
            )
        elif f.metadata.get(POSITIONAL):
            nargs = "?" if has_default else None
            parser.add_argument(
                dest, nargs=nargs, default=default, help=help_text, **_converter(tp)
            )
        else:
            shown = "" if default is None else f" (default: {default})"
            parser.add_argument(
                *flags,
                dest=dest,
                default=default,
                required=not has_default and not optional,
                help=help_text + shown,
                **_converter(tp),
            )


def build(cls: type[T], namespace: argparse.Namespace, prefix: str = "") -> T:
    """Construct `cls` from parsed arguments (the inverse of `add_arguments`)."""
    hints = typing.get_type_hints(cls)
    values: dict[str, Any] = {}
    for f in dataclasses.fields(cls):  # type: ignore[arg-type]
        if not f.init:
            continue
        tp, _ = _unwrap_optional(hints[f.name])
        dest = f"{prefix}{f.name}"
        if dataclasses.is_dataclass(tp):
            values[f.name] = build(tp, namespace, prefix=f"{dest}.")  # type: ignore[arg-type]
        else:
            value = getattr(namespace, dest)
            values[f.name] = tuple(value) if get_origin(tp) is tuple else value
    return cls(**values)
