"""A problem found by any stage, importer or tool, and how it is shown: ``path:line: doc_id: problem``."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Any


class Severity(str, Enum):
    ERROR = "error"
    WARNING = "warning"


@dataclass(frozen=True, order=True)
class Problem:
    """One finding of any stage: what is wrong, and exactly where it came from."""

    path: str
    line: int | None
    doc_id: str | None
    kind: str
    message: str
    severity: Severity = Severity.ERROR

    def format(self) -> str:
        """``path:line: doc_id: problem``, the form printed to stderr."""
        where = self.path if self.line is None else f"{self.path}:{self.line}"
        doc = self.doc_id if self.doc_id is not None else "-"
        prefix = "" if self.severity is Severity.ERROR else "warning: "
        return f"{where}: {doc}: {prefix}{self.kind}: {self.message}"

    def to_json(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "line": self.line,
            "doc_id": self.doc_id,
            "kind": self.kind,
            "message": self.message,
            "severity": self.severity.value,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Problem:
        return cls(
            path=data["path"],
            line=data.get("line"),
            doc_id=data.get("doc_id"),
            kind=data["kind"],
            message=data["message"],
            severity=Severity(data.get("severity", "error")),
        )
