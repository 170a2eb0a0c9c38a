"""The request an authenticated API view sees: `request.user` is a `User`, not maybe anonymous.

Every API view runs behind `IsAuthenticated` (the default permission in settings), so by the
time a handler runs DRF has refused anonymous callers. These classes exist for the type
checker: handlers annotate `request: AuthedRequest`, views mix in `AuthedView` for
`self.request`, and both read `request.user` as the `User` it is. At run time DRF's own
Request is passed; the annotation adds no attribute (the property stays DRF's).
"""

from __future__ import annotations

from django.contrib.auth.models import User
from rest_framework.request import Request
from rest_framework.views import APIView


class AuthedRequest(Request):
    user: User


class AuthedView(APIView):
    """Base for API views behind IsAuthenticated: `self.request` is an AuthedRequest."""

    request: AuthedRequest
