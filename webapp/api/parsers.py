"""Request body parsers."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import IO, Any

from rest_framework.exceptions import ParseError
from rest_framework.parsers import (  # type: ignore[attr-defined]  # newer than the stubs
    JSONParser,
    get_encoding,  # DRF's own charset check: refuses bytes-to-bytes codecs such as bz2
)
from rest_framework.utils import json

# Far deeper than any body the API takes, far shallower than the recursion limit that the
# decoder (and every serializer after it) would otherwise hit with a 500.
MAX_JSON_DEPTH = 64

# A string literal (brackets inside it are text) or one bracket. Unrolled so a long string is
# one linear match; an unterminated string only makes the count stricter.
_TOKENS = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"|[\[\]{}]', re.DOTALL)


def json_too_deep(text: str, *, limit: int = MAX_JSON_DEPTH) -> bool:
    """Whether `text` opens more than `limit` arrays/objects inside one another."""
    if text.count("[") + text.count("{") <= limit:
        return False  # the common case: not enough brackets to get that deep at all
    depth = 0
    for match in _TOKENS.finditer(text):
        opener = match.group()[0]
        if opener in "[{":
            depth += 1
            if depth > limit:
                return True
        elif opener in "]}":
            depth -= 1
    return False


class DepthLimitedJSONParser(JSONParser):
    """DRF's JSONParser that refuses bodies nested deeper than MAX_JSON_DEPTH before decoding
    them, so a small hostile body is a 400 `{"detail": ...}` instead of a RecursionError."""

    def parse(
        self,
        stream: IO[Any],
        media_type: str | None = None,
        parser_context: Mapping[str, Any] | None = None,
    ) -> Any:
        encoding = get_encoding(parser_context or {})
        try:
            text = stream.read().decode(encoding)
        except ValueError as exc:  # UnicodeDecodeError included
            raise ParseError(f"JSON parse error - {exc}") from exc
        if json_too_deep(text):
            raise ParseError(f"JSON parse error - nested deeper than {MAX_JSON_DEPTH} levels.")
        parse_constant = json.strict_constant if self.strict else None
        try:
            return json.loads(text, parse_constant=parse_constant)
        except (ValueError, RecursionError) as exc:
            raise ParseError(f"JSON parse error - {exc}") from exc
