"""Serializer fields for task data that other apps' APIs take too (series templates)."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from tasks_app.validation import TAG_CHARACTERS, TITLE_MAX


@extend_schema_field({"type": "string", "pattern": f"^{TAG_CHARACTERS}$", "maxLength": 32})
class TagField(serializers.CharField):
    """One tag as sent: the schema carries the pattern the service checks (normalize_tags)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(max_length=32, trim_whitespace=False, **kwargs)


@extend_schema_field({"type": "string", "pattern": "\\S", "maxLength": TITLE_MAX})
class TitleField(serializers.CharField):
    """A title: at most TITLE_MAX characters as sent, something in it besides white space
    (the service trims it; see clean_title)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(max_length=TITLE_MAX, trim_whitespace=False, **kwargs)
