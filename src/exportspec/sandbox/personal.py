"""Consent and recommendation columns of the synthetic project, deterministic per customer.

Each customer has one more 64-bit random word (its own SHAKE-128 stream, so the other
columns keep their bytes): bits 0-15 describe its `newsletter` consent, bits 16-31 its
`sms` consent, bits 32-63 what the `personal_picks` recommendation model picks for it.

Consent, per category, from 16 bits `v`:

- `v & 3`: 0 no consent event ever, 1 the customer rejected, 2 or 3 accepted;
- the event happened `(v >> 2) & 1023` days after the customer registered;
- its source is `CONSENT_SOURCES[(v >> 12) & 3]`;
- an accepted consent is valid until 365 days later (`(v >> 14) & 3 == 1`), 730 days later
  (`== 2`), or without end (0 or 3).

At `execution_time` a consent event that has not happened yet does not exist: `valid` is
false and the other modes are null. Otherwise `valid` is true for an accepted consent
before its `valid_until`, `timestamp` and `until` are Unix seconds (`until` null without
an end), `source` the source and `message` the text the customer agreed to or rejected.

Recommendations: the model can recommend `v & 7` items (0 to 7) of the 24-item catalog,
in the order `(start + j * stride) % 24` with `start` and `stride` from the other bits; a
column returns the first `size` of them, and with `fillWithRandom` it continues the same
order up to `size` (the catalog's size at most, an item never twice). Each item is an
object of catalog attributes (`item_id`, `title`, `category`, `price`), only those named in
`catalogAttributesWhitelist` when given.
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Sequence
from typing import Any

from exportspec.sandbox.model import ConsentCategory, ConsentMode, RecommendationOptions

CONSENT_CATEGORIES = (ConsentCategory("newsletter"), ConsentCategory("sms"))
CONSENT_SOURCES = ("web_form", "checkout", "mobile_app", "import")
_CONSENT_TEXT = {
    "newsletter": ("I want to receive the weekly newsletter", "No newsletter, thank you"),
    "sms": ("Send me offers by SMS", "No SMS offers, thank you"),
}
_DAY = 86400
#: Seconds an accepted consent stays valid, by `(v >> 14) & 3`; 0 means without end.
_TERMS = (0, 365 * _DAY, 730 * _DAY, 0)

PERSONAL_PICKS_ID = "5f0c3ac02b1d4c0012a7e4a3"
#: The catalog the recommendation model picks from: (title, category, price).
_PRODUCTS = (
    ("Trail running shoes", "shoes", 89.9), ("Leather boots", "shoes", 129.0),
    ("Canvas sneakers", "shoes", 49.5), ("Wool socks", "accessories", 12.0),
    ("Rain jacket", "outerwear", 119.0), ("Down vest", "outerwear", 99.0),
    ("Fleece pullover", "outerwear", 59.9), ("Linen shirt", "shirts", 45.0),
    ("Oxford shirt", "shirts", 55.0), ("Graphic T-shirt", "shirts", 19.9),
    ("Chino trousers", "trousers", 65.0), ("Slim jeans", "trousers", 79.0),
    ("Cargo shorts", "trousers", 39.0), ("Leather belt", "accessories", 35.0),
    ("Canvas backpack", "bags", 69.0), ("Weekend duffel", "bags", 110.0),
    ("Baseball cap", "accessories", 22.0), ("Knit beanie", "accessories", 18.5),
    ("Cotton scarf", "accessories", 25.0), ("Sunglasses", "accessories", 75.0),
    ("Steel water bottle", "outdoor", 24.9), ("Trekking poles", "outdoor", 59.0),
    ("Camping mug", "outdoor", 14.0), ("Headlamp", "outdoor", 34.5),
)  # fmt: skip
CATALOG: tuple[dict[str, Any], ...] = tuple(
    {"item_id": f"sku-{number:03d}", "title": title, "category": category, "price": price}
    for number, (title, category, price) in enumerate(_PRODUCTS, start=1)
)
#: Steps through the catalog that visit every item once (coprime with its size).
_STRIDES = (1, 5, 7, 11, 13, 17, 19, 23)


def personal_words(key_prefix: bytes, batch_no: int, count: int) -> tuple[int, ...]:
    """One 64-bit word per customer of a batch; a prefix of the same batch's longer stream."""
    raw = hashlib.shake_128(key_prefix + b"personal/%d" % batch_no).digest(8 * count)
    return struct.unpack(f"<{count}Q", raw)


def consent_column(
    words: Sequence[int],
    registered_at: Sequence[int],
    category: str,
    mode: ConsentMode,
    moment: int | float,
) -> list[Any]:
    """The `mode` of each customer's consent in `category` at `moment` (Unix seconds)."""
    names = [c.category for c in CONSENT_CATEGORIES]
    if category not in names:
        return [False if mode == "valid" else None] * len(words)
    shift = 16 * names.index(category)
    accept_text, reject_text = _CONSENT_TEXT[category]
    out: list[Any] = []
    for word, registered in zip(words, registered_at, strict=True):
        v = (word >> shift) & 0xFFFF
        state = v & 3
        at = registered + ((v >> 2) & 1023) * _DAY
        if state == 0 or at > moment:
            out.append(False if mode == "valid" else None)
            continue
        accepted = state >= 2
        term = _TERMS[(v >> 14) & 3]
        until = at + term if accepted and term else None
        if mode == "valid":
            out.append(accepted and (until is None or moment < until))
        elif mode == "timestamp":
            out.append(at)
        elif mode == "until":
            out.append(until)
        elif mode == "source":
            out.append(CONSENT_SOURCES[(v >> 12) & 3])
        else:
            out.append(accept_text if accepted else reject_text)
    return out


def recommendation_column(words: Sequence[int], options: RecommendationOptions) -> list[Any]:
    """Each customer's recommended items, as lists of catalog-attribute objects."""
    wanted = options.catalog_attributes
    items = [{k: v for k, v in item.items() if not wanted or k in wanted} for item in CATALOG]
    size = len(items)
    out: list[Any] = []
    for word in words:
        v = word >> 32
        count = min(options.size, size if options.fill_with_random else v & 7)
        start = (v >> 3) % size
        stride = _STRIDES[(v >> 13) & 7]
        out.append([items[(start + j * stride) % size] for j in range(count)])
    return out
