"""Turns "the database cannot take this request now" into a 503 the client can retry."""

from __future__ import annotations

import logging
from collections.abc import Callable

from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse, JsonResponse

logger = logging.getLogger(__name__)

# Seconds a client should wait before retrying; a pool timeout or a database restart clears in
# about this long.
RETRY_AFTER_SECONDS = 1


def database_unavailable_response() -> JsonResponse:
    response = JsonResponse(
        {"detail": "The service is busy or its database is unavailable; retry shortly."},
        status=503,
    )
    response["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response


class DatabaseUnavailableMiddleware:
    """Answers 503 with Retry-After when a view could not get or keep a database connection.

    Covers the pool's timeout (psycopg_pool.PoolTimeout, an OperationalError), a refused or
    dropped connection and a server shutting down. Nothing was written: the transaction of a
    failed statement rolls back, so retrying is safe. Other database errors stay 500s.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if not isinstance(exception, OperationalError | InterfaceError):
            return None
        cause: BaseException | None = exception.__cause__
        logger.warning(
            "database unavailable; answered 503",
            extra={"path": request.path, "error": type(cause or exception).__name__},
        )
        return database_unavailable_response()
