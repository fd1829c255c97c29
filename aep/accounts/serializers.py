"""Input and output shapes of the accounts API (DESIGN 12)."""

from __future__ import annotations

from django.conf import settings
from rest_framework import serializers


class TokenCreateIn(serializers.Serializer):
    name = serializers.CharField(max_length=100)
    expires_in_days = serializers.IntegerField(
        required=False, min_value=1, max_value=settings.API_TOKEN_MAX_DAYS, help_text="1-365, default 90"
    )


class TokenOut(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    prefix = serializers.CharField(help_text="The token's first characters, to tell tokens apart")
    created_at = serializers.DateTimeField()
    expires_at = serializers.DateTimeField()
    last_used_at = serializers.DateTimeField(allow_null=True, help_text="Updated at most once a minute")


class TokenCreatedOut(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    token = serializers.CharField(help_text="The secret: shown this once, only its hash is stored")
    prefix = serializers.CharField()
    created_at = serializers.DateTimeField()
    expires_at = serializers.DateTimeField()


class TokenListOut(serializers.Serializer):
    tokens = TokenOut(many=True)


class MemberOut(serializers.Serializer):
    username = serializers.CharField()
    name = serializers.CharField()
    role = serializers.ChoiceField(choices=["admin", "member", "viewer"])


class MemberListOut(serializers.Serializer):
    members = MemberOut(many=True)
