"""Writes to user accounts."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractUser
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from webapp.api.errors import Conflict


@transaction.atomic
def user_register(*, username: str, email: str, password: str) -> AbstractUser:
    User = get_user_model()
    if User.objects.filter(username__iexact=username).exists():
        raise Conflict({"username": ["A user with that username already exists."]})
    if User.objects.filter(email__iexact=email).exists():
        raise Conflict({"email": ["A user with that email already exists."]})
    candidate = User(username=username, email=email)
    try:
        validate_password(password, user=candidate)
    except ValidationError as exc:
        raise ValidationError({"password": exc.messages}) from exc
    try:
        with transaction.atomic():
            user: AbstractUser = User.objects.create_user(
                username=username, email=email, password=password
            )
    except IntegrityError as exc:
        # Two registrations of one name raced past the check above; the database decided.
        raise Conflict({"username": ["A user with that username already exists."]}) from exc
    return user
