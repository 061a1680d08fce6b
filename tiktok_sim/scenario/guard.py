"""Refuse YAML whose structure could overwhelm the loader, before anything is built from it.

ruamel builds nested nodes recursively, so a few hundred levels of ``[[[`` exhaust Python's
stack; aliases let a few lines stand for billions of values; tags and merge keys make it
build objects (or merged maps) the scenario schema never describes. The parser's event
stream is flat, cheap and positioned, so this module walks it first and stops at the
first event that crosses a limit.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NoReturn

from ruamel.yaml import YAML
from ruamel.yaml.events import (
    AliasEvent,
    CollectionEndEvent,
    CollectionStartEvent,
    Event,
    MappingStartEvent,
    NodeEvent,
    ScalarEvent,
    SequenceStartEvent,
)

MAX_DEPTH = 40
"""Levels of nested lists and maps (the top-level map is 1); scenarios use about 6."""
MAX_NODES = 10_000
"""Keys and values, with every alias counted as the values it stands for; the defaults use about 400."""
_CORE_TAGS = "tag:yaml.org,2002:"


class HostileYAML(Exception):
    """YAML the loader refuses to build, at the 1-based line and column of the offending event."""

    def __init__(self, line: int, col: int, path: str, message: str) -> None:
        """Keep where the problem is, the key path leading there, and what was expected."""
        super().__init__(message)
        self.line, self.col, self.path, self.message = line, col, path, message


def check_structure(text: str) -> None:
    """Walk ``text``'s events and refuse the first one that breaks a limit.

    Syntax errors propagate as ruamel's own ``YAMLError`` at the same position the full
    load would report them.

    Raises:
        HostileYAML: nesting deeper than MAX_DEPTH, more than MAX_NODES values once aliases
            are expanded, an alias inside the node it names, an explicit tag, a merge key, or
            a key that is a list, a map or an alias.
    """
    walk = _Walk()
    for event in YAML(typ="rt", pure=True).parse(text):
        if isinstance(event, CollectionEndEvent):
            walk.close()
        elif isinstance(event, NodeEvent):
            walk.node(event)


@dataclass
class _Open:
    """A list or map whose end has not come yet."""

    mapping: bool
    anchor: str | None
    nodes_before: int
    items: int = 0  # children so far; in a map keys and values alternate
    key: str = "?"


@dataclass
class _Walk:
    """The walk's state: open collections, values counted, and each anchor's expanded size."""

    open: list[_Open] = field(default_factory=list)
    nodes: int = 0
    sizes: dict[str, int] = field(default_factory=dict)

    def node(self, event: NodeEvent) -> None:
        """A scalar, an alias, or the start of a list or map."""
        parent = self.open[-1] if self.open else None
        is_key = parent is not None and parent.mapping and parent.items % 2 == 0
        if parent is not None and is_key:
            parent.key = str(event.value) if isinstance(event, ScalarEvent) else "?"
        self._refuse_tags_and_merges(event, is_key)
        self.nodes += self._expanded_size(event)
        if self.nodes > MAX_NODES:
            self._fail(event, f"expected at most {MAX_NODES:,} keys and values (aliases count in full), found more")
        if isinstance(event, CollectionStartEvent):
            if len(self.open) >= MAX_DEPTH:
                self._fail(event, f"expected at most {MAX_DEPTH} levels of nesting, found more")
            mapping = isinstance(event, MappingStartEvent)
            self.open.append(_Open(mapping, event.anchor, self.nodes - 1))
            return
        if isinstance(event, ScalarEvent) and event.anchor is not None:
            self.sizes[event.anchor] = 1  # an alias event's anchor is the name it refers to
        if parent is not None:
            parent.items += 1

    def close(self) -> None:
        """The end of the innermost list or map: its anchor's size is now known."""
        done = self.open.pop()
        if done.anchor is not None:
            self.sizes[done.anchor] = self.nodes - done.nodes_before
        if self.open:
            self.open[-1].items += 1

    def _refuse_tags_and_merges(self, event: NodeEvent, is_key: bool) -> None:
        tag = getattr(event, "tag", None)
        if tag is not None:
            shown = "!!" + tag.removeprefix(_CORE_TAGS) if tag.startswith(_CORE_TAGS) else tag
            self._fail(event, f"expected plain YAML values, found the tag {shown}")
        if is_key and isinstance(event, ScalarEvent) and event.value == "<<" and event.style is None:
            self._fail(event, "expected plain keys, found a merge key (<<); write the keys out")
        if is_key and not isinstance(event, ScalarEvent):  # a `? [a, b]` complex key, or an alias as a key
            found = "a list" if isinstance(event, SequenceStartEvent) else "a map"
            found = "an alias" if isinstance(event, AliasEvent) else found
            self._fail(event, f"expected a plain key (a name), found {found} as a key")

    def _expanded_size(self, event: NodeEvent) -> int:
        if not isinstance(event, AliasEvent):
            return 1
        if any(o.anchor == event.anchor for o in self.open):
            self._fail(event, f"expected an alias to a finished value, found *{event.anchor} inside &{event.anchor}")
        return self.sizes.get(event.anchor, 1)  # an undefined alias is the full load's error to report

    def _fail(self, event: Event, message: str) -> NoReturn:
        steps = [o.key if o.mapping else str(o.items) for o in self.open]
        path = ".".join(steps) if len(steps) <= 6 else ".".join(steps[:3]) + "..."
        mark = event.start_mark
        raise HostileYAML(mark.line + 1, mark.column + 1, path, message)
