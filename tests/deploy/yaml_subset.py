"""A strict reader for the small part of YAML that deploy/docker-compose.yml uses.

PyYAML is not a dependency, and the compose file is worth checking structurally, so this reads
block mappings, sequences of scalars, JSON-style flow sequences, double-quoted or plain scalars,
full-line comments, anchors, aliases and `<<` merge keys — and refuses anything else, so that what
it accepts means the same to YAML proper (and to `docker compose`).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

_KEY = re.compile(r"^(?P<key>[A-Za-z0-9_.<-]+):(?: +(?P<rest>.*))?$")


class UnsupportedYaml(ValueError):
    pass


@dataclass(frozen=True)
class _Line:
    number: int
    indent: int
    text: str


def load(text: str) -> Any:
    lines = []
    for number, raw in enumerate(text.splitlines(), 1):
        stripped = raw.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if "\t" in raw or " #" in raw or stripped.startswith(("'", "{", "|", ">")):
            raise UnsupportedYaml(f"line {number}: outside the supported subset: {raw!r}")
        lines.append(_Line(number, len(raw) - len(raw.lstrip(" ")), stripped))
    reader = _Reader(lines)
    value = reader.node(0)
    if reader.position != len(lines):
        raise UnsupportedYaml(f"line {lines[reader.position].number}: unexpected indentation")
    return value


class _Reader:
    def __init__(self, lines: list[_Line]) -> None:
        self.lines = lines
        self.position = 0
        self.anchors: dict[str, Any] = {}

    def node(self, indent: int) -> Any:
        line = self.lines[self.position]
        if line.indent != indent:
            raise UnsupportedYaml(f"line {line.number}: expected indentation {indent}")
        return self.sequence(indent) if line.text.startswith("- ") else self.mapping(indent)

    def sequence(self, indent: int) -> list[Any]:
        items = []
        while self._at(indent) and self.lines[self.position].text.startswith("- "):
            items.append(_scalar(self.lines[self.position].text[2:].strip()))
            self.position += 1
        return items

    def mapping(self, indent: int) -> dict[str, Any]:
        explicit: dict[str, Any] = {}
        merged: dict[str, Any] = {}
        while self._at(indent):
            line = self.lines[self.position]
            match = _KEY.match(line.text)
            if match is None or match["key"] in explicit:
                raise UnsupportedYaml(f"line {line.number}: not a new `key: value`: {line.text!r}")
            self.position += 1
            value = self.value(match["rest"] or "", line)
            if match["key"] == "<<":
                merged.update(value)
            else:
                explicit[match["key"]] = value
        return {**merged, **explicit}  # explicit keys win over merged ones, wherever they stand

    def value(self, rest: str, line: _Line) -> Any:
        if rest.startswith("*"):
            return self.anchors[rest[1:]]
        anchor = None
        if rest.startswith("&"):
            anchor, _, rest = rest[1:].partition(" ")
        if rest.startswith("["):
            value = self.flow(rest, line)
        elif rest:
            value = _scalar(rest)
        elif self._at_deeper(line.indent):
            value = self.node(self.lines[self.position].indent)
        else:
            value = None
        if anchor:
            self.anchors[anchor] = value
        return value

    def flow(self, text: str, line: _Line) -> Any:
        """A flow sequence written as JSON, possibly over several lines."""
        while text.count("[") != text.count("]"):
            if not self._at_deeper(line.indent):
                raise UnsupportedYaml(f"line {line.number}: unclosed flow sequence")
            text += " " + self.lines[self.position].text
            self.position += 1
        try:
            return json.loads(text)
        except json.JSONDecodeError as error:
            raise UnsupportedYaml(f"line {line.number}: not a JSON list: {error}") from None

    def _at(self, indent: int) -> bool:
        return self.position < len(self.lines) and self.lines[self.position].indent == indent

    def _at_deeper(self, indent: int) -> bool:
        return self.position < len(self.lines) and self.lines[self.position].indent > indent


def _scalar(text: str) -> Any:
    if text.startswith('"'):
        return json.loads(text)
    if text in ("true", "false"):
        return text == "true"
    if re.fullmatch(r"-?[0-9]+", text):
        return int(text)
    if (
        text[0] in "&*!%@`[]{}'|>"
        or ": " in text
        or text in ("null", "~", "yes", "no", "on", "off")
    ):
        raise UnsupportedYaml(f"quote this scalar: {text!r}")
    return text
