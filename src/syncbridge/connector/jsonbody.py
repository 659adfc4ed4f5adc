"""Vendor answers decoded with msgspec, with the standard library's decoder behind it.

A read spends much of its time decoding pages (a GA4 page of 10,000 rows is about 3 MB of
JSON); msgspec's decoder makes the same Python values about a quarter faster than
``json.loads`` (integers of any size stay integers). It holds to RFC 8259 and refuses a few
things the standard decoder takes (text in UTF-16 or UTF-32 or with a byte order mark, ``NaN``
and ``Infinity``, lone surrogates): such a body is handed to ``json.loads``, so ``loads``
decodes exactly what ``json.loads`` decodes, to the same values, and garbage raises
``ValueError`` (``json.JSONDecodeError``) as before.
"""

from __future__ import annotations

import json
from typing import Any

import msgspec

_decode = msgspec.json.Decoder().decode


def loads(data: bytes | str) -> Any:
    """The JSON value of ``data``; ``ValueError`` when it is not JSON."""
    try:
        return _decode(data)
    except (msgspec.DecodeError, UnicodeEncodeError):
        # What msgspec refuses: either JSON it does not take (see above; a ``str`` holding a
        # lone surrogate cannot even be encoded for it) or garbage, which ``json.loads``
        # refuses in turn with its own error.
        return json.loads(data)


__all__ = ["loads"]
