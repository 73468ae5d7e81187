"""Deterministic, realistic seed data: the same SeedConfig (seed + end) gives the same records.

Forms carry NPS (0-10), CSAT (1-5), rating (1-5), multi-select, yes/no and free-text questions,
with long slugs and short ids like `nps`; one draft and one archived form when there are three
or more. Responses are completed, partial, dismissed or seen-only views spread over `days`
before `end`. Contacts have unicode/emoji/RTL names, typed traits, and some lack an email or a
remote_id. Records share tuples and strings so a million responses stay within modest memory.
"""

from __future__ import annotations

import gc
import itertools
import random
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

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
from emulator.records import make_uuid
from emulator.render import form_config
from emulator.store import Store
from emulator.timefmt import iso_z

DAY = 86400

LONG_REASON = (
    "what_is_the_most_important_reason_for_your_score_and_what_is_the_one_thing_we_could_do_"
    "to_make_you_even_happier_with_our_product"
)
LONG_SUPPORT = (
    "how_satisfied_are_you_with_the_support_you_received_from_our_customer_success_team_"
    "during_your_most_recent_conversation"
)
FEATURES = ("Dashboards", "Exports", "API", "Integrations", "Mobile app", "Alerts 🔔")
SOURCES = ("Search engine", "A friend", "Podcast 🎙️", "LinkedIn", "Conference")

FORM_TEMPLATES: tuple[tuple[str, tuple[Question, ...]], ...] = (
    (
        "NPS — Product",
        (
            Question("nps", "nps", "How likely are you to recommend us to a friend?", None, True),
            Question(LONG_REASON, "text", "What is the most important reason for your score?"),
        ),
    ),
    (
        "Customer satisfaction ⭐",
        (
            Question(LONG_SUPPORT, "csat", "How satisfied are you with our support?", None, True),
            Question("anything_else", "text", "Anything else you want to tell us?"),
        ),
    ),
    (
        "Feature feedback",
        (
            Question("rating", "rating", "How would you rate the new editor?", None, True),
            Question(
                "which_features_do_you_use_the_most",
                "multiple_choice",
                "Which features do you use the most?",
                FEATURES,
            ),
            Question("would_you_pay_for_it", "yes_no", "Would you pay for it?"),
        ),
    ),
    (
        "Onboarding check-in",
        (
            Question(
                "how_likely_are_you_to_recommend_us_to_a_friend_or_colleague",
                "nps",
                "How likely are you to recommend us to a friend or colleague?",
                None,
                True,
            ),
            Question("what_brought_you_here", "multiple_choice", "What brought you here?", SOURCES),
            Question("comment", "text", "Comment"),
        ),
    ),
    (
        "استطلاع رضا العملاء",
        (
            Question("csat", "csat", "ما مدى رضاك؟", None, True),
            Question("why", "text", "لماذا؟"),
        ),
    ),
)

TEXTS: tuple[str | None, ...] = (
    "Faster exports please",
    "Love it! 😍🚀",
    "The onboarding was confusing.",
    "Ça marche très bien, merci !",
    "אני אוהב את המוצר הזה",
    "المنتج رائع جدا",
    "日本語のサポートが欲しいです",
    "Ünïcödé everywhere — “quotes” and 'apostrophes'",
    "Line one\nLine two\ttabbed",
    "Too expensive for a small team 💸",
    "Support answered within minutes 👏",
    "Dark mode 🌙 when?",
    "",
    None,
    "Needs SSO and SCIM before we can roll it out company-wide; security reviewed the "
    "integration twice and both times asked for audit logs, IP allow-lists and a clear data "
    "retention policy. Until then we keep it to the pilot team of twelve people. 🙏",
)
FIRST_NAMES = (
    "Ana",
    "Zoë",
    "José",
    "محمد",
    "שרה",
    "Łukasz",
    "Søren",
    "李雷",
    "Priya",
    "Ngọc",
    "Émilie",
    "Олег",
    "Ayşe",
    "Kofi",
    "Mia 🚀",
    "Liam",
)
LAST_NAMES = (
    "López",
    "Müller",
    "O'Brien",
    "Nakamura",
    "العلي",
    "כהן",
    "Nowak",
    "Østergaard",
    "Smith",
    "Nguyễn",
    "Dubois",
    "Иванов",
    "Yılmaz",  # noqa: RUF001 - realistic non-ASCII name
    "Mensah",
    "Brown",
    "🦄",
)
COMPANIES = (
    "Acme",
    "Globex",
    "Initech",
    "Umbrella",
    "Hooli",
    "Müller GmbH",
    "株式会社テスト",
    "شركة النور",
    "Stark Industries",
    "Wayne Enterprises",
    "Señor Café ☕",
)
PLANS = ("free", "starter", "pro", "enterprise")
COUNTRIES = ("France", "Deutschland", "Österreich", "日本", "مصر", "ישראל", "Brasil", "USA")
INDUSTRIES = ("Software", "Retail", "Finance", "Healthcare", "Education")
SEGMENT_NAMES = (
    "Power users",
    "Promoters 💚",
    "Churn risk",
    "Beta testers",
    "Enterprise accounts",
    "Trial users",
    "VIP — manual list",
    "לקוחות חדשים",
    "Detractors",
)
EVENTS = ("Upgraded plan", "Exported report", "Invited teammate", "Created dashboard 📊")
TAG_NAMES = ("bug 🐞", "pricing", "feature-request", "onboarding", "سعر")
NPS_WEIGHTS = (3, 2, 2, 3, 3, 5, 7, 12, 18, 22, 23)
SCALE_WEIGHTS = (6, 8, 16, 35, 35)
ANSWER_POOL = 4096


@dataclass(frozen=True)
class SeedConfig:
    """Size knobs of the generated data; `end` defaults to the start of the current UTC day."""

    seed: int = 7
    contacts: int = 200
    accounts: int = 40
    forms: int = 6
    segments: int = 5
    responses: int = 1000
    days: int = 90
    end: datetime | None = None
    # False: every form's config lists no elements, as in an account whose config the API
    # leaves opaque; questions then show only as answer keys.
    form_elements: bool = True

    def end_timestamp(self) -> int:
        """Where the data ends, as epoch seconds."""
        end = self.end
        if end is None:
            end = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
        elif end.tzinfo is None:
            end = end.replace(tzinfo=UTC)
        return int(end.timestamp())


def _weighted(values: range, weights: tuple[int, ...]) -> tuple[int, ...]:
    return tuple(v for v, w in zip(values, weights, strict=True) for _ in range(w))


def _subsets(options: tuple[str, ...]) -> tuple[tuple[str, ...], ...]:
    picks = [options[i : i + size] for size in (1, 2, 3) for i in range(len(options) - size + 1)]
    return tuple(picks)


class _Generator:
    def __init__(self, config: SeedConfig) -> None:
        self.config = config
        self.rng = random.Random(config.seed)
        self.end = config.end_timestamp()
        self.start = self.end - max(config.days, 1) * DAY

        self._salt = self.rng.getrandbits(64) | 1
        self._counter = 0
        self._node = f"{self.rng.getrandbits(44):011x}"

    def uuid(self) -> str:
        """Unique per generator (a bijective mix of a counter), v1-looking, with one node id."""
        self._counter += 1
        mixed = (self._counter * 0x9E3779B97F4A7C15 ^ self._salt) & 0xFFFFFFFFFFFFFFFF
        mixed = (mixed * self._salt) & 0xFFFFFFFFFFFFFFFF
        return (
            f"{mixed >> 32:08x}-{(mixed >> 16) & 0xFFFF:04x}-11ee-"
            f"8{(mixed >> 4) & 0xFFF:03x}-{mixed & 0xF:x}{self._node}"
        )

    def below(self, n: int) -> int:
        """Uniform integer in [0, n) (cheaper than randrange)."""
        return int(self.rng.random() * n)

    def accounts(self) -> list[Account]:
        result = []
        for index in range(self.config.accounts):
            company = COMPANIES[index % len(COMPANIES)]
            name = company if index < len(COMPANIES) else f"{company} {index // len(COMPANIES) + 1}"
            first = self.start - (30 * DAY + self.below(370 * DAY))
            result.append(
                Account(
                    uuid=self.uuid(),
                    remote_id=f"acct-{index + 1}",
                    display_name=name,
                    domain=None if index % 5 == 4 else f"acct{index + 1}.example.com",
                    first_seen_at=first,
                    last_seen_at=first,
                    attributes={
                        "industry": INDUSTRIES[index % len(INDUSTRIES)],
                        "employees": 5 + self.below(4995),
                        "tier": ("smb", "mid-market", "enterprise")[index % 3],
                    },
                )
            )
        return result

    def contacts(self, accounts: list[Account]) -> list[Contact]:
        rng = self.rng
        random_ = rng.random
        span = self.end - DAY - (self.start - 60 * DAY)
        result = []
        for index in range(self.config.contacts):
            first = self.start - 60 * DAY + int(random_() * span)
            kind = index % 10
            remote_id = None if kind == 3 else f"user-{index + 1}"
            email = None if kind == 7 else f"user{index + 1}@example{index % 7}.com"
            name = (
                None
                if kind == 5
                else (
                    f"{FIRST_NAMES[self.below(len(FIRST_NAMES))]} "
                    f"{LAST_NAMES[self.below(len(LAST_NAMES))]}"
                )
            )
            traits: dict[str, Any] = {
                "plan": PLANS[self.below(len(PLANS))],
                "seats": 1 + self.below(249),
                "mrr": round(random_() * 2000, 2),
                "is_beta": random_() < 0.3,
                "signed_up_at": iso_z(first - self.below(30 * DAY)),
            }
            if kind != 1:
                traits["country"] = COUNTRIES[self.below(len(COUNTRIES))]
            account = accounts[self.below(len(accounts))] if accounts and random_() < 0.75 else None
            if account is not None:
                account.first_seen_at = min(account.first_seen_at, first)
            result.append(
                Contact(
                    uuid=self.uuid(),
                    remote_id=remote_id,
                    email=email,
                    display_name=name,
                    first_seen_at=first,
                    last_seen_at=first + int(random_() * (self.end - first)),
                    last_form_submission_at=None,
                    last_tracking_event_at=None,
                    traits=traits,
                    account=account,
                    segments={},
                    responses=[],
                )
            )
        return result

    def forms(self) -> list[Form]:
        count = self.config.forms
        result = []
        for index in range(count):
            template_name, questions = FORM_TEMPLATES[index % len(FORM_TEMPLATES)]
            name = (
                template_name
                if index < len(FORM_TEMPLATES)
                else (f"{template_name} #{index // len(FORM_TEMPLATES) + 1}")
            )
            created = self.start - (10 * DAY + self.below(190 * DAY))
            draft = count >= 3 and index == count - 2
            archived = count >= 3 and index == count - 1
            published = None if draft else created + (DAY + self.below(4 * DAY))
            archived_at = self.end - 10 * DAY if archived else None
            form = Form(
                uuid=self.uuid(),
                name=name,
                channels=["web", "mobile"] if index % 2 else ["web", "link"],
                created_at=created,
                updated_at=archived_at or published or created,
                published_at=published,
                archived_at=archived_at,
                folder=None if index % 3 == 2 else {"uuid": self.uuid(), "name": "Product 📦"},
                page_url=f"https://forms.refiner.io/{self.uuid()[:8]}" if index % 2 == 0 else None,
                questions=list(questions),
                config_elements=self.config.form_elements,
            )
            snapshot = {"name": form.name, **form_config(form)}
            form.history.append(HistoryEntry(self.uuid(), "create", created, snapshot))
            if published is not None:
                form.history.append(HistoryEntry(self.uuid(), "publish", published, snapshot))
            if archived_at is not None:
                form.history.append(HistoryEntry(self.uuid(), "archive", archived_at, snapshot))
            result.append(form)
        return result

    def segments(self, contacts: list[Contact]) -> list[Segment]:
        rng = self.rng
        result = []
        for index in range(self.config.segments):
            base = SEGMENT_NAMES[index % len(SEGMENT_NAMES)]
            name = (
                base if index < len(SEGMENT_NAMES) else f"{base} {index // len(SEGMENT_NAMES) + 1}"
            )
            result.append(
                Segment(
                    self.uuid(), name, index % 2 == 1, self.start - (DAY + self.below(89 * DAY))
                )
            )
        random_ = rng.random
        for person in contacts:
            for segment in result:
                if random_() < 0.2:
                    low = max(person.first_seen_at, segment.created_at)
                    person.segments[segment.uuid] = low + int(random_() * max(self.end - low, 1))
        return result

    def answer_pool(self, form: Form) -> tuple[tuple[Any, ...], ...]:
        """ANSWER_POOL complete answer tuples for a form, drawn with realistic weights."""
        random_ = self.rng.random
        nps_pool = _weighted(range(11), NPS_WEIGHTS)
        scale_pool = _weighted(range(1, 6), SCALE_WEIGHTS)
        pool = []
        for _ in range(ANSWER_POOL):
            answers: list[Any] = []
            for question in form.questions:
                kind = question.type
                if kind == "nps":
                    answers.append(nps_pool[int(random_() * len(nps_pool))])
                elif kind in ("csat", "rating"):
                    answers.append(scale_pool[int(random_() * len(scale_pool))])
                elif kind == "multiple_choice" and question.options:
                    choices = _subsets(question.options)
                    answers.append(choices[int(random_() * len(choices))])
                elif kind == "yes_no":
                    answers.append(random_() < 0.6)
                else:
                    answers.append(TEXTS[int(random_() * len(TEXTS))])
            pool.append(tuple(answers))
        return tuple(pool)

    def responses(
        self, contacts: list[Contact], forms: list[Form], tags: list[Tag]
    ) -> list[Response]:
        """Views and responses; one 64-bit draw per row picks its shape (hot loop at 1M)."""
        live = [form for form in forms if form.published_at is not None]
        if not contacts or not live:
            return []
        random_ = self.rng.random
        bits = self.rng.getrandbits
        pools = [self.answer_pool(form) for form in live]
        partials = [tuple((answers[0],) for answers in pool) for pool in pools]
        partial_keys = [form.keys[:1] for form in live]
        tag_pool = tuple((tag,) for tag in tags) + tuple(itertools.pairwise(tags))
        n_tags = len(tag_pool)
        empty: tuple[Any, ...] = ()
        end, start = self.end, self.start
        n_contacts, n_forms = len(contacts), len(live)
        uuid = self.uuid
        result: list[Response] = []
        append = result.append
        for _ in range(self.config.responses):
            person = contacts[int(random_() * n_contacts)]
            which = int(random_() * n_forms)
            form = live[which]
            low = person.first_seen_at if person.first_seen_at > start else start
            high = form.archived_at or end
            if low >= high:
                low = start
            shown = low + int(random_() * (high - low))
            draw = bits(64)
            roll = draw & 0xFF  # 0..255: shape of the row
            counter = 1 if (draw >> 8) & 0x7 else 2 + ((draw >> 11) & 0x3)
            first_shown = shown - ((draw >> 13) & 0xFFFF) * (counter - 1)
            answer_index = (draw >> 29) % ANSWER_POOL
            first_data = last_data = completed = dismissed = None
            keys = values = tagged = empty
            if roll < 205:  # 80% answered
                first_data = shown + 5 + ((draw >> 40) & 0x3F)
                last_data = first_data + ((draw >> 46) & 0x7F)
                if roll < 174:  # 68% completed
                    completed = last_data
                    keys, values = form.keys, pools[which][answer_index]
                    if n_tags and (draw >> 53) & 0xF == 0:
                        tagged = tag_pool[(draw >> 57) % n_tags]
                else:
                    keys, values = partial_keys[which], partials[which][answer_index]
            elif roll < 230:  # 10% dismissed, the rest seen only
                dismissed = shown + 3 + ((draw >> 40) & 0x1F)
            response = Response(
                uuid(),
                form,
                person,
                first_shown,
                shown,
                counter,
                first_data,
                last_data,
                completed,
                last_data,
                dismissed,
                keys,
                values,
                tagged,
            )
            person.responses.append(response)
            if shown > person.last_seen_at:
                person.last_seen_at = shown
            if completed is not None and (
                person.last_form_submission_at is None or completed > person.last_form_submission_at
            ):
                person.last_form_submission_at = completed
            append(response)
        return result

    def events(self, contacts: list[Contact]) -> list[Event]:
        rng = self.rng
        result = []
        for person in contacts:
            if rng.random() < 0.2:
                at = person.first_seen_at + int(rng.random() * (self.end - person.first_seen_at))
                result.append(Event(self.uuid(), person.uuid, EVENTS[self.below(len(EVENTS))], at))
                person.last_tracking_event_at = at
                person.last_seen_at = max(person.last_seen_at, at)
        return result


def project_uuid(config: SeedConfig) -> str:
    """The environment UUID for a seed (stable across runs)."""
    return make_uuid(random.Random(f"project-{config.seed}"))


def generate(store: Store, config: SeedConfig) -> None:
    """Fill `store` with the data described by `config`.

    The cyclic garbage collector is paused meanwhile: the generator only allocates, and
    repeated collections over a growing million-object heap would dominate the run time.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        _generate(store, config)
    finally:
        if was_enabled:
            gc.enable()


def _generate(store: Store, config: SeedConfig) -> None:
    generator = _Generator(config)
    accounts = generator.accounts()
    contacts = generator.contacts(accounts)
    forms = generator.forms()
    segments = generator.segments(contacts)
    tags = [Tag(generator.uuid(), name) for name in TAG_NAMES]
    responses = generator.responses(contacts, forms, tags)
    events = generator.events(contacts)
    for person in contacts:
        account = person.account
        if account is not None and person.last_seen_at > account.last_seen_at:
            account.last_seen_at = person.last_seen_at
    store.bulk_load(
        accounts=accounts,
        contacts=contacts,
        forms=forms,
        segments=segments,
        tags=tags,
        responses=responses,
        events=events,
    )
