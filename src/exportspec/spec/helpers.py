"""The functions templates may call: Unix timestamps and calendar arithmetic in time zones."""

from __future__ import annotations

import datetime as dt
import zoneinfo
from collections.abc import Callable
from typing import Any


def _to_datetime(value: Any) -> dt.datetime:
    """A datetime from a datetime, a date or an ISO 8601 string; naive values are UTC."""
    if isinstance(value, dt.datetime):
        moment = value
    elif isinstance(value, dt.date):
        moment = dt.datetime(value.year, value.month, value.day)
    elif isinstance(value, str):
        try:
            moment = dt.datetime.fromisoformat(value.strip())
        except ValueError:
            raise ValueError(f"{value!r} is not an ISO 8601 date or date-time") from None
    else:
        raise TypeError(f"expected a date-time or ISO 8601 string, got {type(value).__name__}")
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=dt.UTC)


def timestamp(value: Any) -> int:
    """Integer Unix seconds of a datetime, date or ISO 8601 string (naive means UTC)."""
    if isinstance(value, bool):
        raise TypeError("expected a date-time, got a boolean")
    if isinstance(value, int | float):
        return int(value)
    return int(_to_datetime(value).timestamp())


def to_datetime(value: Any) -> dt.datetime:
    """Parse a date-time (an aware UTC datetime when no offset is given)."""
    return _to_datetime(value)


def start_of_day(value: Any, tz: str = "UTC") -> dt.datetime:
    """Midnight at the start of `value`'s day in time zone `tz`."""
    zone = _zone(tz)
    local = _to_datetime(value).astimezone(zone)
    return local.replace(hour=0, minute=0, second=0, microsecond=0)


def days_before(value: Any, days: int) -> dt.datetime:
    """`days` calendar days before `value` (wall-clock arithmetic in its own zone)."""
    return _to_datetime(value) - dt.timedelta(days=int(days))


def days_after(value: Any, days: int) -> dt.datetime:
    """`days` calendar days after `value`."""
    return _to_datetime(value) + dt.timedelta(days=int(days))


def _zone(name: str) -> zoneinfo.ZoneInfo:
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {name!r}") from None


HELPERS: dict[str, Callable[..., Any]] = {
    "timestamp": timestamp,
    "to_datetime": to_datetime,
    "start_of_day": start_of_day,
    "days_before": days_before,
    "days_after": days_after,
}
