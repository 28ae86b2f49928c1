"""What the API answered when it refused: its own messages, one printable line each, and a hint."""

from __future__ import annotations

import re
from collections.abc import Callable

from exportspec.errors import RefusedError
from exportspec.jsontext import StrictJsonError, loads_strict
from exportspec.run.settings import ENV_API_KEY_ID, ENV_API_SECRET, ENV_PROJECT_TOKEN

MAX_MESSAGES = 20
_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f-\x9f]")

HINT_BY_STATUS = {
    400: "the API's message above says what it rejected; `exportspec validate` catches "
    "structural problems, not ids (segmentations, aggregates, properties) the project lacks",
    401: f"check {ENV_API_KEY_ID} and {ENV_API_SECRET} "
    "(the key ID and secret of a private API group)",
    403: 'the API group needs the "GDPR > Export customers" permission, and the project '
    "token must be the token of that group's project",
    404: f"check the project token ({ENV_PROJECT_TOKEN}) and the base URL",
}

SECRET_HINT = (
    f"check {ENV_API_SECRET}: the API says the secret is wrong (Bloomreach shows a secret "
    "once, when it is created; after a rotation the old one stops working within 24 h)"
)

SUCCESS_FALSE_HINT = (
    "the API's message above says what it refused; a permission error means the API group "
    'lacks "GDPR > Export customers" or the project token is another project\'s'
)

NOT_AN_EXPORT_HINT = (
    "check the base URL, and whether a proxy or captive portal answers in the API's place"
)


def api_messages(body: bytes, scrub: Callable[[str], str] = lambda text: text) -> list[str]:
    """The API's own error text in every documented shape: error, errors (list or dict), message.

    Falls back to the body as text when it is not JSON (a proxy's HTML or plain text). Each
    message is one printable line of bounded length: server text must not drive the terminal.
    `scrub` masks secrets in each message before it is cut, so no fragment of one survives.
    """
    text = body.decode("utf-8", "replace").strip()
    try:
        data = loads_strict(text)
    except StrictJsonError:
        data = None
    messages: list[str] = []
    if isinstance(data, dict):
        if data.get("error"):
            messages.append(str(data["error"]))
        errors = data.get("errors")
        if isinstance(errors, list):
            messages += [str(item) for item in errors]
        elif isinstance(errors, dict):
            for key, value in errors.items():
                items = value if isinstance(value, list) else [value]
                prefix = "" if key in ("_global", "") else f"{key}: "
                messages += [f"{prefix}{item}" for item in items]
        elif errors:
            messages.append(str(errors))
        if data.get("message"):
            messages.append(str(data["message"]))
    if not messages and text and not (isinstance(data, dict) and "success" in data):
        messages.append(text)
    shown = [one_line(scrub(message)) for message in messages[:MAX_MESSAGES]]
    if len(messages) > MAX_MESSAGES:
        shown.append(f"... and {len(messages) - MAX_MESSAGES} more")
    return shown


def one_line(text: str) -> str:
    """`text` with control characters and runs of whitespace collapsed, at most 500 characters."""
    collapsed = " ".join(_CONTROL_RE.sub(" ", text).split())
    return collapsed if len(collapsed) <= 500 else collapsed[:500] + "..."


def refusal(
    status: int,
    reason: str,
    body: bytes,
    *,
    success_false: bool = False,
    scrub: Callable[[str], str] = lambda text: text,
) -> RefusedError:
    """The error for a refused request: status, the API's messages and a hint.

    `scrub` masks secrets in what the server sent; our own hint text is left as written.
    """
    messages = api_messages(body, scrub) or ["(no message in the response)"]
    what = (
        "HTTP 200 with success: false"
        if success_false
        else f"HTTP {status} {one_line(scrub(reason))}".strip()
    )
    text = f"the API refused the request ({what}): " + "; ".join(messages)
    hint = HINT_BY_STATUS.get(status)
    if success_false:
        hint = SUCCESS_FALSE_HINT
    if status == 403 and any("secret" in message.lower() for message in messages):
        hint = SECRET_HINT  # the API's own words name the secret, not a permission
    return RefusedError(f"{text}\nhint: {hint}" if hint else text)
