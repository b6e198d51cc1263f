"""The community report page of one hub and month (from community.CommunityMonth), and where
it is written: `<reports destination>/community/<cluster>/<hub>/YYYY-MM.{md,html}`.

A figure that is not known is said to be missing, never shown as 0: days without an
observation or a cost report are blank in the tables and gaps in the charts, and a sentence
names them. The page carries counts and distributions only, never a user name.
"""

from __future__ import annotations

import datetime as dt
import statistics

import pandas as pd

from hub_ops import charts
from hub_ops.clients.storage import Storage
from hub_ops.usage.community import FOLDER, CommunityMonth
from hub_ops.usage.page import Page

# home size bands of the distribution table (upper bounds, bytes)
BANDS = [
    (10**6, "under 1 MB"),
    (10**8, "1-100 MB"),
    (10**9, "100 MB-1 GB"),
    (10**10, "1-10 GB"),
    (None, "10 GB or more"),
]


def human_bytes(n: int) -> str:
    """'1.2 MB (1,213,551 bytes)': readable, and exact for whoever compares."""
    size, unit = float(n), "bytes"
    for bigger in ("kB", "MB", "GB", "TB"):
        if abs(size) < 999.95:  # so that it never prints "1,000.0 kB"
            break
        size, unit = size / 1000, bigger
    return f"{n:,} bytes" if unit == "bytes" else f"{size:,.1f} {unit} ({n:,} bytes)"


def day_ranges(days: list[dt.date]) -> str:
    """'1-4 Nov, 20 Nov' for a sorted list of days."""
    runs: list[list[dt.date]] = []
    for day in days:
        if runs and (day - runs[-1][-1]).days == 1:
            runs[-1].append(day)
        else:
            runs.append([day])
    return ", ".join(f"{r[0].day} {r[0]:%b}" if len(r) == 1 else f"{r[0].day}-{r[-1].day} {r[0]:%b}" for r in runs)


def community_page(data: CommunityMonth, today: dt.date) -> Page:
    page = Page(f"{data.hub}: community report, {data.month:%B %Y}")
    page.text(
        f"Who used {data.hub} in {data.month:%B %Y}, what it cost and how its home storage grew. Counts "
        f"only: this page names no one. Written on {today} by hub_ops from the hub's activity ledger, "
        "the fleet's cost reports and the hub's backups."
    )
    month_end = (data.month + dt.timedelta(days=32)).replace(day=1) - dt.timedelta(days=1)
    if data.days[-1] < month_end:
        page.note(f"The month is not over: figures up to {data.days[-1]}.")
    if data.notice is not None:
        page.note(_notice(data))
    _people(page, data)
    _cost(page, data)
    _storage(page, data)
    _by_day(page, data)
    return page


def _notice(data: CommunityMonth) -> str:
    n = data.notice
    moved = f"homes move to {n.successor}" if n.successor else "homes are kept only in backups (no successor)"
    kept = f"backups are kept until {n.keep_backups_until}"
    if n.state in ("notice", "due"):
        when = f"in {n.days_left} days" if n.days_left > 0 else "now due"
        return f"Decommission notice: this hub is retired on {n.on} ({when}); {moved}; {kept}."
    return f"Retirement recorded: {n.state} on {n.recorded_on or '?'} (planned for {n.on}); {moved}; {kept}."


def _missing(data: CommunityMonth, known: set[dt.date], what: str) -> str | None:
    gone = [d for d in data.days if d not in known]
    if not gone:
        return None
    return f"No {what} for {len(gone)} of {len(data.days)} days ({day_ranges(gone)}): they are blank, not zero."


def _chart(series: dict[str, float], column: str, title: str, ylabel: str, xlabel: str) -> bytes:
    """One line over every x of `series` (the whole month: missing days are a visible gap),
    from 0 up (a count that starts at its minimum exaggerates)."""
    wide = pd.DataFrame({column: pd.Series(series, dtype=float)})
    fig = charts.lines_figure(wide, title, ylabel, xlabel=xlabel)
    fig.axes[0].set_xlim(-0.5, len(wide) - 0.5)
    fig.axes[0].set_ylim(bottom=0)
    return charts.png(fig)


def _byte_unit(largest: int) -> tuple[int, str]:
    for scale, unit in ((10**12, "TB"), (10**9, "GB"), (10**6, "MB")):
        if largest >= scale:
            return scale, unit
    return 1000, "kB"


def _daily(data: CommunityMonth, values: dict[dt.date, float | int]) -> dict[str, float]:
    """One point per reported day (NaN where unknown: a gap in the line, not a zero)."""
    return {f"{d.day:02d}": values.get(d, float("nan")) for d in data.days}


def _people(page: Page, data: CommunityMonth) -> None:
    page.heading("People")
    observed = data.observed_days
    if not observed:
        page.note(f"No activity was recorded for this hub in {data.month:%B %Y} (has hub_usage run for it?).")
        return
    per_day = {d: len(data.activity[d].users) for d in observed}
    busiest = max(observed, key=lambda d: (per_day[d], -d.toordinal()))
    page.table(
        [
            "monthly active users",
            "days observed",
            "busiest day",
            "median daily active users",
            "servers started",
            "peak concurrent servers",
        ],
        [
            [
                data.active_users,
                f"{len(observed)} of {len(data.days)}",
                f"{busiest} ({per_day[busiest]} users)",
                statistics.median(per_day.values()),
                sum(len(data.activity[d].servers) for d in observed),
                max(data.activity[d].peak_servers for d in observed),
            ]
        ],
    )
    if note := _missing(data, set(observed), "observation of the hub"):
        page.note(note + " Monthly active users count the observed days only.")
    title = f"Active users per day, {data.month:%B %Y}"
    page.image(_chart(_daily(data, per_day), "active users", title, "users", "day"), title)


def _cost(page: Page, data: CommunityMonth) -> None:
    page.heading("Cost")
    month = "unknown" if data.month_cost is None else f"{data.month_cost:,.2f} {data.currency}"
    per_user = data.cost_per_active_user
    page.table(
        ["net cost of the month", "net cost per active user", "days with a cost figure"],
        [
            [
                month,
                "" if per_user is None else f"{per_user:,.2f} {data.currency}",
                f"{len(data.daily_cost)} of {len(data.days)}",
            ]
        ],
    )
    if data.month_cost is None:
        page.note(
            f"No cost for {data.month:%Y-%m} in a monthly cost report (not written yet, or no line charged "
            "to this hub): the month's cost and cost per active user are unknown."
        )
    if not data.daily_cost:
        page.note(f"No daily cost figure for this hub on any day of {data.month:%B %Y}.")
        return
    if note := _missing(data, set(data.daily_cost), "daily cost figure"):
        page.note(note)
    title = f"Net cost per day ({data.currency}), {data.month:%B %Y}"
    page.image(_chart(_daily(data, data.daily_cost), "net cost", title, data.currency, "day"), title)


def _storage(page: Page, data: CommunityMonth) -> None:
    page.heading("Home storage")
    if data.homes is None:
        page.note(f"No backup snapshot of this hub's homes in {data.month:%B %Y}: no storage figures.")
        return
    first, last = data.storage[0], data.storage[-1]
    sizes = data.home_sizes()
    page.table(
        ["homes", "total at the month's last snapshot", "files", f"growth since {first.taken:%Y-%m-%d}", "median home"],
        [
            [
                len(sizes),
                human_bytes(last.bytes),
                f"{last.files:,}",
                human_bytes(last.bytes - first.bytes) if len(data.storage) > 1 else "one snapshot only",
                human_bytes(int(statistics.median(sizes))) if sizes else "",
            ]
        ],
    )
    counts, lower = [], 0
    for upper, label in BANDS:
        counts.append([label, sum(1 for s in sizes if s >= lower and (upper is None or s < upper))])
        lower = upper or lower
    page.table(["home size", "homes"], counts)
    scale, unit = _byte_unit(max(p.bytes for p in data.storage))
    series = {f"{p.taken:%m-%d}": p.bytes / scale for p in data.storage}
    title = f"Home storage at each snapshot ({unit}), {data.month:%B %Y}"
    page.image(_chart(series, f"homes ({unit})", title, unit, "snapshot"), title)


def _by_day(page: Page, data: CommunityMonth) -> None:
    page.heading("Day by day")
    rows = []
    for day in data.days:
        activity, cost = data.activity.get(day), data.daily_cost.get(day)
        users = len(activity.users) if activity else None
        rows.append(
            [
                day.isoformat(),
                users,
                len(activity.servers) if activity else None,
                activity.peak_servers if activity else None,
                None if cost is None else f"{cost:,.2f}",
                f"{cost / users:,.2f}" if cost is not None and users else None,
            ]
        )
    header = [
        "date",
        "active users",
        "servers started",
        "peak servers",
        f"net cost ({data.currency or '-'})",
        "net cost per active user",
    ]
    page.table(header, rows)


def reports_folder(reports_destination: str) -> str:
    """fleet.yaml reports.destination -> the folder of community reports."""
    return f"{reports_destination.rstrip('/')}/{FOLDER}"


def page_urls(folder: str, hub_id: str, month: dt.date) -> dict[str, str]:
    """`<folder>/<cluster>/<hub>/YYYY-MM.{md,html}`."""
    stem = f"{folder.rstrip('/')}/{hub_id}/{month:%Y-%m}"
    return {"md": stem + ".md", "html": stem + ".html"}


def write_page(storage: Storage, urls: dict[str, str], page: Page) -> None:
    """Writes the page as Markdown and standalone HTML (overwrites: a rerun writes the same)."""
    for fmt, text in (("md", page.markdown()), ("html", page.html())):
        fs, path = storage.filesystem(urls[fmt])
        fs.makedirs(fs._parent(path), exist_ok=True)
        with fs.open(path, "wb") as out:
            out.write(text.encode())
