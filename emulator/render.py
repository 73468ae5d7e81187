"""Records to the API's JSON shapes (§4), field order as in refiner-api.md."""

from __future__ import annotations

from typing import Any

from emulator.models import Account, Contact, Event, Form, Response, Segment
from emulator.timefmt import iso_z, plain


def answer_as_attribute(value: Any) -> Any:
    """Answers appear in contact attributes as text (e.g. `"9"`), lists comma-joined."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, list | tuple):
        return ", ".join(str(item) for item in value)
    return value


def json_value(value: Any) -> Any:
    """Internal answer values to JSON values (tuples become lists)."""
    if isinstance(value, tuple):
        return list(value)
    return value


def latest_answers(contact: Contact) -> dict[str, Any]:
    """The latest answer per question identifier over the contact's responses."""
    latest: dict[str, tuple[int, Any]] = {}
    for response in contact.responses:
        at = response.last_data_reception_at
        if at is None:
            continue
        for key, value in zip(response.keys, response.values, strict=True):
            if value is None:
                continue
            seen = latest.get(key)
            if seen is None or at >= seen[0]:
                latest[key] = (at, value)
    return {key: answer_as_attribute(value) for key, (_, value) in latest.items()}


def contact_attributes(contact: Contact) -> dict[str, Any]:
    """Traits merged with the latest answers (answers win on a shared key)."""
    attributes = dict(contact.traits)
    if contact.responses:
        attributes.update(latest_answers(contact))
    return attributes


def account_full(account: Account | None) -> dict[str, Any] | None:
    """Account as embedded in a contact (§4.2 full form)."""
    if account is None:
        return None
    return {
        "uuid": account.uuid,
        "remote_id": account.remote_id,
        "domain": account.domain,
        "display_name": account.display_name,
        "first_seen_at": iso_z(account.first_seen_at),
        "last_seen_at": iso_z(account.last_seen_at),
        "attributes": dict(account.attributes),
    }


def account_short(account: Account | None) -> dict[str, Any] | None:
    """Account as embedded in a response's contact (§4.2 short form)."""
    if account is None:
        return None
    return {
        "uuid": account.uuid,
        "remote_id": account.remote_id,
        "display_name": account.display_name,
        "domain": account.domain,
    }


def contact(record: Contact, segment_names: dict[str, Segment]) -> dict[str, Any]:
    """Contact (§4.1)."""
    segments = []
    for segment_uuid, entered_at in record.segments.items():
        segment = segment_names.get(segment_uuid)
        if segment is not None:
            segments.append(
                {"uuid": segment.uuid, "name": segment.name, "created_at": iso_z(entered_at)}
            )
    return {
        "uuid": record.uuid,
        "remote_id": record.remote_id,
        "email": record.email,
        "display_name": record.display_name,
        "first_seen_at": iso_z(record.first_seen_at),
        "last_seen_at": iso_z(record.last_seen_at),
        "attributes": contact_attributes(record),
        "segments": segments,
        "account": account_full(record.account),
        "last_form_submission_at": iso_z(record.last_form_submission_at),
        "last_tracking_event_at": iso_z(record.last_tracking_event_at),
    }


def response(record: Response, with_attributes: bool = False) -> dict[str, Any]:
    """Response (§4.3); `with_attributes` adds the contact's attributes."""
    person = record.contact
    embedded: dict[str, Any] = {
        "uuid": person.uuid,
        "remote_id": person.remote_id,
        "email": person.email,
        "display_name": person.display_name,
        "account": account_short(person.account),
    }
    if with_attributes:
        embedded["attributes"] = contact_attributes(person)
    return {
        "uuid": record.uuid,
        "first_shown_at": plain(record.first_shown_at),
        "last_shown_at": plain(record.last_shown_at),
        "show_counter": record.show_counter,
        "first_data_reception_at": plain(record.first_data_reception_at),
        "last_data_reception_at": plain(record.last_data_reception_at),
        "completed_at": plain(record.completed_at),
        "received_at": plain(record.received_at),
        "dismissed_at": plain(record.dismissed_at),
        "form": {"uuid": record.form.uuid, "name": record.form.name},
        "data": {
            key: json_value(value) for key, value in zip(record.keys, record.values, strict=True)
        },
        "contact": embedded,
        "tags": [{"uuid": tag.uuid, "name": tag.name} for tag in record.tags],
    }


def form_config(record: Form) -> dict[str, Any]:
    """The opaque survey configuration: `form_elements` with id/type/question."""
    elements = []
    for question in record.questions if record.config_elements else ():
        element: dict[str, Any] = {
            "id": question.id,
            "type": question.type,
            "question": question.question,
            "required": question.required,
        }
        if question.options is not None:
            element["options"] = list(question.options)
        elements.append(element)
    return {"form_elements": elements, "locale": "en", "appearance": {"position": "bottom-right"}}


def form(
    record: Form,
    include_info: bool,
    include_config: bool,
    stats: tuple[int, int, int | None, int | None],
) -> dict[str, Any]:
    """Form (§4.4); `stats` is (responses_count, views_count, first_view, last_view)."""
    item: dict[str, Any] = {"uuid": record.uuid, "name": record.name}
    if include_info:
        responses_count, views_count, first_view, last_view = stats
        item.update(
            {
                "channels": list(record.channels),
                "created_at": iso_z(record.created_at),
                "updated_at": iso_z(record.updated_at),
                "published_at": iso_z(record.published_at),
                "archived_at": iso_z(record.archived_at),
                "first_form_view_at": iso_z(first_view),
                "last_form_view_at": iso_z(last_view),
                "folder": dict(record.folder) if record.folder is not None else None,
                "responses_count": responses_count,
                "views_count": views_count,
                "page_url": record.page_url,
            }
        )
    if include_config:
        item["config"] = form_config(record)
    return item


def segment(record: Segment) -> dict[str, Any]:
    """Segment (§4.5)."""
    return {"uuid": record.uuid, "name": record.name, "is_manual": record.is_manual}


def event(record: Event) -> dict[str, Any]:
    """A tracked event as the admin dump shows it: {uuid, contact_uuid, event, at}."""
    return {
        "uuid": record.uuid,
        "contact_uuid": record.contact_uuid,
        "event": record.event,
        "at": iso_z(record.at),
    }
