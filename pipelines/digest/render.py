"""A digest as plain text, HTML, JSON and Slack Block Kit.

Comments are untrusted: the HTML template autoescapes every value (Jinja2's sandbox, so the
template cannot reach Python either), and Slack gets them as `plain_text` with `&`, `<` and `>`
escaped, so neither markup, mentions such as `<!channel>`, nor links take effect.
"""

from __future__ import annotations

import json
from typing import Any

from pipelines.digest.model import Comment, Digest

CHART_FILE = "nps_trend.png"
SLACK_TEXT_LIMIT = 2900

HTML_TEMPLATE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{{ title }}</title></head>
<body style="font-family: -apple-system, Segoe UI, Helvetica, Arial, sans-serif; color: #111;">
<h1 style="font-size: 20px;">{{ title }}</h1>
{% if empty %}<p>{{ empty_line }}</p>{% else %}
<p style="color: #555;">Compared with {{ previous }}.</p>
<table cellpadding="6" style="border-collapse: collapse;">
{% for name, value, change, detail in figures %}
<tr><th align="left">{{ name }}</th><td><b>{{ value }}</b></td><td>{{ change }}</td>
<td style="color: #555;">{{ detail }}</td></tr>
{% endfor %}
</table>
{% if surveys %}<h2 style="font-size: 16px;">Responses per survey</h2><ul>
{% for name, count in surveys %}<li>{{ name }}: {{ count }}</li>{% endfor %}</ul>{% endif %}
{% if summary %}<h2 style="font-size: 16px;">Summary</h2><p>{{ summary }}</p>
{% if note %}<p style="color: #a15c00;"><i>{{ note }}</i></p>{% endif %}{% endif %}
{% if comments %}<h2 style="font-size: 16px;">Top comments</h2><ol>
{% for label, text in comments %}<li><span style="color: #555;">{{ label }}</span><br>
<q>{{ text }}</q></li>{% endfor %}</ol>{% endif %}
{% if chart_src %}<h2 style="font-size: 16px;">NPS, last 30 days</h2>
<img src="{{ chart_src }}" alt="NPS trend, last 30 days" width="700">{% endif %}
{% endif %}
{% if footer %}<p style="color: #888; font-size: 12px;">{{ footer }}</p>{% endif %}
</body></html>
"""


def title(digest: Digest) -> str:
    """`Refiner digest — Friday 4 December 2026 (Europe/Berlin)`."""
    return f"Refiner digest — {digest.period.label} ({digest.period.timezone})"


def empty_line(digest: Digest) -> str:
    """The one line of a period without responses."""
    return f"No responses {digest.period.phrase} ({digest.period.timezone})."


def figure_rows(digest: Digest) -> list[tuple[str, str, str, str]]:
    """(name, value, change, detail) for NPS, CSAT and responses."""
    nps, csat = digest.nps, digest.csat
    return [
        (
            "NPS",
            "—" if nps.score is None else f"{nps.score:+.1f}",
            _change_points(digest.nps_change),
            f"{count(nps.answers, 'answer')}: {count(nps.promoters, 'promoter')}, "
            f"{count(nps.passives, 'passive')}, {count(nps.detractors, 'detractor')}",
        ),
        (
            "CSAT",
            "—" if csat.score is None else f"{csat.score:.1f}%",
            _change_points(digest.csat_change),
            count(csat.answers, "answer")
            + ("" if csat.average is None else f", average {csat.average:.2f} / 5"),
        ),
        (
            "Responses",
            str(digest.responses),
            _change_percent(digest.responses_change_percent),
            f"{digest.previous_responses} in the period before",
        ),
    ]


def count(number: int, noun: str) -> str:
    """`1 answer`, `2 answers`."""
    return f"{number} {noun}{'' if number == 1 else 's'}"


def comment_label(comment: Comment) -> str:
    """`NPS 3 · NPS — Product · Ana López`: the score, the survey and who wrote it."""
    parts = [comment.score_label, comment.survey, comment.contact_name or comment.contact_email]
    return " · ".join(part for part in parts if part)


def render_text(digest: Digest) -> str:
    """The plain-text digest (stdout, digest.txt, the email's text part)."""
    if digest.is_empty:
        return empty_line(digest) + "\n"
    lines = [title(digest), f"Compared with {digest.previous.label}.", ""]
    for name, value, change, detail in figure_rows(digest):
        lines.append(f"{name:<10} {value:>7}  {change:<18} {detail}")
    lines += ["", "Responses per survey"]
    lines += [f"  {survey.survey}: {survey.responses}" for survey in digest.surveys]
    if digest.summary is not None:
        lines += ["", "Summary", f"  {digest.summary.text}"]
        if digest.summary.note:
            lines.append(f"  ({digest.summary.note})")
    if digest.comments:
        lines += ["", "Top comments"]
        for number, comment in enumerate(digest.comments, 1):
            text = " ".join(comment.text.split())
            lines.append(f"  {number}. [{comment_label(comment)}] “{text}”")
    lines += ["", f"NPS trend (30 days): {CHART_FILE}", _footer(digest)]
    return "\n".join(line for line in lines if line is not None) + "\n"


def render_html(digest: Digest, chart_src: str | None) -> str:
    """The HTML digest; `chart_src` is the chart's URL (`cid:...` in email), or None."""
    from jinja2.sandbox import SandboxedEnvironment

    environment = SandboxedEnvironment(autoescape=True, trim_blocks=True, lstrip_blocks=True)
    template = environment.from_string(HTML_TEMPLATE)
    summary = digest.summary
    return template.render(
        title=title(digest),
        empty=digest.is_empty,
        empty_line=empty_line(digest),
        previous=digest.previous.label,
        figures=figure_rows(digest),
        surveys=[(survey.survey, survey.responses) for survey in digest.surveys],
        summary=summary.text if summary else None,
        note=summary.note if summary else None,
        comments=[(comment_label(comment), comment.text) for comment in digest.comments],
        chart_src=chart_src,
        footer=_footer(digest),
    )


def render_json(digest: Digest) -> str:
    """`digest.json`: the figures, comments, trend and summary."""
    return json.dumps(digest.as_dict(), ensure_ascii=False, indent=2) + "\n"


def render_slack(digest: Digest, chart_url: str | None) -> dict[str, Any]:
    """A Block Kit message: header, figure fields, summary, top comments, chart or a link.

    Comments and survey names go out as `plain_text`, escaped, so they cannot mention,
    link or format anything.
    """
    if digest.is_empty:
        line = slack_escape(empty_line(digest))
        return {"text": line, "blocks": [_section(line)]}
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": _plain(title(digest)[:150])},
        {
            "type": "section",
            "fields": [
                _plain(f"{name}: {value} {change}\n{detail}")
                for name, value, change, detail in figure_rows(digest)
            ],
        },
        _section(
            "Responses per survey: "
            + ", ".join(f"{survey.survey} {survey.responses}" for survey in digest.surveys)
        ),
    ]
    if digest.summary is not None:
        note = f"\n({digest.summary.note})" if digest.summary.note else ""
        blocks.append(_section(digest.summary.text + note))
    for number, comment in enumerate(digest.comments, 1):
        blocks.append(_section(f"{number}. {comment_label(comment)}\n“{comment.text}”"))
    if chart_url:
        blocks.append(
            {"type": "image", "image_url": chart_url, "alt_text": "NPS trend, last 30 days"}
        )
    else:
        trend = [point for point in digest.trend if point.nps is not None]
        if trend:
            blocks.append(
                _section(
                    "NPS trend (30 days): "
                    + ", ".join(f"{point.day:%d %b} {point.nps:+.0f}" for point in trend[-7:])
                )
            )
    summary_line = "; ".join(
        f"{name} {value} {change}" for name, value, change, _ in figure_rows(digest)
    )
    return {"text": slack_escape(f"{title(digest)}: {summary_line}"), "blocks": blocks}


def slack_escape(text: str) -> str:
    """Slack's own escaping: `&`, `<` and `>` as entities (so `<!channel>` is just text)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _plain(text: str) -> dict[str, Any]:
    return {"type": "plain_text", "text": slack_escape(text)[:SLACK_TEXT_LIMIT], "emoji": True}


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": _plain(text)}


def _change_points(change: float | None) -> str:
    return "" if change is None else f"{change:+.1f} points"


def _change_percent(change: float | None) -> str:
    return "" if change is None else f"{change:+.1f}%"


def _footer(digest: Digest) -> str:
    if digest.loaded_at is None:
        return ""
    return f"Data as loaded at {digest.loaded_at:%Y-%m-%d %H:%M %Z}."
