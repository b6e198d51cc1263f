"""Cost reports: the stable table people and tools read, its reconciliation, summary and chart.

Report columns (stable; the README documents them):

| column | meaning |
|---|---|
| `month` / `date` | the period: `YYYY-MM` (monthly report) or `YYYY-MM-DD` (daily) |
| `cluster` | fleet cluster; for unknown-cluster lines the GKE cluster label; "" when none |
| `hub` | hub name in `cluster` ("" for a line not charged to a hub) |
| `line` | `hub` (direct cost), a shared line or an unknown one (below) |
| `namespace` | the k8s-namespace label of the rows ("" when absent) |
| `project` | GCP project id of the rows |
| `sharing_policy` | the fleet's costs.sharing (`proportional`, `even`, `none`) |
| `shared_by` | how this row's share of a shared line was split (`proportional`, `even`); "" otherwise |
| `currency` | the billing account's currency |
| `cost` | cost before credits |
| `credits` | sum of the rows' credits (negative) |
| `net_cost` | cost + credits; the column sums to the export's net total for the period, to the cent |
| `provider` | the cloud whose export the rows come from: `gcp`, `aws` (last, so older readers keep working) |

The monthly report of the asset appends `active_users`, `cost_per_active_user` and `home_bytes`
(see with_usage).

Shared lines: `idle`, `system-overhead`, `support`, `kube-system`, `cluster-unattributed`,
`project-untagged`. Unknown lines: `unknown-namespace`, `unknown-cluster`, `unknown-project`.

Amounts are exact integer nanos until here; each column is rounded to cents once, giving the
leftover cents to the largest remainders, so a report's net_cost sums exactly to its lines'
total rounded to the cent (half to even), and net_cost = cost + credits on every row. A daily
table is rounded day by day: each day's rows sum to that day's total. If attribution lost or
doubled a row, that sum would differ from the export's own total: `reconcile` tells.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from hub_ops.clients.storage import Storage
from hub_ops.costs.attribution import HUB, LINE_ORDER, attribute, ordered_lines
from hub_ops.costs.usage import Usage
from hub_ops.fleet import Fleet

CENT = 10**7  # nanos per cent
KEY_COLUMNS = ["cluster", "hub", "line", "namespace", "project", "sharing_policy", "shared_by", "currency"]
AMOUNT_COLUMNS = ["cost", "credits", "net_cost"]
TRAILING_COLUMNS = ["provider"]  # added after the amounts: column positions of older reports hold
METADATA_KEY = b"hub_ops.cost_report"


def cents_half_even(nanos: int) -> int:
    quotient, remainder = divmod(int(nanos), CENT)
    if 2 * remainder > CENT or (2 * remainder == CENT and quotient % 2):
        quotient += 1
    return quotient


def round_to_cents(nanos: np.ndarray | list[int]) -> np.ndarray:
    """Each amount in cents, such that the cents add up to the total rounded half to even."""
    values = [int(v) for v in nanos]
    floors = [v // CENT for v in values]
    extra = cents_half_even(sum(values)) - sum(floors)
    for i in sorted(range(len(values)), key=lambda i: -(values[i] % CENT))[:extra]:
        floors[i] += 1
    return np.array(floors, dtype=np.int64)


def _cents(cost_nanos: np.ndarray, credit_nanos: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Cost and credits in cents, each column adding up to its rounded total, and net (their
    sum) adding up to the rounded net total: rounding the two columns apart can miss that by
    one cent, which then goes to the largest line (into its credits when it has any)."""
    cost, credits = round_to_cents(cost_nanos), round_to_cents(credit_nanos)
    missing = cents_half_even(int(sum(int(v) for v in cost_nanos) + sum(int(v) for v in credit_nanos))) - int(
        (cost + credits).sum()
    )
    if missing:
        largest = int(np.argmax(np.abs(cost_nanos + credit_nanos)))
        (credits if credit_nanos[largest] else cost)[largest] += missing
    return cost, credits


@dataclass
class CostReport:
    """The lines of a period (per day, exact nanos) and the export's own totals."""

    lines: pd.DataFrame  # attribution.LINE_COLUMNS
    usage: Usage
    policy: str
    currency: str

    @classmethod
    def build(cls, usage: Usage, fleet: Fleet, policy: str | None = None) -> CostReport:
        """Attribute a period's usage. Refuses mixed currencies (MixedCurrencyError)."""
        policy = policy or fleet.settings.costs.sharing
        currency = usage.currency
        return cls(attribute(usage, fleet, policy), usage, policy, currency)

    @property
    def export_net_nanos(self) -> int:
        return self.usage.net_nanos

    def days(self) -> list[dt.date]:
        start, end = self.usage.start, self.usage.end
        return [start + dt.timedelta(days=i) for i in range((end - start).days)]

    def table(self, period: str = "month", day: dt.date | None = None) -> pd.DataFrame:
        """The report table: one row per cluster/hub/line (per `date` when period="date").

        period="month": the whole period as one month label (usage.start's month);
        period="date": one block of rows per day; `day` restricts it to that day.
        """
        lines = self.lines if day is None else self.lines[self.lines["day"] == day]
        frame = lines.assign(sharing_policy=self.policy)
        if period == "date":
            frame = frame.assign(date=frame["day"].map(lambda d: d.isoformat()))
            keys = ["date"] + KEY_COLUMNS + TRAILING_COLUMNS
        else:
            frame = frame.assign(month=self.usage.start.strftime("%Y-%m"))
            keys = ["month"] + KEY_COLUMNS + TRAILING_COLUMNS
        summed = frame.groupby(keys, as_index=False, sort=False)[["cost_nanos", "credits_nanos"]].sum()
        summed["net_nanos"] = summed["cost_nanos"] + summed["credits_nanos"]
        parts = []
        for _, block in summed.groupby(keys[0], sort=True):
            block = block.copy()
            cost_cents, credit_cents = _cents(block["cost_nanos"].to_numpy(), block["credits_nanos"].to_numpy())
            block["cost"] = cost_cents / 100
            block["credits"] = credit_cents / 100
            block["net_cost"] = (cost_cents + credit_cents) / 100
            parts.append(block)
        columns = keys[: -len(TRAILING_COLUMNS)] + AMOUNT_COLUMNS + TRAILING_COLUMNS
        if not parts:
            return pd.DataFrame(columns=columns)
        table = pd.concat(parts, ignore_index=True)[columns]
        return ordered_lines(table)

    def export_net_nanos_by_day(self) -> dict[str, int]:
        totals = self.usage.totals
        by_day = (totals["cost_nanos"] + totals["credits_nanos"]).groupby(totals["day"]).sum()
        return {day.isoformat(): int(v) for day, v in by_day.items()}

    def export_totals(self, day: dt.date | None = None) -> dict:
        totals = self.usage.totals if day is None else self.usage.totals[self.usage.totals["day"] == day]
        cost, credits = int(totals["cost_nanos"].sum()), int(totals["credits_nanos"].sum())
        return {
            "currency": self.currency,
            "rows": int(totals["rows"].sum()),
            "cost": cents_half_even(cost) / 100,
            "net_cost": cents_half_even(cost + credits) / 100,
            "net_nanos": cost + credits,
        }


USAGE_COLUMNS = ["active_users", "cost_per_active_user", "home_bytes"]


def with_usage(table: pd.DataFrame, active_users: dict[str, int | None], home_bytes: dict[str, int | None]):
    """The monthly table with USAGE_COLUMNS appended (the others unchanged). On a hub's rows:
    its monthly active users and home bytes (`cluster/hub` keys), and the row's net_cost per
    active user, so a hub's rows add up to its cost per active user. Empty (NA) where a
    figure is unknown, on lines charged to no hub, and per user when no one was active."""
    hub_ids = table["cluster"] + "/" + table["hub"]
    charged = table["hub"] != ""
    users = pd.array([active_users.get(h) if c else None for h, c in zip(hub_ids, charged)], dtype="Int64")
    out = table.assign(active_users=users)
    per_user = (table["net_cost"] / out["active_users"].astype("Float64").where(out["active_users"] > 0)).round(2)
    out["cost_per_active_user"] = per_user
    out["home_bytes"] = pd.array([home_bytes.get(h) if c else None for h, c in zip(hub_ids, charged)], dtype="Int64")
    return out


# ------------------------------------------------------------------ reconciliation


@dataclass(frozen=True)
class Reconciliation:
    lines_cents: int
    export_cents: int
    lines: int

    @property
    def ok(self) -> bool:
        return self.lines_cents == self.export_cents

    @property
    def difference(self) -> float:
        return (self.lines_cents - self.export_cents) / 100

    def describe(self, currency: str = "") -> str:
        verdict = "reconciles" if self.ok else f"does NOT reconcile (difference {self.difference:+.2f} {currency})"
        return (
            f"{self.lines} lines sum to {self.lines_cents / 100:,.2f} {currency}; the export's net total is "
            f"{self.export_cents / 100:,.2f} {currency}: {verdict}"
        )


def reconcile_days(table: pd.DataFrame, export_net_nanos_by_day: dict[str, int]) -> dict[str, Reconciliation]:
    """reconcile() for each day of a daily table (column `date`); a day of the export without
    lines, or lines without export rows, is reported too."""
    out = {}
    for day in sorted(set(export_net_nanos_by_day) | set(table["date"] if len(table) else ())):
        out[day] = reconcile(table[table["date"] == day] if len(table) else table, export_net_nanos_by_day.get(day, 0))
    return out


def reconcile(table: pd.DataFrame, export_net_nanos: int) -> Reconciliation:
    """Compares a report table's net_cost (as read back from a file, say) with the export's total."""
    lines_cents = (
        int(np.rint(table["net_cost"].to_numpy(dtype=float) * 100).astype(np.int64).sum()) if len(table) else 0
    )
    return Reconciliation(lines_cents, cents_half_even(export_net_nanos), len(table))


# ------------------------------------------------------------------ summaries for people


def hub_summary(table: pd.DataFrame, previous: pd.DataFrame | None = None) -> pd.DataFrame:
    """Hubs by net cost (direct + shared parts), with the previous period's net and the change;
    lines charged to no hub follow, one row per line kind, then the total."""
    charged = table[table["hub"] != ""]
    hubs = charged.assign(hub_id=charged["cluster"] + "/" + charged["hub"])
    direct = hubs[hubs["line"] == HUB].groupby("hub_id")["net_cost"].sum()
    shared = hubs[hubs["line"] != HUB].groupby("hub_id")["net_cost"].sum()
    summary = pd.DataFrame({"direct": direct, "shared": shared}).fillna(0.0)
    summary["net"] = summary["direct"] + summary["shared"]
    summary = summary.sort_values("net", ascending=False)
    rest = table[table["hub"] == ""]
    for line in LINE_ORDER:
        amount = rest.loc[rest["line"] == line, "net_cost"].sum()
        if (rest["line"] == line).any():
            summary.loc[f"({line}, not charged to a hub)"] = [np.nan, np.nan, amount]
    if previous is not None and len(previous):
        prev = previous.assign(
            hub_id=np.where(
                previous["hub"] != "",
                previous["cluster"] + "/" + previous["hub"],
                "(" + previous["line"] + ", not charged to a hub)",
            )
        )
        summary["previous"] = prev.groupby("hub_id")["net_cost"].sum().reindex(summary.index)
        summary["change"] = [
            f"{(n - p) / abs(p):+.1%}" if pd.notna(p) and p else "new" if pd.isna(p) else ""
            for n, p in zip(summary["net"], summary["previous"])
        ]
    else:
        summary["previous"] = np.nan
        summary["change"] = ""
    total = summary[["direct", "shared", "net"]].sum()
    prev_total = summary["previous"].sum() if summary["previous"].notna().any() else np.nan
    summary.loc["total"] = [
        total["direct"],
        total["shared"],
        total["net"],
        prev_total,
        f"{(total['net'] - prev_total) / abs(prev_total):+.1%}" if prev_total == prev_total and prev_total else "",
    ]
    summary.index.name = "hub"
    return summary.round({"direct": 2, "shared": 2, "net": 2, "previous": 2})


def summary_markdown(summary: pd.DataFrame) -> str:
    """hub_summary as a markdown table; empty cells where there is nothing to say."""
    shown = summary.astype(object).where(summary.notna(), None)
    if summary["previous"].isna().all():
        shown = shown.drop(columns=["previous", "change"])
    return shown.to_markdown(floatfmt=",.2f", missingval="")


def daily_chart_png(daily: pd.DataFrame, title: str) -> bytes:
    """Stacked bars of net cost per day: the 12 costliest hubs (shares included) and the rest
    as "all K others" (hub_ops.charts), legible whatever the size of the fleet."""
    from hub_ops import charts

    who = np.where(daily["hub"] != "", daily["cluster"] + "/" + daily["hub"], "not charged to a hub")
    wide = daily.assign(who=who).pivot_table(
        index="date", columns="who", values="net_cost", aggfunc="sum", fill_value=0.0
    )
    wide.index = [d[-2:] for d in wide.index]
    currency = daily["currency"].iloc[0] if len(daily) else ""
    return charts.png(charts.stacked_figure(wide, title, f"net cost ({currency})", xlabel="day"))


# ------------------------------------------------------------------ files


def write_report(table: pd.DataFrame, storage: Storage, url_stem: str, info: dict) -> dict[str, str]:
    """Writes `<url_stem>.csv` and `<url_stem>.parquet` (info as Parquet key-value metadata).
    Overwrites: the same report writes the same bytes, so a rerun is harmless."""
    written = {}
    arrow = pa.Table.from_pandas(table, preserve_index=False)
    arrow = arrow.replace_schema_metadata({METADATA_KEY: json.dumps(info, sort_keys=True, default=str).encode()})
    for fmt in ("csv", "parquet"):
        url = f"{url_stem}.{fmt}"
        fs, path = storage.filesystem(url)
        fs.makedirs(fs._parent(path), exist_ok=True)
        with fs.open(path, "wb") as out:
            if fmt == "csv":
                out.write(table.to_csv(index=False, float_format="%.2f").encode())
            else:
                pq.write_table(arrow, out)
        written[fmt] = url
    return written


def write_bytes(storage: Storage, url: str, data: bytes) -> str:
    fs, path = storage.filesystem(url)
    fs.makedirs(fs._parent(path), exist_ok=True)
    with fs.open(path, "wb") as out:
        out.write(data)
    return url


def read_report(storage: Storage, url: str) -> tuple[pd.DataFrame, dict]:
    """A report written by write_report (Parquet with its info, or CSV without)."""
    fs, path = storage.filesystem(url)
    with fs.open(path, "rb") as f:
        if url.endswith(".parquet"):
            arrow = pq.read_table(f)
            info = json.loads((arrow.schema.metadata or {}).get(METADATA_KEY, b"{}"))
            frame = arrow.to_pandas()
        else:
            frame, info = (
                pd.read_csv(
                    f, keep_default_na=False, dtype={c: str for c in KEY_COLUMNS + TRAILING_COLUMNS + ["month", "date"]}
                ),
                {},
            )
    return frame, info


def report_exists(storage: Storage, url: str) -> bool:
    fs, path = storage.filesystem(url)
    return fs.exists(path)
