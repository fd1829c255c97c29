"""`manage.py create_api_token USERNAME --org ORG [--org ORG ...] [--role ROLE]`: a user, orgs,
memberships (with that role, default member) and a token.

Creates what is missing and prints the token as the last line, so scripts can take `| tail -n1`.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction

from aep.accounts.tokens import token_create
from aep.models import Membership, Organization, org_slug_validator


class Command(BaseCommand):
    help = "Create (if missing) a user, orgs and memberships, and print the user's API token last."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username")
        parser.add_argument(
            "--org", action="append", required=True, dest="orgs", metavar="ORG", help="org id (repeatable)"
        )
        parser.add_argument(
            "--role",
            choices=Membership.Role.values,
            default=None,
            help="the user's role in new memberships of these orgs (default member)",
        )
        parser.add_argument("--admin", action="store_true", help="the same as --role admin")
        parser.add_argument("--name", default=None, help="the token's name (default create_api_token)")
        parser.add_argument(
            "--expires-in-days", type=int, default=None, dest="days", help="the token's life (default 90)"
        )

    def handle(
        self,
        *args: Any,
        username: str,
        orgs: list[str],
        admin: bool,
        role: str | None,
        name: str | None,
        days: int | None,
        **options: Any,
    ) -> None:
        if admin and role not in (None, Membership.Role.ADMIN):
            raise CommandError("--admin and --role disagree; give one of them.")
        for org_id in orgs:
            try:
                org_slug_validator(org_id)
            except ValidationError as exc:
                raise CommandError(f"Invalid org id {org_id!r}: {exc.messages[0]}") from None
        explicit_role = role is not None
        role = Membership.Role.ADMIN if admin else (role or Membership.Role.MEMBER)
        with transaction.atomic():
            user, created = get_user_model().objects.get_or_create(username=username)
            if created:
                user.set_unusable_password()
                user.save()
                self.stdout.write(f"Created user {username}")
            for org_id in orgs:
                org, org_created = Organization.objects.get_or_create(id=org_id, defaults={"name": org_id})
                if org_created:
                    self.stdout.write(f"Created org {org_id}")
                membership, joined = Membership.objects.get_or_create(
                    user=user, org=org, defaults={"role": role}
                )
                if joined:
                    self.stdout.write(f"Added {username} to org {org_id} as {role}")
                elif membership.role != role and (admin or explicit_role):
                    # Changing a role is an org admin's decision, audited: the members page does it.
                    self.stdout.write(
                        f"Kept {username}'s role {membership.role} in {org_id} (change it at /org/members)"
                    )
            token, secret = token_create(user=user, name=name or "create_api_token", expires_in_days=days)
        self.stdout.write(f"Token {token.prefix}... expires {token.expires_at:%Y-%m-%d}")
        self.stdout.write(secret)
