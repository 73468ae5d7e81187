"""What each action type does, once its templates are rendered.

- track-event / update-contact: through the project's RefinerClient (pipelines/config.py),
  on the event's contact: `remote_id`, else `email`.
- slack: a message to the incoming-webhook URL `slack_webhook_url` (a secret, never logged).
- webhook: the delivery's body POSTed to the action's `url`, signed with the Standard
  Webhooks scheme: `webhook-id` (stable across retries), `webhook-timestamp` (Unix seconds)
  and `webhook-signature` = `v1,` + base64(HMAC-SHA256(key, f"{id}.{timestamp}.{body}")),
  where the key is `forward_webhook_secret` (a `whsec_` secret is base64-decoded first).

Failures raise ActionFailed with a message safe to store: a status or an error type, never a
URL or a secret. `permanent` failures are not retried.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pipelines.events.rules import Action

if TYPE_CHECKING:
    import httpx

    from pipelines.config import ApiSettings
    from sources.refiner.client import RefinerClient

SECTION = "sources.refiner"
TIMEOUT_SECONDS = 10.0


class ActionFailed(Exception):
    """An action did not take effect; the message is safe to log and store."""

    def __init__(self, message: str, *, permanent: bool = False) -> None:
        super().__init__(message)
        self.permanent = permanent


@dataclass(frozen=True)
class ActionSecrets:
    """Secrets the actions use, from `[sources.refiner]` (left out of the repr)."""

    slack_webhook_url: str | None = field(default=None, repr=False)
    forward_webhook_secret: str | None = field(default=None, repr=False)

    @classmethod
    def resolve(cls) -> ActionSecrets:
        import dlt

        return cls(
            dlt.secrets.get(f"{SECTION}.slack_webhook_url"),
            dlt.secrets.get(f"{SECTION}.forward_webhook_secret"),
        )


class Actuator:
    """Performs rendered actions. The Refiner client is created on first use, with one
    attempt per call: the runner retries with its own backoff."""

    def __init__(self, api: ApiSettings | None, secrets: ActionSecrets) -> None:
        self._api = api
        self._secrets = secrets
        self._client: RefinerClient | None = None
        self._http: httpx.Client | None = None

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
        if self._http is not None:
            self._http.close()

    def perform(self, action: Action, context: dict[str, Any], message_id: str) -> None:
        """Run `action` for the delivery in `context`; raises ActionFailed."""
        if action.type == "track-event":
            name = action.templates["event"].render(**context)
            self._refiner(lambda client, who: client.track_event(name, **who), context)
        elif action.type == "update-contact":
            traits = {key: t.render(**context) for key, t in action.traits.items()}
            self._refiner(lambda client, who: client.update_contact(traits=traits, **who), context)
        elif action.type == "slack":
            self._slack(action.templates["text"].render(**context))
        else:
            self._forward(action, context, message_id)

    def _refiner(self, call: Any, context: dict[str, Any]) -> None:
        from sources.refiner.errors import RefinerError, ValidationError

        contact = context["contact"]
        remote_id, email = contact.get("remote_id"), contact.get("email")
        if remote_id:
            who = {"id": str(remote_id)}
        elif email:
            who = {"email": str(email)}
        else:
            raise ActionFailed("the contact has no remote_id or email", permanent=True)
        try:
            call(self._refiner_client(), who)
        except ValidationError as error:
            raise ActionFailed(f"Refiner refused it: {error}", permanent=True) from None
        except RefinerError as error:
            raise ActionFailed(f"Refiner call failed: {type(error).__name__}") from None

    def _refiner_client(self) -> RefinerClient:
        if self._client is None:
            if self._api is None:
                raise ActionFailed("no Refiner API key is configured", permanent=True)
            from pipelines.config import make_client

            self._client = make_client(self._api, max_attempts=1)
        return self._client

    def _slack(self, text: str) -> None:
        from slack_sdk.webhook import WebhookClient

        url = self._secrets.slack_webhook_url
        if not url:
            raise ActionFailed("slack_webhook_url is not configured", permanent=True)
        try:
            response = WebhookClient(url, timeout=int(TIMEOUT_SECONDS)).send(text=text)
        except OSError as error:
            raise ActionFailed(f"Slack unreachable: {type(error).__name__}") from None
        if response.status_code != 200:
            raise ActionFailed(f"Slack answered {response.status_code}")

    def _forward(self, action: Action, context: dict[str, Any], message_id: str) -> None:
        import httpx
        import msgspec

        secret = self._secrets.forward_webhook_secret
        if not secret:
            raise ActionFailed("forward_webhook_secret is not configured", permanent=True)
        body = msgspec.json.encode(context["raw"])
        headers = sign(secret, message_id, int(time.time()), body)
        if self._http is None:
            self._http = httpx.Client(timeout=TIMEOUT_SECONDS, follow_redirects=False)
        try:
            headers["content-type"] = "application/json"
            response = self._http.post(str(action.url), content=body, headers=headers)
        except httpx.HTTPError as error:
            raise ActionFailed(f"webhook unreachable: {type(error).__name__}") from None
        if not response.is_success:
            raise ActionFailed(f"webhook answered {response.status_code}")


def sign(secret: str, message_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    """Standard Webhooks headers for `body`."""
    key = base64.b64decode(secret[6:]) if secret.startswith("whsec_") else secret.encode()
    signed = f"{message_id}.{timestamp}.".encode() + body
    digest = hmac.new(key, signed, hashlib.sha256).digest()
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": "v1," + base64.b64encode(digest).decode(),
    }
