"""PNG charts with matplotlib (Agg backend, no display). CPU-bound: call off the event loop."""

from __future__ import annotations

import io

import matplotlib

matplotlib.use("Agg")

from matplotlib.figure import Figure  # noqa: E402

from bot.tutor.replies import StatsData  # noqa: E402

__all__ = ["stats_png", "bars_png"]


def stats_png(data: StatsData) -> bytes:
    """Reviews per day for the last 30 days, and estimated recall per topic."""
    fig = Figure(figsize=(8, 6), dpi=100)
    ax1, ax2 = fig.subplots(2, 1)
    days = [d for d, _ in data.reviews_per_day]
    ax1.bar(range(len(days)), [n for _, n in data.reviews_per_day], color="#3b7dd8")
    ax1.set_title("Answers per day (last 30 days)")
    ax1.set_xticks(range(0, len(days), 5), [d.strftime("%d %b") for d in days[::5]])
    ax1.set_ylabel("answers")
    topics = list(data.recall)
    ax2.barh(topics, [data.recall[t] * 100 for t in topics], color="#2a9d8f")
    ax2.set_xlim(0, 100)
    ax2.set_title("Estimated recall by topic (%)")
    fig.tight_layout()
    return _png(fig)


def bars_png(title: str, values: dict[str, float], xlabel: str = "%") -> bytes:
    """A horizontal bar chart (the cohort dashboard's accuracy per topic)."""
    fig = Figure(figsize=(8, 4), dpi=100)
    ax = fig.subplots()
    names = list(values)
    ax.barh(names, [values[n] for n in names], color="#e76f51")
    ax.set_xlim(0, 100)
    ax.set_xlabel(xlabel)
    ax.set_title(title)
    fig.tight_layout()
    return _png(fig)


def _png(fig: Figure) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()
