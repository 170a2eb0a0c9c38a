"""Page-number pagination that rejects an out-of-range page_size instead of silently clamping it."""

from __future__ import annotations

import json
from typing import Any

from django.core.paginator import InvalidPage, Page, Paginator
from django.http import Http404, HttpResponse
from rest_framework import pagination
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 200
# The query parameters that choose a page rather than filter a list.
PAGING_PARAMS = frozenset({"page", "page_size"})


def check_page_size(size: int) -> int:
    """`size` if it is a page size the API allows, else a 400 saying which ones it does."""
    if not 1 <= size <= MAX_PAGE_SIZE:
        raise ValidationError({"page_size": [f"Must be between 1 and {MAX_PAGE_SIZE}."]})
    return size


def page_of(rows: Any, *, page: int, page_size: int) -> tuple[Page[Any], dict[str, Any]]:
    """One page of `rows` and its facts (count, page, page_size, has_more), with the REST
    list's checks and messages: a bad size is a 400, a page past the end a 404. For callers
    that are not DRF list views (the MCP tools)."""
    paginator = Paginator(rows, check_page_size(page_size))
    try:
        current = paginator.page(page)
    except InvalidPage:
        raise Http404("Invalid page.") from None
    return current, {
        "count": paginator.count,
        "page": page,
        "page_size": page_size,
        "has_more": current.has_next(),
    }


class PageNumberPagination(pagination.PageNumberPagination):
    page_size = DEFAULT_PAGE_SIZE
    page_size_query_param = "page_size"
    max_page_size = MAX_PAGE_SIZE

    def get_page_size(self, request: Request) -> int:
        raw = request.query_params.get(self.page_size_query_param)
        if raw is None:
            return self.page_size
        try:
            size = int(raw)
        except ValueError:
            raise ValidationError({"page_size": ["Must be a whole number."]}) from None
        return check_page_size(size)

    def get_paginated_json_response(self, rendered: list[str]) -> HttpResponse:
        """The page's answer, as get_paginated_response gives it, for results that are JSON
        texts already (rendered by the database): they are joined, not parsed and rendered."""
        if self.page is None:
            raise RuntimeError("paginate_queryset comes first")
        head = json.dumps(
            {
                "count": self.page.paginator.count,
                "next": self.get_next_link(),
                "previous": self.get_previous_link(),
            },
            ensure_ascii=False,
            separators=(",", ":"),
        )
        body = f'{head[:-1]},"results":[{",".join(rendered)}]}}'
        return HttpResponse(body, content_type="application/json")
