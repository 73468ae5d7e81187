"""RefinerClient behaviour that needs no server: validation, encoding, error mapping, retries.

An httpx.MockTransport stands in for the network so each rule is checked in isolation;
the same behaviour is exercised over real HTTP in test_client_emulator.py.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import httpx
import orjson
import pytest

from sources.refiner.client import RefinerClient
from sources.refiner.errors import (
    AuthError,
    NotFoundError,
    RateLimitedError,
    ServerError,
    TransportError,
    ValidationError,
)

KEY = "sentinel-key-0123456789abcdef"
Handler = Callable[[httpx.Request], httpx.Response]


class Recorder:
    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return self.handler(request)


def make(handler: Handler, **kwargs: Any) -> tuple[RefinerClient, Recorder]:
    recorder = Recorder(handler)
    options: dict[str, Any] = {"backoff_initial": 0.001, "backoff_max": 0.01, **kwargs}
    client = RefinerClient(
        KEY, "http://refiner.test/v1", transport=httpx.MockTransport(recorder), **options
    )
    return client, recorder


def ok(payload: Any = None, status: int = 200) -> Handler:
    return lambda request: httpx.Response(status, json=payload or {"message": "ok"})


INVALID_CALLS: list[tuple[str, Callable[[RefinerClient], Any], str]] = [
    ("get_contact none", lambda c: c.get_contact(), "get_contact: pass one of `id`"),
    ("get_contact two", lambda c: c.get_contact(id="a", email="b"), "exactly one"),
    ("delete_contact none", lambda c: c.delete_contact(), "delete_contact"),
    ("reporting missing", lambda c: c.get_reporting(None), "`type` is required"),  # type: ignore[arg-type]
    ("reporting bad", lambda c: c.get_reporting("score"), "'score', which is not allowed"),  # type: ignore[arg-type]
    ("include", lambda c: list(c.get_responses(include="some")), "`include`"),  # type: ignore[arg-type]
    ("order_by", lambda c: list(c.get_contacts(order_by="email")), "`order_by`"),  # type: ignore[arg-type]
    ("list", lambda c: list(c.get_forms(list="deleted")), "`list`"),  # type: ignore[arg-type]
    ("page_length 0", lambda c: list(c.get_segments(page_length=0)), "`page_length` is 0"),
    ("page_length 1001", lambda c: list(c.get_segments(page_length=1001)), "1 to 1000"),
    ("paging", lambda c: list(c.get_segments(paging="offset")), "`paging`"),  # type: ignore[arg-type]
    ("event", lambda c: c.track_event("", id="u1"), "`event` is required"),
    ("event who", lambda c: c.track_event("Signed up"), "track_event: pass one of"),
    ("update who", lambda c: c.update_contact(traits={"plan": "pro"}), "update_contact"),
    ("trait long", lambda c: c.update_contact(id="u", traits={"bio": "x" * 256}), "at most 255"),
    ("trait type", lambda c: c.update_contact(id="u", traits={"a": [1]}), "is a list"),
    ("trait reserved", lambda c: c.update_contact(id="u", traits={"email": "x"}), "reserved"),
    ("account id", lambda c: c.update_contact(id="u", account={"name": "A"}), "'id'"),
    ("date", lambda c: list(c.get_responses(date_range_start="last week")), "ISO 8601"),
    ("uuid list", lambda c: list(c.get_responses(form_uuids="abc")), "list of strings"),
    ("flag", lambda c: list(c.get_responses(with_attributes="no")), "True or False"),  # type: ignore[arg-type]
    ("tags", lambda c: c.tag_response("r", [f"t{i}" for i in range(21)]), "pass 1 to 20"),
    ("segment who", lambda c: c.add_to_segment("s", uuid="x"), "unexpected"),  # type: ignore[call-arg]
    ("store data", lambda c: c.store_response("f", {}, id="u"), "`data` is empty"),
    ("iter_pages", lambda c: list(c.iter_pages("responses", page_length=5000)), "1 to 1000"),
]


@pytest.mark.parametrize(
    ("name", "call", "message"), INVALID_CALLS, ids=[c[0] for c in INVALID_CALLS]
)
def test_invalid_input_sends_nothing(
    name: str, call: Callable[[RefinerClient], Any], message: str
) -> None:
    client, recorder = make(ok())
    with pytest.raises((ValidationError, TypeError), match=message):
        call(client)
    assert recorder.requests == []


def test_bearer_header_and_no_key_in_url_or_repr() -> None:
    client, recorder = make(ok({"project_uuid": "p", "project_name": "Production", "message": "x"}))
    assert client.verify()["project_name"] == "Production"
    request = recorder.requests[0]
    assert request.headers["authorization"] == f"Bearer {KEY}"
    assert request.headers["accept"] == "application/json"
    assert str(request.url) == "http://refiner.test/v1/"
    assert KEY not in repr(client)
    assert KEY not in repr(client._http.auth)


def test_query_encoding_of_lists_booleans_and_dates() -> None:
    payload = {"items": [], "pagination": {"next_page_cursor": None}}
    client, recorder = make(ok(payload))
    list(
        client.get_responses(
            include="all",
            form_uuids=["f1", "f2"],
            with_attributes=True,
            date_range_start=datetime(2024, 5, 1, tzinfo=UTC),
            date_range_end="2024-06-01",
            page_length=1000,
        )
    )
    params = recorder.requests[0].url.params
    assert params.get_list("form_uuids[]") == ["f1", "f2"]
    assert params["with_attributes"] == "1"
    assert params["include"] == "all"
    assert params["date_range_start"] == "2024-05-01T00:00:00Z"
    assert params["date_range_end"] == "2024-06-01"
    assert params["page_length"] == "1000"
    assert "page_cursor" not in params and "page" not in params


def test_writes_send_a_json_body() -> None:
    client, recorder = make(ok({"message": "ok", "contact_uuid": "c1"}, status=202))
    result = client.update_contact(
        id="u1",
        traits={"plan": "pro", "seats": 12, "beta": True, "renewal_at": datetime(2024, 1, 2)},
        account={"id": "acme", "name": "Acme"},
    )
    assert result.contact_uuid == "c1"
    request = recorder.requests[0]
    assert request.method == "POST"
    assert request.url.path == "/v1/identify-user"
    assert request.headers["content-type"] == "application/json"
    assert orjson.loads(request.content) == {
        "id": "u1",
        "plan": "pro",
        "seats": 12,
        "beta": True,
        "renewal_at": "2024-01-02T00:00:00Z",
        "account": {"id": "acme", "name": "Acme"},
    }


@pytest.mark.parametrize(
    ("status", "body", "error"),
    [
        (401, {"error": "No API key found in headers"}, AuthError),
        (401, {"error": "API key does not look valid"}, AuthError),
        (404, {"message": "API key not valid or does not exist"}, AuthError),
        (404, {"error": "Contact not found"}, NotFoundError),
        (400, {"error": "type is required"}, ValidationError),
        (422, {"error": "bad"}, ValidationError),
    ],
)
def test_client_errors_are_not_retried(status: int, body: Any, error: type[Exception]) -> None:
    client, recorder = make(lambda request: httpx.Response(status, json=body))
    with pytest.raises(error) as raised:
        client.get_contact(id="u1")
    assert len(recorder.requests) == 1
    assert raised.value.status == status  # type: ignore[attr-defined]
    assert "gave up" not in str(raised.value)


def test_key_echoed_by_the_server_is_redacted_everywhere(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    client, _ = make(
        lambda r: httpx.Response(
            404, json={"message": f"API key not valid or does not exist: {KEY}"}
        )
    )
    with pytest.raises(AuthError) as raised:
        client.get_account_info()
    assert "Authentication failed" in str(raised.value)
    for text in (str(raised.value), repr(raised.value), raised.value.body or "", caplog.text):
        assert KEY not in text


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_5xx_is_retried_then_succeeds(status: int) -> None:
    responses = iter(
        [httpx.Response(status, text="down"), httpx.Response(200, json={"message": "ok"})]
    )
    client, recorder = make(lambda request: next(responses))
    assert client.track_event("Signed up", id="u1") == {"message": "ok"}
    assert len(recorder.requests) == 2
    assert client.stats.requests == 2 and client.stats.retries == 1


def test_permanent_500_gives_server_error_after_max_attempts(
    caplog: pytest.LogCaptureFixture,
) -> None:
    client, recorder = make(lambda request: httpx.Response(500, text="boom"), max_attempts=4)
    with pytest.raises(ServerError, match="gave up after 4 attempts") as raised:
        client.get_account_info()
    assert len(recorder.requests) == 4
    assert raised.value.attempts == 4
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 3
    assert "http://refiner.test/v1/account" in warnings[0].getMessage()


def test_429_waits_at_least_retry_after(monkeypatch: pytest.MonkeyPatch) -> None:
    waits: list[float] = []
    monkeypatch.setattr("tenacity.nap.time.sleep", waits.append)
    responses = iter(
        [
            httpx.Response(
                429, headers={"Retry-After": "3"}, json={"error": "You are doing this too often."}
            ),
            httpx.Response(429, headers={"Retry-After": "1"}, json={}),
            httpx.Response(200, json={"message": "ok"}),
        ]
    )
    client, recorder = make(lambda request: next(responses))
    client.track_event("x", id="u")
    assert len(recorder.requests) == 3
    assert waits[0] >= 3 and waits[1] >= 1


def test_429_forever_gives_rate_limited_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("tenacity.nap.time.sleep", lambda seconds: None)
    client, recorder = make(
        lambda r: httpx.Response(429, headers={"Retry-After": "1"}, json={}), max_attempts=3
    )
    with pytest.raises(RateLimitedError, match="gave up after 3 attempts"):
        client.get_account_info()
    assert len(recorder.requests) == 3


def test_retry_after_beyond_the_budget_fails_at_once() -> None:
    client, recorder = make(lambda r: httpx.Response(429, headers={"Retry-After": "3600"}, json={}))
    with pytest.raises(RateLimitedError) as raised:
        client.get_account_info()
    assert raised.value.retry_after == 3600
    assert len(recorder.requests) == 1


@pytest.mark.parametrize(
    "failure",
    [
        httpx.ConnectError("refused"),
        httpx.ReadTimeout("slow"),
        httpx.RemoteProtocolError("cut"),
        httpx.ReadError("reset"),
        httpx.WriteError("broken pipe"),
    ],
)
def test_transport_errors_are_retried(failure: httpx.TransportError) -> None:
    outcomes: list[Any] = [failure, httpx.Response(200, json={"message": "ok"})]

    def handler(request: httpx.Request) -> httpx.Response:
        outcome = outcomes.pop(0)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    client, recorder = make(handler)
    assert client.delete_contact(id="u1") == {"message": "ok"}
    assert len(recorder.requests) == 2


def test_transport_error_after_all_attempts() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused")

    client, recorder = make(handler, max_attempts=2)
    with pytest.raises(TransportError, match="ConnectError: connection refused"):
        client.verify()
    assert len(recorder.requests) == 2


@pytest.mark.parametrize(
    "body",
    [
        b"<html>ok</html>",
        b'{"pagination": {}}',
        b'{"items": "x", "pagination": {}}',
        b'{"items": [',
    ],
)
def test_malformed_2xx_pages_are_retried_then_server_error(body: bytes) -> None:
    client, recorder = make(lambda r: httpx.Response(200, content=body), max_attempts=3)
    with pytest.raises(ServerError, match="malformed body"):
        list(client.get_segments())
    assert len(recorder.requests) == 3


def test_malformed_once_then_good() -> None:
    good = {
        "items": [{"uuid": "s1", "name": "A", "is_manual": True}],
        "pagination": {"next_page_cursor": None},
    }
    bodies = iter([b"<html>", orjson.dumps(good)])
    client, _ = make(lambda r: httpx.Response(200, content=next(bodies)))
    assert [s.uuid for s in client.get_segments()] == ["s1"]


def test_constructor_checks_and_does_no_io() -> None:
    with pytest.raises(ValidationError, match="API key is empty"):
        RefinerClient("")
    with pytest.raises(ValidationError, match="http:// or https://"):
        RefinerClient(KEY, "api.refiner.io/v1")
    client = RefinerClient(KEY, "http://127.0.0.1:9/v1")  # nothing listens; no error
    assert client.base_url == "http://127.0.0.1:9/v1"
    client.close()


def test_models_parse_timestamps_to_utc_and_ignore_unknown_fields() -> None:
    contact = {
        "uuid": "c1",
        "first_seen_at": "2024-05-20T17:02:11.000000Z",
        "last_seen_at": "2024-05-20 17:02:11",
        "last_form_submission_at": "2024-05-20T19:02:11+02:00",
        "brand_new_field": {"x": 1},
        "segments": [{"uuid": "s", "name": "A", "extra": 1}],
        "account": {"uuid": "a", "remote_id": "acme", "domain": None, "display_name": "Acme"},
    }
    client, _ = make(ok(contact))
    got = client.get_contact(uuid="c1")
    instant = datetime(2024, 5, 20, 17, 2, 11, tzinfo=UTC)
    assert got.first_seen_at == got.last_seen_at == got.last_form_submission_at == instant
    assert got.last_seen_at is not None and got.last_seen_at.tzinfo is UTC
    assert got.account is not None and got.account.remote_id == "acme"


def test_shape_mismatch_in_a_model_is_a_server_error() -> None:
    client, _ = make(ok({"uuid": "c1", "first_seen_at": "not a date"}))
    with pytest.raises(ServerError, match="Contact that does not match"):
        client.get_contact(uuid="c1")
