"""Label and field selectors, as in `?labelSelector=app=x,tier in (a,b)` (pure functions)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable, Mapping, Optional

_SET_TERM = re.compile(r"^\s*([\w./-]+)\s+(in|notin)\s+\((.*)\)\s*$")
_CMP_TERM = re.compile(r"^\s*([\w./-]+)\s*(==|=|!=)\s*([\w./-]*)\s*$")
_EXISTS_TERM = re.compile(r"^\s*(!?)\s*([\w./-]+)\s*$")


class SelectorError(ValueError):
    """The selector cannot be parsed (the API answers 400)."""


@dataclass(frozen=True)
class Requirement:
    key: str
    op: str  # "=", "!=", "in", "notin", "exists", "!exists"
    values: frozenset[str]

    def matches(self, labels: Mapping[str, str]) -> bool:
        value = labels.get(self.key)
        if self.op in ("=", "in"):
            return value is not None and value in self.values
        if self.op in ("!=", "notin"):
            return value is None or value not in self.values
        if self.op == "exists":
            return value is not None
        return value is None


def _split_terms(text: str) -> list[str]:
    terms, depth, current = [], 0, ""
    for char in text:
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        if char == "," and depth == 0:
            terms.append(current)
            current = ""
        else:
            current += char
    terms.append(current)
    return [t for t in terms if t.strip()]


def parse_label_selector(text: Optional[str]) -> list[Requirement]:
    requirements = []
    for term in _split_terms(text or ""):
        if m := _SET_TERM.match(term):
            values = frozenset(v.strip() for v in m.group(3).split(",") if v.strip())
            requirements.append(Requirement(m.group(1), m.group(2), values))
        elif m := _CMP_TERM.match(term):
            op = "=" if m.group(2) in ("=", "==") else "!="
            requirements.append(Requirement(m.group(1), op, frozenset([m.group(3)])))
        elif m := _EXISTS_TERM.match(term):
            op = "!exists" if m.group(1) else "exists"
            requirements.append(Requirement(m.group(2), op, frozenset()))
        else:
            raise SelectorError(f"unable to parse requirement: {term.strip()!r}")
    return requirements


def label_matcher(text: Optional[str]) -> Callable[[Mapping[str, str]], bool]:
    requirements = parse_label_selector(text)
    return lambda labels: all(r.matches(labels) for r in requirements)


_FIELDS: dict[str, Callable[[Mapping], Optional[str]]] = {
    "metadata.name": lambda o: o["metadata"]["name"],
    "metadata.namespace": lambda o: o["metadata"]["namespace"],
    "status.phase": lambda o: o["status"].get("phase"),
    "status.podIP": lambda o: o["status"].get("podIP"),
    "spec.nodeName": lambda o: o["spec"].get("nodeName"),
}


def _field_test(getter: Callable[[Mapping], Optional[str]], want: str,
                negate: bool) -> Callable[[Mapping], bool]:
    return lambda obj: (getter(obj) == want) != negate


def field_matcher(text: Optional[str]) -> Callable[[Mapping], bool]:
    """Field selectors on a pod object: `=`, `==` and `!=` on the fields pods support."""
    tests: list[Callable[[Mapping], bool]] = []
    for term in _split_terms(text or ""):
        m = _CMP_TERM.match(term)
        if not m or m.group(1) not in _FIELDS:
            raise SelectorError(f'"{term.strip()}" is not a known field selector')
        tests.append(_field_test(_FIELDS[m.group(1)], m.group(3), m.group(2) == "!="))
    return lambda obj: all(t(obj) for t in tests)
