"""YAML reading for the fleet: fast loads, and line numbers only when an error needs one.

The happy path uses libyaml's C loader. Line lookup composes the node tree (slower), so it
runs only when there is a problem to report.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

try:  # libyaml is in every PyYAML wheel we install; fall back to pure Python elsewhere
    _BaseLoader = yaml.CSafeLoader
except AttributeError:  # pragma: no cover
    _BaseLoader = yaml.SafeLoader


class _Loader(_BaseLoader):  # type: ignore[misc,valid-type]
    """Safe loading, plus two guards that keep mistakes visible and located.

    - a duplicate key is an error (PyYAML keeps the last silently; Helm refuses the file);
    - a timestamp-looking scalar that is no real date (`2026-13-01`) stays a string, so the
      model reports it with its key and line instead of the parser failing without either.
    """

    def construct_mapping(self, node, deep=False):
        if isinstance(node, yaml.MappingNode):
            seen: set[str] = set()
            for key_node, _ in node.value:
                if isinstance(key_node, yaml.ScalarNode) and key_node.tag != "tag:yaml.org,2002:merge":
                    if key_node.value in seen:
                        raise yaml.constructor.ConstructorError(
                            "while constructing a mapping",
                            node.start_mark,
                            f"found duplicate key {key_node.value!r}",
                            key_node.start_mark,
                        )
                    seen.add(key_node.value)
        return super().construct_mapping(node, deep=deep)

    def construct_yaml_timestamp(self, node):
        try:
            return super().construct_yaml_timestamp(node)
        except ValueError:
            return self.construct_scalar(node)


_Loader.add_constructor("tag:yaml.org,2002:timestamp", _Loader.construct_yaml_timestamp)

Loc = tuple[str | int, ...]


def load_yaml(path: Path) -> Any:
    """Parse one YAML document. Raises yaml.YAMLError (with its mark) on bad syntax."""
    with open(path, "rb") as f:
        return yaml.load(f, Loader=_Loader)


def parse_yaml(data: bytes | str) -> Any:
    """Parse YAML held in memory (e.g. a file at another git commit), as load_yaml does."""
    return yaml.load(data, Loader=_Loader)


def load_data_file(path: Path) -> Any:
    """Parse a YAML or JSON file by its suffix (JSON is YAML, but json is faster and stricter)."""
    if path.suffix == ".json":
        with open(path, "rb") as f:
            return json.load(f)
    return load_yaml(path)


def yaml_error_line(err: yaml.YAMLError) -> int | None:
    mark = getattr(err, "problem_mark", None) or getattr(err, "context_mark", None)
    return mark.line + 1 if mark is not None else None


def yaml_error_text(err: yaml.YAMLError) -> str:
    if isinstance(err, yaml.reader.ReaderError):  # its str() carries the absolute path
        return f"invalid YAML: cannot read character at byte {err.position} ({err.reason})"
    problem = getattr(err, "problem", None)
    context = getattr(err, "context", None)
    if problem:
        return f"invalid YAML: {context + ', ' if context else ''}{problem}"
    return f"invalid YAML: {err}"


def format_loc(loc: Loc) -> str:
    """('hubs', 2, 'domain') -> 'hubs[2].domain'."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


@lru_cache(maxsize=64)
def _compose(path: Path, mtime_ns: int) -> yaml.Node | None:
    with open(path, "rb") as f:
        return yaml.compose(f, Loader=_Loader)


def line_of(path: Path, loc: Loc) -> int | None:
    """The 1-based line of the deepest node of `loc` that exists in the file.

    For a mapping key, the line of the key itself (where a person looks to fix it).
    """
    try:
        node = _compose(path, path.stat().st_mtime_ns)
    except (OSError, yaml.YAMLError):
        return None
    if node is None:
        return None
    line = node.start_mark.line + 1
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            for key_node, value_node in node.value:
                if key_node.value == part:
                    line = key_node.start_mark.line + 1
                    node = value_node
                    break
            else:
                return line
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int):
            if part >= len(node.value):
                return line
            node = node.value[part]
            line = node.start_mark.line + 1
        else:
            return line
    return line
