"""JSON answers under `/api/` for the errors that reach Django rather than a DRF view.

DRF renders what its views raise, but some answers are Django's: a path no route matches (a
malformed id fails its `<uuid:...>` or `<slug:...>` converter, so no view runs), an exception
DRF does not know (it re-raises those) and a `SuspiciousOperation` such as `RequestDataTooBig`,
which Django raises lazily when DRF first reads `request.body`. Django renders all of them with
the URLconf's handler400/403/404/500 (see webapp/urls.py), so these give the API's one error
shape, `{"detail": ...}` (webapp/api/schema.py), and leave other paths (admin) Django's pages.
"""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views import defaults
from rest_framework.exceptions import NotFound, PermissionDenied

API_PREFIX = "/api/"


def _is_api(request: HttpRequest) -> bool:
    # path_info, not path: the routes do not include a prefix a proxy may mount the site under.
    return request.path_info.startswith(API_PREFIX)


def _detail(message: str, *, status: int) -> JsonResponse:
    return JsonResponse({"detail": message}, status=status)


def bad_request(request: HttpRequest, exception: Exception) -> HttpResponse:
    if not _is_api(request):
        return defaults.bad_request(request, exception)
    if isinstance(exception, RequestDataTooBig):
        # Django calls any SuspiciousOperation a 400; for the API the contract is 413, which
        # tells the client that the size, not the content, was refused.
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        return _detail(f"Request body is larger than {limit} bytes.", status=413)
    # Not the exception's message: Django keeps it out of responses as it may echo, say, a
    # forged Host header; the security log has it.
    return _detail("Bad request.", status=400)


def permission_denied(request: HttpRequest, exception: Exception) -> HttpResponse:
    if not _is_api(request):
        return defaults.permission_denied(request, exception)
    return _detail(str(PermissionDenied.default_detail), status=403)


def not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    if not _is_api(request):
        return defaults.page_not_found(request, exception)
    # The same body as DRF's NotFound, so a client cannot tell a bad id from a missing row.
    return _detail(str(NotFound.default_detail), status=404)


def server_error(request: HttpRequest) -> HttpResponse:
    if not _is_api(request):
        return defaults.server_error(request)
    # Fixed text and no database or template work: whatever failed may fail again here.
    return _detail("Server error.", status=500)
