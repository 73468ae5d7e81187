"""The rules file: which deliveries trigger which actions, checked before the receiver starts.

```toml
[[rules]]
name = "detractor follow-up"
event = "Completed Survey"             # optional: matches triggered_event
when = "answers.nps is defined and answers.nps <= 6"   # optional Jinja expression
  [[rules.actions]]
  type = "track-event"                   # track-event | update-contact | slack | webhook
  event = "NPS detractor"
  [[rules.actions]]
  type = "update-contact"
  traits = { last_nps_score = "{{ answers.nps }}" }
```

Expressions and templates run in Jinja's SandboxedEnvironment and see `event` (the trigger
name), `contact`, `form`, `response` and `answers` (question identifier -> value). Payload
values are only ever context, never template source, so `{{ }}` inside an answer stays text.
Every template is compiled at load time: a syntax error or an unknown action type is a
ConfigError naming the rule. A `when` that fails at run time (say, comparing a text answer
with a number) does not match, and is logged.
"""

from __future__ import annotations

import logging
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, Literal, cast, get_args

from pipelines.errors import ConfigError
from pipelines.events.payload import WebhookPayload

if TYPE_CHECKING:
    from jinja2 import Template
    from jinja2.environment import TemplateExpression
    from jinja2.sandbox import SandboxedEnvironment

logger = logging.getLogger(__name__)

ActionType = Literal["track-event", "update-contact", "slack", "webhook"]
ACTION_TYPES: Final = get_args(ActionType)
_REQUIRED: Final[dict[str, tuple[str, ...]]] = {
    "track-event": ("event",),
    "update-contact": ("traits",),
    "slack": ("text",),
    "webhook": ("url",),
}


@dataclass(frozen=True)
class Action:
    """One action of a rule: its type and compiled templates (`traits` for update-contact)."""

    type: ActionType
    templates: dict[str, Template]
    traits: dict[str, Template] = field(default_factory=dict)
    url: str | None = None


@dataclass(frozen=True)
class Rule:
    name: str
    event: str | None
    when: TemplateExpression | None
    actions: tuple[Action, ...]

    def matches(self, context: dict[str, Any]) -> bool:
        """True when the trigger name and the `when` expression both match `context`."""
        if self.event is not None and context["event"] != self.event:
            return False
        if self.when is None:
            return True
        try:
            return bool(self.when(**context))
        except Exception as error:
            logger.warning("rule %r: `when` failed (%s); not matched", self.name, error)
            return False


def load_rules(path: str | Path) -> list[Rule]:
    """Read and compile the rules file; ConfigError (one line, naming the rule) if invalid."""
    try:
        document = tomllib.loads(Path(path).read_text())
    except OSError as error:
        raise ConfigError(f"rules file {str(path)!r} cannot be read: {error.strerror}") from None
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"rules file {str(path)!r} is not valid TOML: {error}") from None
    entries = document.get("rules", [])
    if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
        raise ConfigError(f"rules file {str(path)!r}: use [[rules]] tables")
    environment = sandbox()
    rules = [_rule(environment, index, entry) for index, entry in enumerate(entries)]
    names = [rule.name for rule in rules]
    duplicated = sorted({name for name in names if names.count(name) > 1})
    if duplicated:
        raise ConfigError(f"rules: the name {duplicated[0]!r} is used twice; names must differ")
    return rules


def sandbox() -> SandboxedEnvironment:
    """The Jinja environment for rules: sandboxed, no autoescape (the output is not HTML)."""
    from jinja2.sandbox import SandboxedEnvironment

    return SandboxedEnvironment(autoescape=False)


def _rule(environment: SandboxedEnvironment, index: int, entry: dict[str, Any]) -> Rule:
    from jinja2 import TemplateSyntaxError

    name = entry.get("name")
    if not isinstance(name, str) or not name.strip():
        raise ConfigError(f'rules[{index}]: give the rule a name = "..."')
    where = f"rule {name!r}"
    event, when = entry.get("event"), entry.get("when")
    if event is not None and not isinstance(event, str):
        raise ConfigError(f'{where}: event must be a trigger name such as "Completed Survey"')
    if when is not None and not isinstance(when, str):
        raise ConfigError(f"{where}: when must be a Jinja expression in a string")
    actions = entry.get("actions", [])
    if not isinstance(actions, list) or not actions:
        raise ConfigError(f"{where}: add at least one [[rules.actions]]")
    try:
        compiled_when = environment.compile_expression(when) if when else None
        compiled = tuple(_action(environment, where, action) for action in actions)
    except TemplateSyntaxError as error:
        raise ConfigError(f"{where}: bad expression or template: {error.message}") from None
    return Rule(name, event, compiled_when, compiled)


def _action(environment: SandboxedEnvironment, where: str, entry: Any) -> Action:
    if not isinstance(entry, dict):
        raise ConfigError(f"{where}: each action is a table with a type")
    kind = entry.get("type")
    if not isinstance(kind, str) or kind not in ACTION_TYPES:
        raise ConfigError(
            f"{where}: unknown action type {kind!r}; use one of {', '.join(ACTION_TYPES)}"
        )
    missing = [key for key in _REQUIRED[kind] if key not in entry]
    if missing:
        raise ConfigError(f"{where}: a {kind} action needs {', '.join(missing)}")
    traits = entry.get("traits", {})
    if not isinstance(traits, dict):
        raise ConfigError(f'{where}: traits must be a table of name = "template"')
    templates = {
        key: environment.from_string(str(value))
        for key, value in entry.items()
        if key in ("event", "text")
    }
    url = entry.get("url")
    if url is not None and not (isinstance(url, str) and url.startswith(("http://", "https://"))):
        raise ConfigError(f"{where}: url must start with http:// or https://")
    return Action(
        cast(ActionType, kind),
        templates,
        {key: environment.from_string(str(value)) for key, value in traits.items()},
        url,
    )


def context(payload: WebhookPayload, raw: dict[str, Any]) -> dict[str, Any]:
    """What expressions and templates see. Values come from the raw body, as sent."""
    contact = {key: value for key, value in raw.items() if key not in ("form", "response")}
    response = raw.get("response") if isinstance(raw.get("response"), dict) else {}
    data = response.get("data") if isinstance(response, dict) else None
    return {
        "event": payload.triggered_event,
        "contact": contact,
        "form": raw.get("form") if isinstance(raw.get("form"), dict) else {},
        "response": response,
        "answers": data if isinstance(data, dict) else {},
    }
