"""The emulator's ground truth: records, indexes, mutators that keep side effects consistent,
cached sorted queries for the list endpoints, and the rendered views tests compare against.

Every mutator takes the store lock, bumps `version` and drops the query and page caches.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from emulator import render
from emulator.cache import PageCache
from emulator.clock import Clock
from emulator.models import (
    Account,
    Contact,
    Event,
    Form,
    HistoryEntry,
    Question,
    Response,
    Segment,
    Tag,
)
from emulator.records import (
    FormStats,
    RecordView,
    apply_account_spec,
    check_response_fields,
    check_timestamp_fields,
    form_stats,
    make_uuid,
    new_account,
    new_contact,
    question,
    response_timestamps,
)
from emulator.timefmt import parse_instant, parse_optional

_UNSET: Any = object()


class Store:
    """All records of one emulated Refiner environment."""

    def __init__(
        self,
        clock: Clock,
        *,
        project_uuid: str,
        project_name: str = "Production",
        uuid_seed: int = 0,
        page_cache_bytes: int = 256 * 1024 * 1024,
    ) -> None:
        self.clock = clock
        self.project_uuid = project_uuid
        self.project_name = project_name
        self.lock = threading.RLock()
        self.version = 0
        self.pages = PageCache(page_cache_bytes)
        self._rng = random.Random(uuid_seed)
        self._queries: dict[Any, Any] = {}
        self.contact_records: dict[str, Contact] = {}
        self.account_records: dict[str, Account] = {}
        self.response_records: dict[str, Response] = {}
        self.form_records: dict[str, Form] = {}
        self.segment_records: dict[str, Segment] = {}
        self.tag_records: dict[str, Tag] = {}
        self.event_records: list[Event] = []
        self._by_remote_id: dict[str, Contact] = {}
        self._by_email: dict[str, Contact] = {}
        self._accounts_by_remote_id: dict[str, Account] = {}
        self.contacts = RecordView(self.lock, lambda: self.contact_records, self._draw_contact)
        self.responses = RecordView(self.lock, lambda: self.response_records, render.response)
        self.forms = RecordView(
            self.lock, lambda: self.form_records, lambda f: self._draw_form(f, True, True)
        )
        self.segments = RecordView(self.lock, lambda: self.segment_records, render.segment)
        self.accounts = RecordView(self.lock, lambda: self.account_records, render.account_full)  # type: ignore[arg-type]
        clock.on_change(self.invalidate)

    # ----------------------------------------------------------------- bookkeeping
    def invalidate(self) -> None:
        """Drop cached queries and pages (after a write or a clock change)."""
        self._queries.clear()
        self.pages.clear()

    def _touch(self) -> None:
        self.version += 1
        self.invalidate()

    def now(self) -> int:
        """The clock's now in whole seconds."""
        return self.clock.seconds()

    def new_uuid(self) -> str:
        """A fresh record UUID (deterministic per store)."""
        with self.lock:
            return make_uuid(self._rng)

    def cached(self, key: Any, build: Callable[[], Any]) -> Any:
        """Memoise a query result until the next write or clock change."""
        with self.lock:
            if key in self._queries:
                return self._queries[key]
            value = build()
            self._queries[key] = value
            return value

    def bulk_load(
        self,
        *,
        accounts: Iterable[Account] = (),
        contacts: Iterable[Contact] = (),
        forms: Iterable[Form] = (),
        segments: Iterable[Segment] = (),
        tags: Iterable[Tag] = (),
        responses: Iterable[Response] = (),
        events: Iterable[Event] = (),
    ) -> None:
        """Insert generated records as they are (used by the seed generator)."""
        with self.lock:
            for account in accounts:
                self._index_account(account)
            for person in contacts:
                self.contact_records[person.uuid] = person
                self._index_contact(person)
            self.form_records.update((form.uuid, form) for form in forms)
            self.segment_records.update((segment.uuid, segment) for segment in segments)
            self.tag_records.update((tag.name, tag) for tag in tags)
            self.response_records.update((response.uuid, response) for response in responses)
            self.event_records.extend(events)
            self._touch()

    def _index_account(self, account: Account) -> None:
        self.account_records[account.uuid] = account
        if account.remote_id is not None:
            self._accounts_by_remote_id[account.remote_id] = account

    def _index_contact(self, person: Contact) -> None:
        if person.remote_id is not None:
            self._by_remote_id[person.remote_id] = person
        if person.email is not None:
            self._by_email.setdefault(person.email.lower(), person)

    def _unindex_contact(self, person: Contact) -> None:
        if person.remote_id is not None and self._by_remote_id.get(person.remote_id) is person:
            del self._by_remote_id[person.remote_id]
        if person.email is not None and self._by_email.get(person.email.lower()) is person:
            email = person.email.lower()
            del self._by_email[email]
            for other in self.contact_records.values():
                if other is not person and other.email and other.email.lower() == email:
                    self._by_email[email] = other
                    break

    # ----------------------------------------------------------------- lookups
    def find_contact(
        self, *, uuid: str | None = None, remote_id: str | None = None, email: str | None = None
    ) -> Contact | None:
        """The contact with this uuid, else remote_id, else email (first given wins)."""
        with self.lock:
            if uuid is not None:
                return self.contact_records.get(uuid)
            if remote_id is not None:
                return self._by_remote_id.get(remote_id)
            if email is not None:
                return self._by_email.get(email.lower())
            return None

    def contact_record(self, uuid: str) -> Contact:
        """The contact record; KeyError if unknown."""
        return self.contact_records[uuid]

    def form_record(self, uuid: str) -> Form:
        """The form record; KeyError if unknown."""
        return self.form_records[uuid]

    # ----------------------------------------------------------------- rendering
    def _draw_contact(self, person: Contact) -> dict[str, Any]:
        return render.contact(person, self.segment_records)

    def _draw_form(self, form: Form, include_info: bool, include_config: bool) -> dict[str, Any]:
        stats = self.form_stats().get(form.uuid, (0, 0, None, None))
        return render.form(form, include_info, include_config, stats)

    def render_contact(self, uuid: str) -> dict[str, Any]:
        """GET /contact?uuid=... exactly."""
        with self.lock:
            return self._draw_contact(self.contact_records[uuid])

    def render_response(self, uuid: str, with_attributes: bool = False) -> dict[str, Any]:
        """One item of GET /responses exactly."""
        with self.lock:
            return render.response(self.response_records[uuid], with_attributes)

    def render_form(
        self, uuid: str, include_info: bool = True, include_config: bool = True
    ) -> dict[str, Any]:
        """One item of GET /forms exactly."""
        with self.lock:
            return self._draw_form(self.form_records[uuid], include_info, include_config)

    def render_segment(self, uuid: str) -> dict[str, Any]:
        """One item of GET /segments exactly."""
        with self.lock:
            return render.segment(self.segment_records[uuid])

    @property
    def events(self) -> list[dict[str, Any]]:
        """Tracked events, oldest first: {uuid, contact_uuid, event, at}."""
        with self.lock:
            return [render.event(e) for e in self.event_records]

    @property
    def tags(self) -> dict[str, str]:
        """Tag name -> tag uuid."""
        with self.lock:
            return {name: tag.uuid for name, tag in self.tag_records.items()}

    def dump(self) -> dict[str, Any]:
        """Every record in API shape (the ground truth for end-to-end comparisons)."""
        with self.lock:
            return {
                "project_uuid": self.project_uuid,
                "contacts": [self._draw_contact(c) for c in self.contact_records.values()],
                "accounts": [render.account_full(a) for a in self.account_records.values()],
                "responses": [render.response(r, True) for r in self.response_records.values()],
                "forms": [self._draw_form(f, True, True) for f in self.form_records.values()],
                "segments": [render.segment(s) for s in self.segment_records.values()],
                "events": self.events,
                "tags": [{"uuid": t.uuid, "name": t.name} for t in self.tag_records.values()],
            }

    def form_stats(self) -> dict[str, FormStats]:
        """Per form: (responses_count, views_count, first_form_view_at, last_form_view_at)."""
        stats: dict[str, FormStats] = self.cached(
            ("form_stats",), lambda: form_stats(self.response_records.values())
        )
        return stats

    # ----------------------------------------------------------------- contacts
    def _upsert_account(self, spec: Mapping[str, Any], now: int) -> Account:
        remote_id = spec.get("id", spec.get("remote_id"))
        if remote_id is None or remote_id == "":
            raise ValueError("account must include an id")
        remote_id = str(remote_id)
        account = self._accounts_by_remote_id.get(remote_id)
        if account is None:
            account = new_account(make_uuid(self._rng), remote_id, now)
            self._index_account(account)
        account.last_seen_at = max(account.last_seen_at, now)
        apply_account_spec(account, spec)
        return account

    def upsert_contact(
        self,
        *,
        uuid: str | None = None,
        remote_id: str | None = None,
        email: str | None = None,
        display_name: str | None = _UNSET,
        attributes: Mapping[str, Any] | None = None,
        account: Mapping[str, Any] | None = None,
        first_seen_at: Any = None,
        last_seen_at: Any = None,
    ) -> str:
        """Create or update a contact found by uuid, else remote_id, else email; returns its uuid.

        Attributes are merged (a value of None removes the trait). `account` is
        `{"id": ..., "name"/"display_name": ..., "domain": ..., other traits}`. `last_seen_at`
        defaults to the clock's now; `first_seen_at` to now for a new contact.
        """
        with self.lock:
            now = self.now()
            person = None
            if uuid is not None:
                person = self.contact_records.get(uuid)
            if person is None and remote_id is not None:
                person = self._by_remote_id.get(remote_id)
            if person is None and email is not None and remote_id is None:
                person = self._by_email.get(email.lower())
            if person is None and email is not None and remote_id is not None:
                candidate = self._by_email.get(email.lower())
                if candidate is not None and candidate.remote_id is None:
                    person = candidate
            seen = parse_optional(last_seen_at)
            if person is None:
                first = parse_optional(first_seen_at)
                person = new_contact(
                    uuid or make_uuid(self._rng),
                    remote_id,
                    email,
                    first if first is not None else (seen if seen is not None else now),
                    now,
                )
                self.contact_records[person.uuid] = person
            else:
                self._unindex_contact(person)
                if remote_id is not None:
                    person.remote_id = remote_id
                if email is not None:
                    person.email = email
                if first_seen_at is not None:
                    person.first_seen_at = parse_instant(first_seen_at)
            self._index_contact(person)
            person.last_seen_at = seen if seen is not None else now
            if display_name is not _UNSET:
                person.display_name = display_name
            for key, value in (attributes or {}).items():
                if value is None:
                    person.traits.pop(key, None)
                else:
                    person.traits[key] = value
            if account is not None:
                person.account = self._upsert_account(account, person.last_seen_at)
            self._touch()
            return person.uuid

    def delete_contact(self, uuid: str) -> None:
        """Delete a contact and, in cascade, its responses (§3.6); KeyError if unknown."""
        with self.lock:
            person = self.contact_records.pop(uuid)
            self._unindex_contact(person)
            for response in person.responses:
                self.response_records.pop(response.uuid, None)
            person.responses = []
            self._touch()

    def track_event(self, contact_uuid: str, event: str, at: Any = None) -> str:
        """Record an event for a contact; sets last_tracking_event_at and last_seen_at."""
        with self.lock:
            person = self.contact_records[contact_uuid]
            when = parse_optional(at)
            when = self.now() if when is None else when
            record = Event(make_uuid(self._rng), person.uuid, event, when)
            self.event_records.append(record)
            person.last_tracking_event_at = max(person.last_tracking_event_at or when, when)
            person.last_seen_at = max(person.last_seen_at, when)
            self._touch()
            return record.uuid

    # ----------------------------------------------------------------- segments
    def add_segment(
        self, *, name: str, is_manual: bool = False, uuid: str | None = None, created_at: Any = None
    ) -> str:
        """Create a segment; returns its uuid."""
        with self.lock:
            when = parse_optional(created_at)
            segment = Segment(
                uuid or make_uuid(self._rng), name, is_manual, self.now() if when is None else when
            )
            self.segment_records[segment.uuid] = segment
            self._touch()
            return segment.uuid

    def add_to_segment(self, segment_uuid: str, contact_uuid: str, at: Any = None) -> None:
        """Put a contact in a segment (entered_at = `at` or now); KeyError if either is unknown."""
        with self.lock:
            if segment_uuid not in self.segment_records:
                raise KeyError(segment_uuid)
            person = self.contact_records[contact_uuid]
            when = parse_optional(at)
            person.segments.setdefault(segment_uuid, self.now() if when is None else when)
            self._touch()

    def remove_from_segment(self, segment_uuid: str, contact_uuid: str) -> bool:
        """Take a contact out of a segment; False if it was not in it."""
        with self.lock:
            person = self.contact_records[contact_uuid]
            removed = person.segments.pop(segment_uuid, None) is not None
            self._touch()
            return removed

    # ----------------------------------------------------------------- forms
    def add_form(
        self,
        *,
        name: str,
        questions: Iterable[Question | Mapping[str, Any]] = (),
        published: bool = True,
        archived: bool = False,
        channels: Iterable[str] = ("web",),
        uuid: str | None = None,
        created_at: Any = None,
        folder: Mapping[str, Any] | None = None,
        page_url: str | None = None,
    ) -> str:
        """Create a form whose elements are `questions` ({id, type, question, options})."""
        with self.lock:
            when = parse_optional(created_at)
            when = self.now() if when is None else when
            form = Form(
                uuid=uuid or make_uuid(self._rng),
                name=name,
                channels=list(channels),
                created_at=when,
                updated_at=when,
                published_at=when if published else None,
                archived_at=when if archived else None,
                folder=dict(folder) if folder is not None else None,
                page_url=page_url,
                questions=[question(spec) for spec in questions],
            )
            self.form_records[form.uuid] = form
            self._add_history(form, "create", when)
            self._touch()
            return form.uuid

    def _add_history(self, form: Form, action: str, when: int) -> None:
        snapshot = {"name": form.name, **render.form_config(form)}
        form.history.append(HistoryEntry(make_uuid(self._rng), action, when, snapshot))

    def update_form(
        self,
        uuid: str,
        *,
        name: str | None = None,
        questions: Iterable[Question | Mapping[str, Any]] | None = None,
    ) -> None:
        """Rename a form or replace its elements (adds an "update" history entry)."""
        with self.lock:
            form = self.form_records[uuid]
            if name is not None:
                form.name = name
            if questions is not None:
                form.questions = [question(spec) for spec in questions]
                form.keys = tuple(question.id for question in form.questions)
            form.updated_at = self.now()
            self._add_history(form, "update", form.updated_at)
            self._touch()

    def publish_form(self, uuid: str, published: bool = True) -> None:
        """Publish (published_at = now) or unpublish (published_at = None) a form."""
        with self.lock:
            form = self.form_records[uuid]
            now = self.now()
            form.published_at = now if published else None
            form.updated_at = now
            self._add_history(form, "publish" if published else "unpublish", now)
            self._touch()

    def duplicate_form(self, uuid: str, name: str) -> str:
        """Copy a form into a new unpublished draft; returns the new uuid."""
        with self.lock:
            source = self.form_records[uuid]
            return self.add_form(
                name=name,
                questions=[
                    Question(q.id, q.type, q.question, q.options, q.required)
                    for q in source.questions
                ],
                published=False,
                channels=source.channels,
                folder=source.folder,
            )

    def archive_form(self, uuid: str) -> None:
        """Archive a form (archived_at = now); it leaves `list=all`."""
        with self.lock:
            form = self.form_records[uuid]
            now = self.now()
            form.archived_at = now
            form.updated_at = now
            self._add_history(form, "archive", now)
            self._touch()

    # ----------------------------------------------------------------- responses
    def _tags(self, names: Iterable[str]) -> tuple[Tag, ...]:
        tags: list[Tag] = []
        for name in names:
            tag = self.tag_records.get(name)
            if tag is None:
                tag = Tag(make_uuid(self._rng), name)
                self.tag_records[name] = tag
            if tag not in tags:
                tags.append(tag)
        return tuple(tags)

    def add_response(
        self,
        *,
        form_uuid: str,
        contact_uuid: str,
        data: Mapping[str, Any] | None = None,
        state: str | None = None,
        at: Any = None,
        uuid: str | None = None,
        show_counter: int = 1,
        tags: Iterable[str] = (),
        **timestamps: Any,
    ) -> str:
        """Add a survey view/response; returns its uuid.

        `state` is completed (default when data is given), partial, dismissed or seen (default
        without data). All timestamps default from `at` (default now) and the state; any of
        first_shown_at, last_shown_at, first_data_reception_at, last_data_reception_at,
        completed_at, received_at, dismissed_at may be given explicitly (None allowed).
        """
        with self.lock:
            form = self.form_records[form_uuid]
            person = self.contact_records[contact_uuid]
            answers = dict(data or {})
            state = state or ("completed" if answers else "seen")
            check_response_fields(state, timestamps)
            when = parse_optional(at)
            when = self.now() if when is None else when
            values = response_timestamps(state, when, timestamps)
            response = Response(
                uuid=uuid or make_uuid(self._rng),
                form=form,
                contact=person,
                show_counter=show_counter,
                keys=tuple(answers),
                values=tuple(answers.values()),
                tags=self._tags(tags),
                **values,  # type: ignore[arg-type]
            )
            self.response_records[response.uuid] = response
            person.responses.append(response)
            self._after_response_change(response)
            self._touch()
            return response.uuid

    def _after_response_change(self, response: Response) -> None:
        person = response.contact
        if response.completed_at is not None:
            latest = person.last_form_submission_at
            if latest is None or response.completed_at > latest:
                person.last_form_submission_at = response.completed_at
        person.last_seen_at = max(person.last_seen_at, response.last_shown_at)

    def update_response(
        self,
        uuid: str,
        *,
        data: Mapping[str, Any] | None = None,
        merge_data: bool = True,
        show_counter: int | None = None,
        tags: Iterable[str] | None = None,
        **timestamps: Any,
    ) -> None:
        """Change a response: merge (or replace) answers, set tags by name, set timestamps."""
        with self.lock:
            response = self.response_records[uuid]
            check_timestamp_fields(timestamps)
            if data is not None:
                answers = response.data if merge_data else {}
                answers.update(data)
                response.keys = tuple(answers)
                response.values = tuple(answers.values())
            if show_counter is not None:
                response.show_counter = show_counter
            if tags is not None:
                response.tags = self._tags(tags)
            for name, value in timestamps.items():
                setattr(response, name, parse_optional(value))
            self._after_response_change(response)
            self._touch()

    def delete_response(self, uuid: str) -> None:
        """Remove one response; KeyError if unknown."""
        with self.lock:
            response = self.response_records.pop(uuid)
            response.contact.responses.remove(response)
            self._touch()

    def tag_response(self, uuid: str, names: Iterable[str]) -> list[str]:
        """Add tags by name to a response (additive); returns its tag names."""
        with self.lock:
            response = self.response_records[uuid]
            added = self._tags(names)
            response.tags = response.tags + tuple(t for t in added if t not in response.tags)
            self._touch()
            return [tag.name for tag in response.tags]

    def find_duplicate_response(
        self, form_uuid: str, contact_uuid: str, data: Mapping[str, Any]
    ) -> str | None:
        """A stored response of this contact and form with exactly these answers, if any."""
        with self.lock:
            person = self.contact_records[contact_uuid]
            wanted = dict(data)
            for response in person.responses:
                if response.form.uuid == form_uuid and response.data == wanted:
                    return response.uuid
            return None
