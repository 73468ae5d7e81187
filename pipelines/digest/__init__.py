"""The daily (or weekly) digest: figures from the dbt marts, a summary, a chart, and delivery
to stdout, files, email or Slack. `run_digest` is the one entry point; see run.py.

This package imports matplotlib, jinja2, slack_sdk and httpx only inside the functions that
use them, so importing it stays cheap.
"""

from __future__ import annotations

from pipelines.digest.deliver import DeliveryError, send_email, send_slack, write_files
from pipelines.digest.figures import build_digest
from pipelines.digest.model import Digest
from pipelines.digest.render import render_html, render_json, render_slack, render_text
from pipelines.digest.run import DigestResult, run_digest

__all__ = [
    "DeliveryError",
    "Digest",
    "DigestResult",
    "build_digest",
    "render_html",
    "render_json",
    "render_slack",
    "render_text",
    "run_digest",
    "send_email",
    "send_slack",
    "write_files",
]
