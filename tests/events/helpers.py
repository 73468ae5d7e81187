"""Refiner-shaped webhook bodies, a receiver on a thread, and small spool/warehouse readers."""

from __future__ import annotations

import json
import uuid
from typing import Any

PROJECT_UUID = "6f1c6c2e-0000-4000-8000-00000000e001"
FORM = {"uuid": "0b8b3a44-1f7e-4b9f-9a55-0000000f0001", "name": "NPS survey"}


def survey_payload(
    response_uuid: str | None = None,
    *,
    nps: Any = 4,
    comment: Any = "Too slow",
    received: str = "2024-05-20T17:02:11.000000Z",
    contact_uuid: str | None = None,
    remote_id: str | None = "user-1",
    event: str = "Completed Survey",
) -> dict[str, Any]:
    """A 'Completed Survey' delivery shaped as in refiner-api.md §8."""
    return {
        "uuid": contact_uuid or str(uuid.uuid4()),
        "project_uuid": PROJECT_UUID,
        "cookie_uuid": None,
        "remote_id": remote_id,
        "email": "ada@example.com",
        "display_name": "",
        "first_seen_at": "2024-01-02T03:04:05.000000Z",
        "last_seen_at": received,
        "attributes": {"form_submissions_count": "1", "plan": "pro", "nps": None},
        "segments": [
            {
                "uuid": "5e000000-0000-4000-8000-000000000001",
                "name": "Paying",
                "created_at": "2024-01-02T03:04:05.000000Z",
                "updated_at": "2024-01-02T03:04:05.000000Z",
            }
        ],
        "account": {"uuid": None, "remote_id": None, "display_name": None, "attributes": {}},
        "triggered_event": event,
        "form": FORM,
        "response": {
            "uuid": response_uuid or str(uuid.uuid4()),
            "first_shown_at": "2024-05-20T17:01:00.000000Z",
            "last_shown_at": "2024-05-20T17:01:00.000000Z",
            "show_counter": None,
            "first_data_reception_at": "2024-05-20T17:01:30.000000Z",
            "last_data_reception_at": received,
            "completed_at": received,
            "received_at": received,
            "dismissed_at": None,
            "data": {"nps": nps, "comment": comment},
            "tags": [],
        },
    }


def segment_payload(contact_uuid: str, segment_uuid: str) -> dict[str, Any]:
    """A 'User enters segment' delivery: contact only, no form or response."""
    body = survey_payload(contact_uuid=contact_uuid, event="User enters segment")
    del body["form"], body["response"]
    body["segments"] = [{"uuid": segment_uuid, "name": "At risk"}]
    return body


def encode(body: dict[str, Any]) -> bytes:
    return json.dumps(body).encode()
