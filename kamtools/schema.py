"""The data contract: canonical tables, columns, types, ranges, keys and references.

This module is the one place that defines what the kit expects from a client. The loaders
(:mod:`kamtools.io`) validate against it, the README's "send us these columns" table is generated
from it (:func:`contract_markdown`), and a test keeps the two in sync.

Kinds of column
---------------
``id``      text identifier; leading zeros survive, ``1001`` never becomes ``1001.0``
``text``    free text (names, segments); stripped of surrounding blanks
``date``    calendar date (ISO by default, day-first when the config says so)
``money``   currency amount; negative values are legitimate where ``allow_negative`` (credit notes)
``number``  other numeric measure (scores, hours, probabilities)
``bool``    yes/no (true/false, yes/no, 1/0, y/n, ja/nein, oui/non)
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = [
    "Column",
    "Table",
    "CONTRACT",
    "TABLE_NAMES",
    "canonical_columns",
    "contract_markdown",
    "ACCOUNT_ATTRIBUTES",
]


@dataclass(frozen=True)
class Column:
    """One canonical column.

    ``on_out_of_range`` says what the loader does with a value outside ``[min, max]``
    (or not in ``allowed``): ``"null"`` blanks that value and keeps the row (other fields of
    the row stay usable), ``"exclude"`` drops the row, ``"error"`` stops with a message.
    """

    name: str
    kind: str
    required: bool = False
    description: str = ""
    min: float | None = None
    max: float | None = None
    integer: bool = False
    allowed: tuple[str, ...] | None = None
    allow_negative: bool = True
    on_out_of_range: str = "null"

    @property
    def range_text(self) -> str:
        if self.allowed:
            return " / ".join(self.allowed)
        if self.min is not None and self.max is not None:
            lo = int(self.min) if float(self.min).is_integer() else self.min
            hi = int(self.max) if float(self.max).is_integer() else self.max
            return f"{lo}–{hi}" + (" (whole numbers)" if self.integer else "")
        if self.min is not None:
            return f"≥ {int(self.min) if float(self.min).is_integer() else self.min}"
        if self.kind == "money" and self.allow_negative:
            return "negative allowed (credit notes)"
        return ""


@dataclass(frozen=True)
class Table:
    """One canonical table: its columns, unique key and references to other tables."""

    name: str
    description: str
    columns: tuple[Column, ...]
    key: tuple[str, ...] = ()
    references: tuple[tuple[str, str], ...] = ()  # (column, "table.column")
    required_table: bool = False
    alternatives: tuple[tuple[str, str], ...] = field(default=())  # (column, "derivable from ...")

    def column(self, name: str) -> Column:
        for col in self.columns:
            if col.name == name:
                return col
        raise KeyError(name)

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.columns]

    @property
    def required(self) -> list[str]:
        return [c.name for c in self.columns if c.required]


_SCORE = dict(kind="number", min=1, max=5, integer=True, on_out_of_range="null")

CONTRACT: dict[str, Table] = {
    t.name: t
    for t in [
        Table(
            "accounts",
            "One row per account (optional: without it, accounts are those in the ledger).",
            (
                Column("account_id", "id", True, "Customer / account number, as in the ledger"),
                Column("account_name", "text", description="Account name as shown in reports"),
                Column("segment", "text", description="e.g. Enterprise / Mid-market / SMB"),
                Column("industry", "text", description="Industry or sector"),
                Column("region", "text", description="Sales region"),
                Column("account_manager", "text", description="Responsible account manager"),
                Column("is_key_account", "bool", description="On the client's current key-account list"),
                Column("kam_start", "date", description="Date the account entered the KAM programme (empty = never)"),
                Column("wallet_estimate", "money", description="Estimated yearly spend of the customer in our categories",
                       min=0, allow_negative=False),
                Column("product_fit", description="How well our offer fits the account's needs (1–5)", **_SCORE),
                Column("strategic_value", description="Strategic value to us (1–5)", **_SCORE),
                Column("relationship_strength", description="Relationship stage: 1 exploratory … 5 integrated", **_SCORE),
                Column("logo_appeal", description="Reference / prestige value of the logo (1–5)", **_SCORE),
                Column("renewal_likelihood", "number", description="Probability the account renews / stays (0–1)",
                       min=0, max=1),
                Column("cost_to_serve", "money", description="Yearly cost to serve the account",
                       min=0, allow_negative=False),
            ),
            key=("account_id",),
        ),
        Table(
            "transactions",
            "One row per invoice line or order (the ledger). The only required table.",
            (
                Column("account_id", "id", True, "Customer / account number"),
                Column("date", "date", True, "Invoice or order date"),
                Column("revenue", "money", True, "Net revenue of the line; credit notes are negative"),
                Column("gross_margin", "money", description="Revenue minus cost of goods (or give `cost` and derive it)"),
                Column("product", "text", description="Product or product line"),
                Column("order_id", "id", description="Order or invoice number"),
            ),
            references=(("account_id", "accounts.account_id"),),
            required_table=True,
            alternatives=(("gross_margin", "revenue − cost via `derive`"),
                          ("revenue", "quantity × unit price via `derive`")),
        ),
        Table(
            "surveys",
            "One row per survey response.",
            (
                Column("account_id", "id", True, "Responding account"),
                Column("date", "date", True, "Response date"),
                Column("nps", "number", description="Likelihood to recommend, 0–10", min=0, max=10, integer=True),
                Column("csat", "number", description="Satisfaction, 1–5", min=1, max=5, integer=True),
                Column("referenceable", "bool", description="Agreed to act as a reference"),
            ),
            references=(("account_id", "accounts.account_id"),),
        ),
        Table(
            "interactions",
            "One row per touchpoint (meeting, call, e-mail, visit).",
            (
                Column("account_id", "id", True, "Account touched"),
                Column("date", "date", True, "Date of the contact"),
                Column("channel", "text", description="e.g. meeting / call / email / visit"),
                Column("direction", "text", description="in (customer-initiated) or out", allowed=("in", "out")),
                Column("response_hours", "number", description="Hours to respond to an inbound contact", min=0),
            ),
            references=(("account_id", "accounts.account_id"),),
        ),
        Table(
            "outcomes",
            "One row per goal agreed with the customer.",
            (
                Column("account_id", "id", True, "Account"),
                Column("goal", "text", True, "The agreed goal"),
                Column("target_date", "date", description="When it is due"),
                Column("achieved", "bool", description="Met or not"),
            ),
            references=(("account_id", "accounts.account_id"),),
        ),
        Table(
            "prospects",
            "One row per prospect contacted (for the acquisition rate).",
            (
                Column("prospect_id", "id", True, "Prospect identifier"),
                Column("first_contact", "date", description="First contact date"),
                Column("converted", "date", description="Date converted to a customer (empty = not converted)"),
                Column("channel", "text", description="Acquisition channel"),
            ),
            key=("prospect_id",),
        ),
        Table(
            "manager_surveys",
            "Account-manager satisfaction survey responses.",
            (
                Column("account_manager", "text", True, "Account manager"),
                Column("date", "date", True, "Survey date"),
                Column("satisfaction", "number", description="Satisfaction, 1–5", min=1, max=5, integer=True),
            ),
        ),
        Table(
            "programme_costs",
            "KAM programme costs per period (salaries, travel, tools, discounts).",
            (
                Column("period", "date", True, "Start date of the period"),
                Column("cost", "money", True, "Cost in the period", min=0, allow_negative=False,
                       on_out_of_range="error"),
                Column("item", "text", description="Cost item, e.g. salaries / travel / tools / discounts"),
            ),
        ),
    ]
}

TABLE_NAMES: tuple[str, ...] = tuple(CONTRACT)

# Account attributes a flat ledger may carry; taken per account (most recent value) when there
# is no accounts table.
ACCOUNT_ATTRIBUTES: tuple[str, ...] = (
    "account_name", "segment", "industry", "region", "account_manager", "is_key_account", "kam_start",
)


def canonical_columns(table: str) -> list[str]:
    """Canonical column names of ``table`` in contract order."""
    return CONTRACT[table].names


def contract_markdown() -> str:
    """The contract as a Markdown table a consultant can send to a client."""
    lines = [
        "| table | column | required | type | allowed values | meaning |",
        "|---|---|---|---|---|---|",
    ]
    for table in CONTRACT.values():
        for col in table.columns:
            req = "**yes**" if col.required else ""
            lines.append(
                f"| {table.name} | `{col.name}` | {req} | {col.kind} | {col.range_text} | {col.description} |"
            )
    return "\n".join(lines)
