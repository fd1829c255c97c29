"""factory_boy factories for the rows tests need; plans are made through the services."""

from __future__ import annotations

import datetime

import factory
from django.contrib.auth import get_user_model
from django.utils import timezone

from aep.accounts.keys import PREFIX_SHOWN, digest, new_secret
from aep.models import ApiToken, Membership, Organization


class OrganizationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Organization
        django_get_or_create = ("id",)

    id = factory.Sequence(lambda n: f"org-{n}")
    name = factory.LazyAttribute(lambda o: o.id.title())


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)

    username = factory.Sequence(lambda n: f"user{n}")
    password = factory.django.Password("pw-for-tests")


class MembershipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Membership

    user = factory.SubFactory(UserFactory)
    org = factory.SubFactory(OrganizationFactory)


_tokens: dict[tuple[int, str], str] = {}


def token_for(user) -> str:  # type: ignore[no-untyped-def]
    """An API token of `user`: the same one for repeated calls while that token exists (only its
    hash is stored, so the secret is remembered here)."""
    key = (user.pk, str(user.date_joined))
    secret = _tokens.get(key)
    if secret is None or not ApiToken.objects.filter(digest=digest(secret), user=user).exists():
        # A row, as the other factories make them: the service (aep.accounts.tokens) also audits,
        # and tests compare audit counts around requests that make a token on the way.
        secret = new_secret()
        ApiToken.objects.create(
            user=user,
            name="test token",
            prefix=secret[:PREFIX_SHOWN],
            digest=digest(secret),
            expires_at=timezone.now() + datetime.timedelta(days=90),
        )
        _tokens[key] = secret
    return secret
