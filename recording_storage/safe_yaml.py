"""Load YAML written by people we do not fully trust, with limits on size and expansion.

``yaml.safe_load`` builds no arbitrary objects, but it happily loads a small document whose
aliases refer to aliases ("billion laughs"): nine lines can stand for 10^9 values. PyYAML
shares the aliased node instead of copying it, so loading is cheap; the cost comes later,
when anything walks the result (validation, ``repr``, JSON encoding) and the process hangs or
runs out of memory. A recursive alias (``&a [*a]``) makes every walk endless.

So every YAML input of the service (the instances file, topics.yml) goes through
``load_yaml``/``read_yaml_file``, which refuse, before any value is built:

- a document larger than ``max_bytes`` (a file is never read past that);
- a node graph that, with every alias expanded, has more than ``max_values`` values;
- nesting deeper than ``max_depth``, and recursive aliases.

Ordinary anchors and aliases, such as ``<<: *defaults`` merge keys, stay allowed: only the
expanded size counts. The error (``UnsafeYamlError``, a ``yaml.YAMLError``) names the source
and the limit, so callers that already report YAML errors report these too.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

DEFAULT_MAX_VALUES = 200_000
DEFAULT_MAX_DEPTH = 64


class UnsafeYamlError(yaml.YAMLError):
    """The document is refused by a limit; the message names the source and the limit."""


def load_yaml(
    text: str,
    *,
    source: str,
    max_bytes: int,
    max_values: int = DEFAULT_MAX_VALUES,
    max_depth: int = DEFAULT_MAX_DEPTH,
) -> Any:
    """Parse one YAML document like ``yaml.safe_load``, within the limits above."""
    size = len(text.encode("utf-8", "surrogatepass"))
    if size > max_bytes:
        raise UnsafeYamlError(f"{source}: refused, {size} bytes is more than {max_bytes}")
    loader = yaml.SafeLoader(text)
    try:
        try:
            node = loader.get_single_node()
        except RecursionError:  # "[[[[..." exhausts the composer's stack
            raise UnsafeYamlError(f"{source}: refused, nested too deeply") from None
        if node is None:
            return None
        _Limits(source, max_values, max_depth).measure(node, 1)
        return loader.construct_document(node)
    finally:
        loader.dispose()


def read_yaml_file(
    path: str | Path,
    *,
    max_bytes: int,
    max_values: int = DEFAULT_MAX_VALUES,
    max_depth: int = DEFAULT_MAX_DEPTH,
) -> Any:
    """Read ``path`` (UTF-8) and ``load_yaml`` it; never reads more than ``max_bytes + 1``.

    Raises OSError and UnicodeDecodeError as reading does, UnsafeYamlError/YAMLError as
    parsing does.
    """
    path = Path(path)
    with path.open("rb") as stream:
        data = stream.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise UnsafeYamlError(f"{path}: refused, larger than {max_bytes} bytes")
    return load_yaml(
        data.decode("utf-8"),
        source=str(path),
        max_bytes=max_bytes,
        max_values=max_values,
        max_depth=max_depth,
    )


class _Limits:
    """Counts the values of a node graph as if every alias were copied (memoised per node)."""

    def __init__(self, source: str, max_values: int, max_depth: int) -> None:
        self.source = source
        self.max_values = max_values
        self.max_depth = max_depth
        self._measured: dict[int, tuple[int, int]] = {}  # id(node) -> (values, height)
        self._open: set[int] = set()

    def measure(self, node: yaml.Node, depth: int) -> tuple[int, int]:
        key = id(node)
        if key in self._measured:
            values, height = self._measured[key]
        else:
            if key in self._open:
                raise UnsafeYamlError(f"{self.source}: refused, an alias refers to itself")
            if depth > self.max_depth:
                raise self._too_deep()
            self._open.add(key)
            values, height = 1, 1
            for child in _children(node):
                child_values, child_height = self.measure(child, depth + 1)
                values += child_values
                height = max(height, child_height + 1)
                if values > self.max_values:
                    raise UnsafeYamlError(
                        f"{self.source}: refused, its aliases expand to more than "
                        f"{self.max_values} values (an alias bomb?)"
                    )
            self._open.discard(key)
            self._measured[key] = (values, height)
        if depth - 1 + height > self.max_depth:
            raise self._too_deep()
        return values, height

    def _too_deep(self) -> UnsafeYamlError:
        return UnsafeYamlError(
            f"{self.source}: refused, nested more than {self.max_depth} levels deep"
        )


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    return []
