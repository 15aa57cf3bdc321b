"""PNG charts with matplotlib (Agg backend, no display). CPU-bound: call off the event loop."""

from __future__ import annotations

import io

import matplotlib

matplotlib.use("Agg")

from matplotlib.figure import Figure  # noqa: E402

from bot.tutor.replies import StatsData  # noqa: E402

__all__ = ["stats_png", "bars_png"]


def stats_png(data: StatsData) -> bytes:
    """Answers per day for the last 30 days, reviews due over the next 7, the exam day marked;
    and the recall to expect this week per topic."""
    fig = Figure(figsize=(8, 6), dpi=100)
    ax1, ax2 = fig.subplots(2, 1)
    past = data.reviews_per_day
    ahead = [(d, n) for d, n in data.due_next_7_days if d > past[-1][0]] if past else data.due_next_7_days
    days = [d for d, _ in past] + [d for d, _ in ahead]
    ax1.bar(range(len(past)), [n for _, n in past], color="#3b7dd8", label="answered")
    ax1.bar(range(len(past), len(days)), [n for _, n in ahead], color="#a8c5ee", label="due")
    title = "Answers per day (last 30 days) and reviews due"
    if data.exam is not None and data.exam.days_left >= 0:
        if data.exam.day in days:
            x = days.index(data.exam.day)
            ax1.axvline(x, color="#d62828", linewidth=2)
            ax1.annotate("exam", (x, ax1.get_ylim()[1] * 0.9), color="#d62828", ha="right")
        title += f" · exam {data.exam.day:%d %b} ({data.exam.days_left} days)"
    ax1.set_title(title)
    ax1.set_xticks(range(0, len(days), 5), [d.strftime("%d %b") for d in days[::5]])
    ax1.set_ylabel("questions")
    ax1.legend(loc="upper left")
    topics = list(data.recall)
    ax2.barh(topics, [data.recall[t] * 100 for t in topics], color="#2a9d8f")
    ax2.set_xlim(0, 100)
    ax2.set_title("Recall to expect this week, by topic (%)")
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
