"""The 30-day NPS trend as a PNG, drawn with matplotlib's Agg backend (no display needed).

matplotlib is imported here, when a chart is drawn, and never on the CLI's start-up path.
The object-oriented API (Figure + FigureCanvasAgg) keeps pyplot's global state out of it.
"""

from __future__ import annotations

import io

from pipelines.digest.model import TrendPoint

WIDTH_INCHES, HEIGHT_INCHES, DPI = 7.0, 2.6, 100


def nps_trend_png(trend: tuple[TrendPoint, ...], timezone: str) -> bytes:
    """A line of daily NPS (gaps on days without answers) over the points' days."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.dates import AutoDateLocator, DateFormatter, date2num
    from matplotlib.figure import Figure

    figure = Figure(figsize=(WIDTH_INCHES, HEIGHT_INCHES), dpi=DPI)
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    days = [point.day for point in trend]
    positions = [float(date2num(day)) for day in days]
    scores = [float("nan") if point.nps is None else point.nps for point in trend]
    axes.axhline(0, color="#bbbbbb", linewidth=0.8)
    axes.plot(positions, scores, color="#2563eb", marker="o", markersize=3, linewidth=1.5)
    axes.set_ylim(-100, 100)
    axes.set_ylabel("NPS")
    if days:
        axes.set_title(
            f"NPS per day, {days[0]:%d %b} to {days[-1]:%d %b %Y} ({timezone})", fontsize=10
        )
    if positions:
        # The whole window, even when only some days have answers.
        axes.set_xlim(positions[0] - 0.5, positions[-1] + 0.5)
    axes.xaxis.set_major_locator(AutoDateLocator(minticks=4, maxticks=8))
    axes.xaxis.set_major_formatter(DateFormatter("%d %b"))
    axes.grid(axis="y", alpha=0.3)
    for label in axes.get_xticklabels():
        label.set_rotation(30)
        label.set_horizontalalignment("right")
    # Fixed margins instead of tight_layout(), which measures every label first (~0.2 s).
    figure.subplots_adjust(left=0.11, right=0.98, top=0.88, bottom=0.2)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", metadata={"Software": None})
    return buffer.getvalue()
