"""The data-quality log: every rule that fired, how many rows it touched, what was done.

Row accounting is an invariant: for every table, rows read = rows kept + rows excluded, and each
exclusion carries a reason. :class:`DataQuality` is filled by the loaders and shown in the report's
data-quality part and by ``kam validate``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

__all__ = ["DataQuality", "QualityEntry", "ACTIONS", "format_examples"]

#: What a rule did to the rows it touched.
ACTIONS = ("rejected", "excluded", "corrected", "flagged", "info")


def format_examples(rows, values=None, limit: int = 5) -> str:
    """``'rows 17, 42, 105: 'n/a', '12,5O', '''`` — the first offending rows for a message."""
    rows = [r.item() if isinstance(r, np.generic) else r for r in list(rows)[:limit]]
    if not rows:
        return ""
    text = "row " if len(rows) == 1 else "rows "
    text += ", ".join(str(r) for r in rows)
    if values is not None:
        shown = [v.item() if isinstance(v, np.generic) else v for v in list(values)[:limit]]
        text += ": " + ", ".join(repr(v) for v in shown)
    return text


@dataclass(frozen=True)
class QualityEntry:
    table: str
    file: str
    rule: str
    column: str | None
    rows: int
    action: str
    detail: str = ""
    examples: str = ""


@dataclass
class DataQuality:
    """A log of data-quality rules and the row accounting of every table."""

    _entries: list[QualityEntry] = field(default_factory=list)
    _accounting: dict[str, dict] = field(default_factory=dict)

    def add(self, table, file, rule, *, column=None, rows=0, action="info", detail="", examples="") -> None:
        if action not in ACTIONS:
            raise ValueError(f"action must be one of {ACTIONS}, got {action!r}")
        self._entries.append(
            QualityEntry(table, str(file), rule, column, int(rows), action, detail, examples)
        )

    def account(self, table: str, file: str, *, read: int, kept: int, excluded: dict[str, int]) -> None:
        """Record the row accounting of one table; ``excluded`` maps reason -> rows."""
        total_excluded = int(sum(excluded.values()))
        if read != kept + total_excluded:  # the invariant; a failure here is a bug in the loader
            raise AssertionError(
                f"row accounting broken for {table}: read {read} != kept {kept} + excluded {total_excluded}"
            )
        self._accounting[table] = {
            "table": table,
            "file": str(file),
            "rows_read": int(read),
            "rows_kept": int(kept),
            "rows_excluded": total_excluded,
            "excluded_by_reason": dict(excluded),
        }

    @property
    def entries(self) -> pd.DataFrame:
        cols = ["table", "file", "rule", "column", "rows", "action", "detail", "examples"]
        if not self._entries:
            return pd.DataFrame(columns=cols)
        return pd.DataFrame([e.__dict__ for e in self._entries], columns=cols)

    @property
    def accounting(self) -> pd.DataFrame:
        cols = ["table", "file", "rows_read", "rows_kept", "rows_excluded"]
        rows = [{k: v for k, v in a.items() if k in cols} for a in self._accounting.values()]
        return pd.DataFrame(rows, columns=cols)

    @property
    def exclusions(self) -> pd.DataFrame:
        """Excluded rows by table and reason (tidy)."""
        rows = [
            {"table": t, "reason": reason, "rows": n}
            for t, a in self._accounting.items()
            for reason, n in a["excluded_by_reason"].items()
            if n
        ]
        return pd.DataFrame(rows, columns=["table", "reason", "rows"])

    @property
    def ok(self) -> bool:
        """True when no rule rejected data (the data are usable)."""
        return not any(e.action == "rejected" for e in self._entries)

    @property
    def n_issues(self) -> int:
        return sum(1 for e in self._entries if e.action in ("excluded", "corrected", "flagged", "rejected"))

    def to_text(self) -> str:
        """A readable table for the terminal (``kam validate``)."""
        lines = ["Row accounting (rows read = kept + excluded):"]
        acc = self.accounting
        if acc.empty:
            lines.append("  (no tables)")
        for rec in acc.itertuples(index=False):
            lines.append(
                f"  {rec.table:<16} read {rec.rows_read:>10,}  kept {rec.rows_kept:>10,}  "
                f"excluded {rec.rows_excluded:>8,}   {rec.file}"
            )
        lines.append("")
        entries = self.entries
        if entries.empty:
            lines.append("Data-quality log: clean (no rule fired).")
        else:
            lines.append("Data-quality log:")
            for e in entries.itertuples(index=False):
                col = f" [{e.column}]" if isinstance(e.column, str) and e.column else ""
                count = f" ({e.rows:,} {'row' if e.rows == 1 else 'rows'})" if e.rows else ""
                lines.append(f"  {e.action:<9} {e.table}{col}: {e.rule}{count}")
                if e.detail:
                    lines.append(f"            {e.detail}")
                if e.examples:
                    lines.append(f"            {e.examples}")
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        acc = self.accounting.to_html(index=False, escape=True)
        ent = self.entries.drop(columns=["file"]).to_html(index=False, escape=True)
        return f"<h4>Row accounting</h4>{acc}<h4>Data-quality log</h4>{ent}"

    def __str__(self) -> str:  # pragma: no cover - convenience
        return self.to_text()



