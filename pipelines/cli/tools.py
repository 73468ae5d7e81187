"""`refiner tools <tool>`: call one of Refiner's ten user-facing operations, print JSON.

Options are named as in the API with dashes (`--form-uuid`, `--date-range-start`,
`--page-length`). List tools print one page as the API returns it (`items` + `pagination`)
unless `--all` follows every page. `delete-contact` asks first on a terminal and needs `--yes`
without one. Errors reach `pipelines.cli.main`, which prints one line and sets the exit code
(2 validation, 3 auth, 4 not found, 1 other).
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterable
from typing import TYPE_CHECKING, Annotated, Any, cast

import orjson
import typer

if TYPE_CHECKING:
    from sources.refiner.client import RefinerClient
    from sources.refiner.pagination import Listing
    from sources.refiner.settings import ContactOrder, FormList, Include, Paging, ReportType

app = typer.Typer(
    help="Call one Refiner API operation and print its JSON result on stdout.",
    no_args_is_help=True,
)

_INTEGER = re.compile(r"^[+-]?\d+$")
_DECIMAL = re.compile(r"^[+-]?(\d+\.\d*|\.\d+|\d+)([eE][+-]?\d+)?$")

ApiKey = Annotated[
    str | None,
    typer.Option(
        "--api-key",
        help="Refiner API key. Default: SOURCES__REFINER__API_KEY, then .dlt/secrets.toml.",
        show_default=False,
    ),
]
BaseUrl = Annotated[
    str | None,
    typer.Option(
        "--base-url",
        help="API base URL, e.g. http://127.0.0.1:8765/v1 for the emulator. "
        "Default: SOURCES__REFINER__BASE_URL, then .dlt/config.toml, then api.refiner.io.",
        show_default=False,
    ),
]
Id = Annotated[str | None, typer.Option("--id", help="Your user ID (the contact's remote_id).")]
Email = Annotated[str | None, typer.Option("--email", help="The contact's email.")]
Uuid = Annotated[str | None, typer.Option("--uuid", help="Refiner's contact UUID.")]
PageLength = Annotated[
    int, typer.Option("--page-length", help="Items per request, 1 to 1000.", min=1, max=1000)
]
Page = Annotated[
    int | None, typer.Option("--page", help="Start at this page number (page mode).", min=1)
]
PageCursor = Annotated[
    str | None,
    typer.Option("--page-cursor", help="Start at this cursor (a previous next_page_cursor)."),
]
All = Annotated[bool, typer.Option("--all", help="Follow every page and print all items.")]
FormUuid = Annotated[str | None, typer.Option("--form-uuid", help="Only this survey.")]
SegmentUuid = Annotated[str | None, typer.Option("--segment-uuid", help="Only this segment.")]
RangeStart = Annotated[
    str | None,
    typer.Option(
        "--date-range-start", help="Inclusive start, ISO 8601 (2024-05-01 or 2024-05-01T10:00:00Z)."
    ),
]
RangeEnd = Annotated[str | None, typer.Option("--date-range-end", help="Exclusive end, ISO 8601.")]


PagingMode = Annotated[
    str,
    typer.Option(
        "--paging", help="How to walk the list: 'cursor' (page_cursor) or 'page' (page numbers)."
    ),
]


@app.command("get-account-info")
def get_account_info(api_key: ApiKey = None, base_url: BaseUrl = None) -> None:
    """Plan, monthly usage and environments of the account (GET /account).

    Usage counts tracked users (mtu), events (mte), page views (mpv) and survey responses (msr).
    """
    with _client(api_key, base_url) as client:
        _print(_builtins(client.get_account_info()))


@app.command("get-contacts")
def get_contacts(
    order_by: Annotated[
        str,
        typer.Option("--order-by", help="first_seen_at, last_seen_at or last_form_submission_at."),
    ] = "first_seen_at",
    form_uuid: FormUuid = None,
    segment_uuid: SegmentUuid = None,
    search: Annotated[
        str | None, typer.Option("--search", help="Match email, user ID or name.")
    ] = None,
    page_length: PageLength = 50,
    page: Page = None,
    page_cursor: PageCursor = None,
    paging: PagingMode = "cursor",
    all_pages: All = False,
    api_key: ApiKey = None,
    base_url: BaseUrl = None,
) -> None:
    """List contacts (GET /contacts), optionally only those of a survey or segment.

    Without --all one page is printed with its pagination; pass --page-cursor to go on.
    """
    with _client(api_key, base_url) as client:
        listing = client.get_contacts(
            order_by=cast("ContactOrder", order_by),
            form_uuid=form_uuid,
            segment_uuid=segment_uuid,
            search=search,
            page_length=page_length,
            paging=cast("Paging", paging),
        )
        _print_listing(listing, all_pages, page, page_cursor)


@app.command("get-contact")
def get_contact(
    id: Id = None,
    email: Email = None,
    uuid: Uuid = None,
    api_key: ApiKey = None,
    base_url: BaseUrl = None,
) -> None:
    """One contact with its attributes, segments and account (GET /contact).

    Give exactly one of --id, --email or --uuid. Exit code 4 if it does not exist.
    """
    with _client(api_key, base_url) as client:
        _print(_builtins(client.get_contact(id=id, email=email, uuid=uuid)))


@app.command("update-contact")
def update_contact(
    id: Id = None,
    email: Email = None,
    trait: Annotated[
        list[str] | None,
        typer.Option(
            "--trait",
            help="A trait as name=value; repeat for more. Numbers and true/false keep their "
            'type, null clears, "quoted" forces text. Keys ending in _at are date-times.',
        ),
    ] = None,
    account: Annotated[
        list[str] | None,
        typer.Option(
            "--account",
            help="Group the contact into an account: id=acme (required), then e.g. name=Acme.",
        ),
    ] = None,
    api_key: ApiKey = None,
    base_url: BaseUrl = None,
) -> None:
    """Create or update a contact and its traits (POST /identify-user).

    Identify the contact by --id and/or --email. Prints the contact_uuid.
    Example: refiner tools update-contact --id u1 --trait plan=pro --trait seats=12
    """
    traits = _pairs("--trait", trait or [])
    grouped = _pairs("--account", account) if account else None
    with _client(api_key, base_url) as client:
        result = client.update_contact(id=id, email=email, traits=traits, account=grouped)
        _print(_builtins(result))


@app.command("delete-contact")
def delete_contact(
    id: Id = None,
    email: Email = None,
    uuid: Uuid = None,
    yes: Annotated[
        bool, typer.Option("--yes", help="Delete without asking (required without a terminal).")
    ] = False,
    api_key: ApiKey = None,
    base_url: BaseUrl = None,
) -> None:
    """Delete one contact and all of its responses (DELETE /contact).

    Give exactly one of --id, --email or --uuid. On a terminal it asks first; otherwise it
    needs --yes, and without it exits 2 having sent nothing.
    """
    from sources.refiner import validation

    given = validation.identifiers(
        "delete_contact", {"id": id, "email": email, "uuid": uuid}, exactly_one=True
    )
    if not yes:
        _confirm_deletion(given)
    with _client(api_key, base_url) as client:
        _print(client.delete_contact(id=id, email=email, uuid=uuid))


def _confirm_deletion(identifier: dict[str, str]) -> None:
    """Ask on a terminal (declining aborts, exit 1); without one, refuse with exit 2."""
    from pipelines.errors import ConfigError

    ((name, value),) = identifier.items()
    if not sys.stdin.isatty():
        raise ConfigError(
            f"delete-contact deletes contact {name}={value} and all of its responses; "
            "pass --yes to confirm when no terminal can ask."
        )
    typer.confirm(f"Delete contact {name}={value} and all of its responses?", abort=True, err=True)


@app.command("track-event")
def track_event(
    event: Annotated[
        str | None, typer.Option("--event", help="Event name, e.g. 'Upgraded plan'.")
    ] = None,
    id: Id = None,
    email: Email = None,
    api_key: ApiKey = None,
    base_url: BaseUrl = None,
) -> None:
    """Record a named event for the user with --id and/or --email (POST /track-event)."""
    with _client(api_key, base_url) as client:
        _print(client.track_event(event or "", id=id, email=email))


@app.command("get-forms")
def get_forms(
    list_: Annotated[
        str,
        typer.Option(
            "--list",
            help="all (not archived), published, drafts, archived or all_with_archived.",
        ),
    ] = "all",
    include_info: Annotated[
        bool,
        typer.Option(
            "--include-info", help="Add channels, timestamps, counts, folder and page URL."
        ),
    ] = False,
    include_config: Annotated[
        bool, typer.Option("--include-config", help="Add each survey's full configuration.")
    ] = False,
    page_length: PageLength = 50,
    page: Page = None,
    paging: PagingMode = "page",
    all_pages: All = False,
    api_key: ApiKey = None,
    base_url: BaseUrl = None,
) -> None:
    """List surveys (GET /forms), by name.

    Archived surveys are left out by default, although `refiner load` loads them into `forms`;
    list them with --list all_with_archived (or only them with --list archived).
    """
    with _client(api_key, base_url) as client:
        listing = client.get_forms(
            list=cast("FormList", list_),
            include_info=include_info,
            include_config=include_config,
            page_length=page_length,
            paging=cast("Paging", paging),
        )
        _print_listing(listing, all_pages, page, None)


@app.command("get-responses")
def get_responses(
    include: Annotated[
        str,
        typer.Option(
            "--include",
            help="completed (default), partials (any answer) or all (every survey view).",
        ),
    ] = "completed",
    date_range_start: RangeStart = None,
    date_range_end: RangeEnd = None,
    form_uuid: FormUuid = None,
    form_uuids: Annotated[
        list[str] | None, typer.Option("--form-uuids", help="Several surveys; repeat.")
    ] = None,
    segment_uuid: SegmentUuid = None,
    segment_uuids: Annotated[
        list[str] | None, typer.Option("--segment-uuids", help="Several segments; repeat.")
    ] = None,
    tag_uuid: Annotated[str | None, typer.Option("--tag-uuid", help="Only this tag.")] = None,
    search: Annotated[
        str | None, typer.Option("--search", help="Contact user ID, UUID, email or name.")
    ] = None,
    with_attributes: Annotated[
        bool,
        typer.Option("--with-attributes", help="Embed every attribute of each contact."),
    ] = False,
    page_length: PageLength = 50,
    page: Page = None,
    page_cursor: PageCursor = None,
    paging: PagingMode = "cursor",
    all_pages: All = False,
    api_key: ApiKey = None,
    base_url: BaseUrl = None,
) -> None:
    """List survey responses and views, newest first (GET /responses).

    The date range applies to last_data_reception_at (start inclusive, end exclusive).
    Without --all one page is printed with its pagination; pass --page-cursor to go on.
    """
    with _client(api_key, base_url) as client:
        listing = client.get_responses(
            include=cast("Include", include),
            date_range_start=date_range_start,
            date_range_end=date_range_end,
            form_uuid=form_uuid,
            form_uuids=form_uuids,
            segment_uuid=segment_uuid,
            segment_uuids=segment_uuids,
            tag_uuid=tag_uuid,
            search=search,
            with_attributes=with_attributes,
            page_length=page_length,
            paging=cast("Paging", paging),
        )
        _print_listing(listing, all_pages, page, page_cursor)


@app.command("get-segments")
def get_segments(
    page_length: PageLength = 50,
    page: Page = None,
    page_cursor: PageCursor = None,
    paging: PagingMode = "cursor",
    all_pages: All = False,
    api_key: ApiKey = None,
    base_url: BaseUrl = None,
) -> None:
    """List segments with uuid, name and is_manual (GET /segments)."""
    with _client(api_key, base_url) as client:
        listing = client.get_segments(page_length=page_length, paging=cast("Paging", paging))
        _print_listing(listing, all_pages, page, page_cursor)


@app.command("get-reporting")
def get_reporting(
    type: Annotated[
        str | None,
        typer.Option("--type", help="Report type: nps, csat, ratings, distribution or count."),
    ] = None,
    question_identifiers: Annotated[
        list[str] | None,
        typer.Option("--question-identifiers", help="Only these questions; repeat."),
    ] = None,
    tag_uuids: Annotated[
        list[str] | None, typer.Option("--tag-uuids", help="Only these tags; repeat.")
    ] = None,
    form_uuids: Annotated[
        list[str] | None, typer.Option("--form-uuids", help="Only these surveys; repeat.")
    ] = None,
    segment_uuids: Annotated[
        list[str] | None, typer.Option("--segment-uuids", help="Only these segments; repeat.")
    ] = None,
    date_range_start: RangeStart = None,
    date_range_end: RangeEnd = None,
    api_key: ApiKey = None,
    base_url: BaseUrl = None,
) -> None:
    """An aggregated report: NPS, CSAT, ratings, distribution or counts (GET /reporting).

    --type is required. Refiner defaults the range to the last 7 days.
    """
    with _client(api_key, base_url) as client:
        report = client.get_reporting(
            cast("ReportType", type),
            question_identifiers=question_identifiers,
            tag_uuids=tag_uuids,
            form_uuids=form_uuids,
            segment_uuids=segment_uuids,
            date_range_start=date_range_start,
            date_range_end=date_range_end,
        )
        _print(_builtins(report))


def _client(api_key: str | None, base_url: str | None) -> RefinerClient:
    from pipelines.config import make_client, resolve_api_settings

    return make_client(resolve_api_settings(api_key=api_key, base_url=base_url))


def _print_listing(
    listing: Listing[Any], all_pages: bool, page: int | None, page_cursor: str | None
) -> None:
    pages = listing.pages(page=page, page_cursor=page_cursor)
    if all_pages:
        items = [_builtins(listing.decode(item)) for chunk in pages for item in chunk.items]
        _print({"items": items})
        return
    first = next(pages)
    _print(
        {
            "items": [_builtins(listing.decode(item)) for item in first.items],
            "pagination": first.pagination,
        }
    )


def _pairs(option: str, values: Iterable[str]) -> dict[str, Any]:
    pairs: dict[str, Any] = {}
    for text in values:
        name, sep, raw = text.partition("=")
        if not sep or not name.strip():
            raise typer.BadParameter(f"{text!r} is not name=value", param_hint=option)
        pairs[name.strip()] = _typed(raw)
    return pairs


def _typed(raw: str) -> Any:
    """Read a CLI value: true/false, null, integers and decimals keep their type."""
    lowered = raw.strip().lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    if lowered == "null":
        return None
    if _INTEGER.match(raw.strip()):
        return int(raw)
    if _DECIMAL.match(raw.strip()):
        return float(raw)
    if len(raw) >= 2 and raw[0] == raw[-1] == '"':
        return raw[1:-1]
    return raw


def _builtins(value: Any) -> Any:
    from sources.refiner.models import to_builtins

    return to_builtins(value)


def _print(value: Any) -> None:
    typer.echo(orjson.dumps(value, option=orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS).decode())
