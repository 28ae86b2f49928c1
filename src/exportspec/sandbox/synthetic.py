"""A deterministic synthetic customer base, generated per batch from (seed, index).

Customer `i` depends only on the seed and `i`: its random bits are bytes of a SHAKE-128
stream keyed by the seed and `i // BATCH_SIZE`, a standard function, so the same seed and
size give the same bytes on every machine and Python version. Nothing is stored; five
million customers cost one batch of memory.
"""

from __future__ import annotations

import hashlib
import struct
import unicodedata
from collections.abc import Callable, Iterator
from functools import cache
from typing import Any

from exportspec.sandbox.model import (
    DAYS_SINCE,
    Batch,
    ColumnKind,
    ComputedAttribute,
    Condition,
    ConsentMode,
    EvalContext,
    Project,
    RecommendationOptions,
    Segment,
    Segmentation,
    days_since,
    encode_csv_cells,
    local_days,
)
from exportspec.sandbox.personal import (
    CONSENT_CATEGORIES,
    PERSONAL_PICKS_ID,
    consent_column,
    personal_words,
    recommendation_column,
)

BATCH_SIZE = 4096
DEFAULT_CUSTOMERS = 1000
DEFAULT_SEED = 0
#: Customers register between 2019-01-01T00:00:00Z and 2026-01-01T00:00:00Z.
REGISTERED_FROM = 1546300800
REGISTERED_SPAN = 1767225600 - REGISTERED_FROM
_MASK = (1 << 64) - 1

# The ids of the spend-tier segmentation and the purchase-count aggregate are the
# placeholders of Bloomreach's own examples, so specs copied from the docs run as written.
SPEND_TIER_ID = "606488856f8cf6f848b20af8"
COUNTRY_ID = "6064889b6f8cf6f848b20b12"
TENURE_ID = "606488a46f8cf6f848b20b3c"
PURCHASE_COUNT_ID = "592ff585fb60094e02bfaf6a"
REGISTERED_WEEKDAY_ID = "5f0c3a9e2b1d4c0012a7e441"
TENURE_DAYS_ID = "5f0c3aa72b1d4c0012a7e45d"
CHURN_ID = "5f0c3ab12b1d4c0012a7e47f"

IDS = ("registered", "cookie")
PROPERTIES = (
    "email",
    "first_name",
    "last_name",
    "city",
    "country",
    "total_spent",
    "registered_at",
)

FIRST_NAMES = (
    "Anna", "Peter", "Lucia", "Martin", "Žofia", "Ján", "Katarína", "Tomáš",
    "Eva", "Michal", "Zuzana", "Lukáš", "Mária", "Jakub", "Veronika", "Marek",
    "Lenka", "Filip", "Jana", "Matej", "Ľubica", "Štefan", "Petra", "Andrej",
    "Barbora", "Juraj", "Simona", "Pavol", "Ivana", "Róbert", "Monika", "Dávid",
    "Emma", "Oliver", "Sophie", "Liam", "Mia", "Noah", "Chloé", "Lucas",
    "Hannah", "Jonas", "Léa", "Felix", "Olivia", "Max", "Zoë", "Elias",
    "Aisha", "Omar", "Yuki", "Hiro", "Priya", "Arjun", "Mei", "Chen",
    "Sofía", "Mateo", "Inés", "Diego", "Agnieszka", "Krzysztof", "Réka", "Bálint",
)  # fmt: skip
LAST_NAMES = (
    "Novák", "Kováč", "Horváth", "Varga", "Tóth", "Nagy", "Baláž", "Szabó",
    "Molnár", "Lukáč", "Kráľ", "Hudák", "Šimko", "Polák", "Marko", "Urban",
    "Kollár", "Král", "Černý", "Dvořák", "Svoboda", "Procházka", "Kučera", "Veselý",
    "Müller", "Schmidt", "Schneider", "Fischer", "Weber", "Meyer", "Wagner", "Becker",
    "Smith", "Jones", "Brown", "Taylor", "Wilson", "Evans", "Walker", "Wright",
    "Dubois", "Moreau", "Laurent", "Lefèvre", "Rossi", "Russo", "Ferrari", "Bianchi",
    "García", "López", "Martínez", "Sánchez", "Kowalski", "Nowak", "Wiśniewski", "Kovács",
    "O'Brien", "Sato", "Suzuki", "Tanaka", "Patel", "Sharma", "Wang", "Li",
)  # fmt: skip
CITIES = (
    ("Bratislava", "SK"), ("Košice", "SK"), ("Žilina", "SK"), ("Nitra", "SK"),
    ("Prešov", "SK"), ("Banská Bystrica", "SK"), ("Prague", "CZ"), ("Brno", "CZ"),
    ("Ostrava", "CZ"), ("Plzeň", "CZ"), ("Berlin", "DE"), ("Munich", "DE"),
    ("Hamburg", "DE"), ("Cologne", "DE"), ("Vienna", "AT"), ("Graz", "AT"),
    ("Warsaw", "PL"), ("Kraków", "PL"), ("Budapest", "HU"), ("Debrecen", "HU"),
    ("London", "GB"), ("Manchester", "GB"), ("Paris", "FR"), ("Lyon", "FR"),
    ("Madrid", "ES"), ("Barcelona", "ES"), ("Milan", "IT"), ("Rome", "IT"),
    ("Amsterdam", "NL"), ("New York", "US"), ("Tokyo", "JP"), ("Mumbai", "IN"),
)  # fmt: skip
WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
#: Cookie count by 4 random bits: 0 (25 %), 1 (37.5 %), 2 (25 %), 3 (12.5 %).
_COOKIE_COUNTS = (0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3)


def _ascii_slug(name: str) -> str:
    decomposed = unicodedata.normalize("NFKD", name)
    kept = "".join(c for c in decomposed if c.isascii() and c.isalnum())
    return kept.lower()


_FIRST_SLUGS = tuple(_ascii_slug(n) for n in FIRST_NAMES)
_LAST_SLUGS = tuple(_ascii_slug(n) for n in LAST_NAMES)
#: "first.last." for every (first, last) pair, indexed by first + 64 * last.
_REGISTERED_PREFIXES = tuple(f"{f}.{n}." for n in _LAST_SLUGS for f in _FIRST_SLUGS)
_CITY_NAMES = tuple(c for c, _ in CITIES)
_CITY_COUNTRIES = tuple(k for _, k in CITIES)


def _between(low: float, high: float) -> tuple[Condition, ...]:
    return (Condition("total_spent", ">=", low), Condition("total_spent", "<", high))


def _tenure(low: int, high: int | None) -> tuple[Condition, ...]:
    operand = DAYS_SINCE + "registered_at"
    upper = () if high is None else (Condition(operand, "<", high),)
    return (Condition(operand, ">=", low), *upper)


SEGMENTATIONS = (
    Segmentation(
        SPEND_TIER_ID,
        "Spend tier",
        (
            Segment("VIP", (Condition("total_spent", ">=", 1000),)),
            Segment("Regular", _between(100, 1000)),
            Segment("Occasional", _between(0.01, 100)),
        ),
    ),
    Segmentation(
        COUNTRY_ID,
        "Home market",
        (
            Segment("Slovakia", (Condition("country", "==", "SK"),)),
            Segment("Czechia", (Condition("country", "==", "CZ"),)),
            Segment("DACH", (Condition("country", "in", ["DE", "AT", "CH"]),)),
        ),
    ),
    Segmentation(
        TENURE_ID,
        "Tenure",
        (
            Segment("New (under 1 year)", _tenure(0, 365)),
            Segment("Established (1-3 years)", _tenure(365, 1095)),
            Segment("Loyal (3+ years)", _tenure(1095, None)),
        ),
    ),
)
ATTRIBUTES = (
    ComputedAttribute("aggregate", PURCHASE_COUNT_ID, "purchase_count"),
    ComputedAttribute("expression", REGISTERED_WEEKDAY_ID, "registered_weekday"),
    ComputedAttribute("expression", TENURE_DAYS_ID, "tenure_days"),
    ComputedAttribute("prediction", CHURN_ID, "churn_probability"),
    ComputedAttribute("recommendation", PERSONAL_PICKS_ID, "personal_picks"),
)


@cache
def _key_prefix(seed: int) -> bytes:
    return b"exportspec-sandbox/v1/%d/" % seed


def _random_words(seed: int, batch_no: int, count: int) -> tuple[int, ...]:
    """2 * count 64-bit words; a prefix of the same batch's longer stream."""
    raw = hashlib.shake_128(_key_prefix(seed) + b"%d" % batch_no).digest(16 * count)
    return struct.unpack(f"<{2 * count}Q", raw)


class SyntheticBatch:
    """Customers `start .. start + size - 1`; each column is computed once, on demand."""

    def __init__(self, seed: int, start: int, size: int) -> None:
        words = _random_words(seed, start // BATCH_SIZE, size)
        self.seed = seed
        self.start = start
        self.size = size
        self._a = words[0::2]
        self._b = words[1::2]
        self._cache: dict[tuple[str, str], list[Any]] = {}

    # Derived random fields, shared by several columns.
    def _cached(self, name: str, build: Callable[[], list[Any]]) -> list[Any]:
        key = ("_", name)
        if key not in self._cache:
            self._cache[key] = build()
        return self._cache[key]

    def _name(self) -> list[int]:
        # first name = bits 0-5, last name = bits 6-11 of word a
        return self._cached("name", lambda: [a & 4095 for a in self._a])

    def _city(self) -> list[int]:
        return self._cached("city", lambda: [(a >> 12) & 31 for a in self._a])

    def _cents(self) -> list[int]:
        # Total spent in cents: band = bits 17-19 of a, amount = bits 20-63 (see _BAND_*).
        base, spread = _BAND_BASE, _BAND_SPREAD
        return self._cached(
            "cents",
            lambda: [base[(a >> 17) & 7] + (a >> 20) % spread[(a >> 17) & 7] for a in self._a],
        )

    def _registered(self) -> list[str]:
        prefixes = _REGISTERED_PREFIXES
        return self._cached(
            "registered",
            lambda: [
                f"{prefixes[n]}{i}@example.com"
                for n, i in zip(
                    self._name(), range(self.start, self.start + self.size), strict=True
                )
            ],
        )

    def _cookie_counts(self) -> list[int]:
        return self._cached(
            "cookie_counts", lambda: [_COOKIE_COUNTS[(b >> 32) & 15] for b in self._b]
        )

    def _cookies(self) -> list[list[str]]:
        # Up to three 16-hex cookie values per customer, mixed from both random words.
        return self._cached(
            "cookies",
            lambda: [
                []
                if n == 0
                else [f"{a ^ b:016x}"]
                if n == 1
                else [f"{a ^ b:016x}", f"{(a >> 3) ^ b:016x}"]
                if n == 2
                else [f"{a ^ b:016x}", f"{(a >> 3) ^ b:016x}", f"{(a >> 7) ^ b:016x}"]
                for a, b, n in zip(self._a, self._b, self._cookie_counts(), strict=True)
            ],
        )

    def _cookie_cells(self) -> list[str]:
        # The CSV cell of each cookie list, built directly: JSON array text, quoted.
        return [
            "[]"
            if n == 0
            else f'"[""{a ^ b:016x}""]"'
            if n == 1
            else f'"[""{a ^ b:016x}"",""{(a >> 3) ^ b:016x}""]"'
            if n == 2
            else f'"[""{a ^ b:016x}"",""{(a >> 3) ^ b:016x}"",""{(a >> 7) ^ b:016x}""]"'
            for a, b, n in zip(self._a, self._b, self._cookie_counts(), strict=True)
        ]

    def _registered_at(self) -> list[int]:
        span = REGISTERED_SPAN
        return self._cached(
            "registered_at", lambda: [REGISTERED_FROM + (b & 0x0FFFFFFF) % span for b in self._b]
        )

    def _has_email(self) -> list[bool]:
        # One customer in sixteen never gave an email: an empty cell / null.
        return self._cached("has_email", lambda: [(b >> 28) & 15 != 0 for b in self._b])

    def _personal(self) -> list[int]:
        # Consents and recommendations: a stream of their own (see exportspec.sandbox.personal).
        return self._cached(
            "personal",
            lambda: list(
                personal_words(_key_prefix(self.seed), self.start // BATCH_SIZE, self.size)
            ),
        )

    def consent_values(self, category: str, mode: ConsentMode, ctx: EvalContext) -> list[Any]:
        return consent_column(
            self._personal(), self._registered_at(), category, mode, ctx.execution_time
        )

    def recommendation_values(
        self, model_id: str, options: RecommendationOptions, ctx: EvalContext
    ) -> list[Any]:
        if model_id != PERSONAL_PICKS_ID:
            return [[]] * self.size
        return recommendation_column(self._personal(), options)

    def values(self, kind: ColumnKind, key: str, ctx: EvalContext) -> list[Any]:
        cache_key = (kind, key)
        if cache_key in self._cache:
            return self._cache[cache_key]
        column = self._build_values(kind, key, ctx)
        if kind in ("id", "property"):
            # Computed columns depend on the context; stored ones can be reused.
            self._cache[cache_key] = column
        return column

    def _build_values(self, kind: ColumnKind, key: str, ctx: EvalContext) -> list[Any]:
        if kind == "id":
            if key == "registered":
                return self._registered()
            if key == "cookie":
                return self._cookies()
        elif kind == "property":
            builder = _PROPERTY_BUILDERS.get(key)
            if builder is not None:
                return builder(self)
        elif kind == "aggregate" and key == PURCHASE_COUNT_ID:
            return [
                0 if c == 0 else 1 + ((b >> 36) & 15) + c // 20000
                for c, b in zip(self._cents(), self._b, strict=True)
            ]
        elif kind == "expression" and key == REGISTERED_WEEKDAY_ID:
            days = local_days(self._registered_at(), ctx.timezone)
            # Ordinal 1 (0001-01-01) was a Monday.
            return [None if d is None else WEEKDAYS[(d - 1) % 7] for d in days]
        elif kind == "expression" and key == TENURE_DAYS_ID:
            return [
                d if d is not None and d >= 0 else None
                for d in days_since(self._registered_at(), ctx)
            ]
        elif kind == "prediction" and key == CHURN_ID:
            return [((b >> 40) & 1023) % 1001 / 1000 for b in self._b]
        # Unknown names are refused before export; a property nobody has is empty.
        return [[] if (kind, key) == ("id", "cookie") else None] * self.size

    def csv_cells(self, kind: ColumnKind, key: str, ctx: EvalContext) -> list[str]:
        # Fast paths for the default export: these values never need CSV quoting.
        if kind == "id" and key == "registered":
            return self._registered()
        if kind == "property":
            if key == "email":
                return [
                    r if h else ""
                    for r, h in zip(self._registered(), self._has_email(), strict=True)
                ]
            if key in ("first_name", "last_name", "city", "country"):
                return self.values(kind, key, ctx)
            if key in ("total_spent", "registered_at"):
                return list(map(repr, self.values(kind, key, ctx)))
        if kind == "id" and key == "cookie":
            return self._cookie_cells()
        return encode_csv_cells(self.values(kind, key, ctx))


# Spend bands by 3 random bits: nothing (2/8), 0.01-99.99 (3/8), 100-999.99 (2/8),
# 1000-9999.99 (1/8), in cents.
_BAND_BASE = (0, 0, 1, 1, 1, 10000, 10000, 100000)
_BAND_SPREAD = (1, 1, 9999, 9999, 9999, 90000, 90000, 900000)


_PROPERTY_BUILDERS: dict[str, Callable[[SyntheticBatch], list[Any]]] = {
    "email": lambda b: [
        r if h else None for r, h in zip(b._registered(), b._has_email(), strict=True)
    ],
    "first_name": lambda b: [FIRST_NAMES[n & 63] for n in b._name()],
    "last_name": lambda b: [LAST_NAMES[n >> 6] for n in b._name()],
    "city": lambda b: [_CITY_NAMES[i] for i in b._city()],
    "country": lambda b: [_CITY_COUNTRIES[i] for i in b._city()],
    "total_spent": lambda b: [c / 100 for c in b._cents()],
    "registered_at": lambda b: b._registered_at(),
}


class SyntheticSource:
    """`customers` synthetic customers for `seed`, served in aligned batches."""

    def __init__(self, customers: int, seed: int) -> None:
        self.customers = customers
        self.seed = seed

    def batches(self) -> Iterator[Batch]:
        for start in range(0, self.customers, BATCH_SIZE):
            yield SyntheticBatch(self.seed, start, min(BATCH_SIZE, self.customers - start))


def synthetic_project(customers: int = DEFAULT_CUSTOMERS, seed: int = DEFAULT_SEED) -> Project:
    """The default emulated project: `customers` deterministic customers for `seed`."""
    if customers < 0:
        raise ValueError("customers must be >= 0")
    return Project(
        customers=customers,
        ids=IDS,
        soft_ids=frozenset({"cookie"}),
        properties=PROPERTIES,
        segmentations=SEGMENTATIONS,
        attributes=ATTRIBUTES,
        source=SyntheticSource(customers, seed),
        seed=seed,
        consents=CONSENT_CATEGORIES,
    )
