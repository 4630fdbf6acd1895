"""Secrets out of every message: one redactor applied after a message is formatted and before it is cut.

A provider can echo the API key anywhere (a JSON key, a header, a CSV column, lower-cased, URL-encoded).
So nothing tries to guess where the key may sit: every text that leaves the process (an exception
message, a log record, the CLI's one line, a stored error) goes through `redact`, which replaces

- the secret in any letter case,
- its URL encodings (`quote` and `quote_plus`, upper- and lower-case escapes), and
- a piece of it of at least `MIN_FRAGMENT` characters standing at either edge of the text, which is what
  is left when a text was cut across the key by someone who did not redact first.

The secrets are the ones `Settings` carries (`register_settings`) plus any a client registers; this set is
the module's only state, an explicit cache of strings that must never be printed.
"""

from __future__ import annotations

import contextlib
import logging
import re
from urllib.parse import quote, quote_plus, urlsplit

MASK = "***"
MIN_FRAGMENT = 4  # a secret's edge piece shorter than this is not distinguishable from ordinary text
_SECRETS: set[str] = set()
_PATTERN: re.Pattern[str] | None = None


def register(secret: str | None) -> None:
    """Add a secret (an API key, a password) to what every message is scrubbed of."""
    global _PATTERN
    if secret and len(secret) >= MIN_FRAGMENT and secret not in _SECRETS:
        _SECRETS.add(secret)
        _PATTERN = None


def _forms(secret: str) -> set[str]:
    forms = {secret, quote(secret, safe=""), quote_plus(secret, safe="")}
    return forms | {re.sub(r"%[0-9A-F]{2}", lambda m: m.group(0).lower(), f) for f in forms}


def _pattern() -> re.Pattern[str] | None:
    global _PATTERN
    if _PATTERN is None and _SECRETS:
        forms = sorted({form for secret in _SECRETS for form in _forms(secret)}, key=len, reverse=True)
        _PATTERN = re.compile("|".join(re.escape(f) for f in forms), re.IGNORECASE)
    return _PATTERN


def redact(text: str, secrets: tuple[str, ...] = ()) -> str:
    """`text` with every registered secret (and `secrets`) masked, in any case or URL encoding, and with a
    cut-off piece of one at either edge masked too."""
    for secret in secrets:
        register(secret)
    pattern = _pattern()
    if pattern is None or not text:
        return text
    text = pattern.sub(MASK, text)
    lowered = text.lower()
    for secret in _SECRETS:
        for form in _forms(secret):
            low = form.lower()
            for size in range(min(len(low) - 1, len(text)), MIN_FRAGMENT - 1, -1):
                if lowered.endswith(low[:size]):
                    text, lowered = text[:-size] + MASK, lowered[:-size] + MASK
                    break
            for size in range(min(len(low) - 1, len(text)), MIN_FRAGMENT - 1, -1):
                if lowered.startswith(low[-size:]):
                    text, lowered = MASK + text[size:], MASK + lowered[size:]
                    break
    return text


def cut(text: str, limit: int) -> str:
    """Redact, then cut to `limit` characters: the only order in which a cut cannot split a secret."""
    text = redact(text)
    return text if len(text) <= limit else text[: max(0, limit - 1)] + "…"


def _scrub(record: logging.LogRecord) -> logging.LogRecord:
    if not _SECRETS:
        return record
    message = record.getMessage()
    clean = redact(message)
    if clean != message:
        record.msg, record.args = clean, None
    if record.exc_info and not record.exc_text:
        record.exc_text = logging.Formatter().formatException(record.exc_info)
    if record.exc_text:
        record.exc_text = redact(record.exc_text)
    return record


def install_log_redaction() -> None:
    """Scrub every log record as it is made, whichever logger or handler (Prefect's, urllib3's, ours) it
    goes to: a filter on one logger does not see what its children propagate, a record factory sees all."""
    factory = logging.getLogRecordFactory()
    if getattr(factory, "featurecast_redacts", False):
        return

    def make(*args: object, **kwargs: object) -> logging.LogRecord:
        return _scrub(factory(*args, **kwargs))

    make.featurecast_redacts = True  # type: ignore[attr-defined]
    logging.setLogRecordFactory(make)


def register_uri_password(uri: str | None) -> None:
    """Register the password of a URI (`mongodb://user:secret@host`) as a secret."""
    if uri:
        with contextlib.suppress(ValueError):
            register(urlsplit(uri).password)
