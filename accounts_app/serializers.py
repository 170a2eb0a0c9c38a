from __future__ import annotations

from django.contrib.auth.validators import UnicodeUsernameValidator
from rest_framework import serializers

from webapp.api.serializers import StrictSerializer


class RegisterSerializer(StrictSerializer):
    username = serializers.CharField(max_length=150, validators=[UnicodeUsernameValidator()])
    email = serializers.EmailField(max_length=254)
    # Django's validators also refuse common passwords and ones like the username; length and
    # "not only digits" are what a schema can say, so the field says them itself.
    password = serializers.RegexField(
        r"[^0-9]",
        min_length=8,
        max_length=128,
        write_only=True,
        error_messages={
            "invalid": "This password is entirely numeric.",
            "min_length": "This password is too short. It must contain at least 8 characters.",
        },
    )


class UserSerializer(serializers.Serializer[object]):
    id = serializers.IntegerField(read_only=True)
    username = serializers.CharField(read_only=True)
    email = serializers.EmailField(read_only=True)
