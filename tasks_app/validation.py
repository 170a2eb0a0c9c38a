"""Field rules shared by the REST API, the MCP tools and recurring-series templates."""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import UTC, datetime

from django.core.exceptions import ValidationError

TITLE_MAX = 200
DESCRIPTION_MAX = 5000
# As sent: letters in either case (stored lower-case), digits, '_' and '-'; nothing stripped,
# so the API schema can give the exact pattern.
TAG_CHARACTERS = r"[A-Za-z0-9_-]{1,32}"
TAG_PATTERN = re.compile(TAG_CHARACTERS)
MAX_TAGS = 20

# Due dates are bounded so that every time derived from them stays representable: reminders
# fire up to a year before (notifications_app MAX_BEFORE), series expand and schedule jobs after,
# and Python's datetime ends at years 1 and 9999, so an unbounded due date was accepted with a
# 200 and then raised OverflowError in the workers. The floor is the Unix epoch, which also keeps
# clients that count seconds from it (JavaScript, push payloads) off negative timestamps; the
# ceiling leaves ~1000 years of room at the top. Both compare in absolute time (any offset).
DUE_AT_MIN = datetime(1970, 1, 1, tzinfo=UTC)
DUE_AT_MAX = datetime(9000, 1, 1, tzinfo=UTC)  # exclusive
DUE_AT_RANGE = "from 1970-01-01T00:00:00Z up to (not including) 9000-01-01T00:00:00Z"


def due_at_in_range(due_at: datetime) -> bool:
    return DUE_AT_MIN <= due_at < DUE_AT_MAX


def normalize_tags(tags: Iterable[str]) -> list[str]:
    """Lower-case, de-duplicate (keeping order) and check every label; raise with the reason."""
    result: list[str] = []
    for raw in tags:
        if not isinstance(raw, str):
            raise ValidationError({"tags": ["Each tag must be a string."]})
        if not TAG_PATTERN.fullmatch(raw):
            raise ValidationError(
                {"tags": [f"Invalid tag {raw!r}: use 1-32 characters of a-z, 0-9, '_' or '-'."]}
            )
        tag = raw.lower()
        if tag not in result:
            result.append(tag)
    if len(result) > MAX_TAGS:
        raise ValidationError({"tags": [f"At most {MAX_TAGS} tags per task."]})
    return result


# White space as JavaScript's (and so JSON Schema's) `\s` knows it: a title is trimmed of
# exactly what the schema's pattern (`\S`: something that is not space) lets around it.
SPACE = (
    "\t\n\x0b\x0c\r \xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007"
    "\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000\ufeff"
)


def clean_title(title: str) -> str:
    cleaned = title.strip(SPACE)
    if not cleaned:
        raise ValidationError({"title": ["This field may not be blank."]})
    if len(cleaned) > TITLE_MAX:
        raise ValidationError(
            {"title": [f"Ensure this field has no more than {TITLE_MAX} characters."]}
        )
    return cleaned
