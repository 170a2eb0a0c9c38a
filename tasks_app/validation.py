"""Field rules shared by the REST API, the MCP tools and recurring-series templates."""

from __future__ import annotations

import re
from collections.abc import Iterable

from django.core.exceptions import ValidationError

TITLE_MAX = 200
DESCRIPTION_MAX = 5000
TAG_PATTERN = re.compile(r"^[a-z0-9_-]{1,32}$")
MAX_TAGS = 20


def normalize_tags(tags: Iterable[str]) -> list[str]:
    """Lower-case, de-duplicate (keeping order) and check every label; raise with the reason."""
    result: list[str] = []
    for raw in tags:
        if not isinstance(raw, str):
            raise ValidationError({"tags": ["Each tag must be a string."]})
        tag = raw.strip().lower()
        if not TAG_PATTERN.match(tag):
            raise ValidationError(
                {"tags": [f"Invalid tag {raw!r}: use 1-32 characters of a-z, 0-9, '_' or '-'."]}
            )
        if tag not in result:
            result.append(tag)
    if len(result) > MAX_TAGS:
        raise ValidationError({"tags": [f"At most {MAX_TAGS} tags per task."]})
    return result


def clean_title(title: str) -> str:
    cleaned = title.strip()
    if not cleaned:
        raise ValidationError({"title": ["This field may not be blank."]})
    if len(cleaned) > TITLE_MAX:
        raise ValidationError(
            {"title": [f"Ensure this field has no more than {TITLE_MAX} characters."]}
        )
    return cleaned
