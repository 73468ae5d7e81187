"""Internal records of the emulator's ground truth. Timestamps are whole UTC epoch seconds.

Records are compact (slots, shared tuples) so that a million responses fit in modest memory;
`emulator.render` turns them into the API's JSON shapes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

QUESTION_TYPES = ("nps", "csat", "rating", "multiple_choice", "yes_no", "text")


@dataclass(slots=True, eq=False)
class Account:
    """A grouping of contacts (§4.2)."""

    uuid: str
    remote_id: str | None
    display_name: str | None
    domain: str | None
    first_seen_at: int
    last_seen_at: int
    attributes: dict[str, Any]


@dataclass(slots=True, eq=False)
class Contact:
    """A contact (§4.1); `traits` are identify-user attributes, answers are added on render."""

    uuid: str
    remote_id: str | None
    email: str | None
    display_name: str | None
    first_seen_at: int
    last_seen_at: int
    last_form_submission_at: int | None
    last_tracking_event_at: int | None
    traits: dict[str, Any]
    account: Account | None
    segments: dict[str, int]  # segment uuid -> entered_at
    responses: list[Response]


@dataclass(slots=True, eq=False)
class Question:
    """One form element: `id` is the question identifier used as the key in `data`."""

    id: str
    type: str
    question: str
    options: tuple[str, ...] | None = None
    required: bool = False


@dataclass(slots=True, eq=False)
class HistoryEntry:
    """One version of a form (`GET /forms/history`)."""

    uuid: str
    action: str
    created_at: int
    snapshot: dict[str, Any]


@dataclass(slots=True, eq=False)
class Form:
    """A survey (§4.4)."""

    uuid: str
    name: str
    channels: list[str]
    created_at: int
    updated_at: int
    published_at: int | None
    archived_at: int | None
    folder: dict[str, Any] | None
    page_url: str | None
    questions: list[Question]
    keys: tuple[str, ...] = ()
    history: list[HistoryEntry] = field(default_factory=list)
    # False: the config lists no elements (it is opaque, §4.4); answers and reports still
    # follow the questions' types.
    config_elements: bool = True

    def __post_init__(self) -> None:
        self.keys = tuple(question.id for question in self.questions)

    def question(self, identifier: str) -> Question | None:
        """The element with this identifier, if the form has one."""
        for question in self.questions:
            if question.id == identifier:
                return question
        return None


@dataclass(slots=True, eq=False)
class Tag:
    """A response tag; tags are global and named."""

    uuid: str
    name: str


@dataclass(slots=True, eq=False)
class Response:
    """A survey view or response (§4.3); answers are `keys`/`values` tuples (shared keys)."""

    uuid: str
    form: Form
    contact: Contact
    first_shown_at: int
    last_shown_at: int
    show_counter: int
    first_data_reception_at: int | None
    last_data_reception_at: int | None
    completed_at: int | None
    received_at: int | None
    dismissed_at: int | None
    keys: tuple[str, ...]
    values: tuple[Any, ...]
    tags: tuple[Tag, ...]

    @property
    def data(self) -> dict[str, Any]:
        """Answers by question identifier."""
        return dict(zip(self.keys, self.values, strict=True))

    def answer(self, identifier: str) -> Any:
        """One answer, or None."""
        try:
            return self.values[self.keys.index(identifier)]
        except ValueError:
            return None


@dataclass(slots=True, eq=False)
class Segment:
    """A segment (§4.5); only manual ones accept sync-segment."""

    uuid: str
    name: str
    is_manual: bool
    created_at: int


@dataclass(slots=True, eq=False)
class Event:
    """A tracked event (track-event, /track)."""

    uuid: str
    contact_uuid: str
    event: str
    at: int
