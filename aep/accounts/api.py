"""The accounts JSON API (DESIGN 12): a user's own API tokens, an org's members. Thin: validate,
call one service or selector, shape the output."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.authentication import SessionAuthentication
from rest_framework.exceptions import PermissionDenied
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from aep.accounts import selectors, tokens
from aep.accounts.serializers import MemberListOut, TokenCreatedOut, TokenCreateIn, TokenListOut
from aep.api import API_ERRORS, OrgAPIView, org_schema, validated

AUTH_ERRORS = {401: API_ERRORS[401]}


class SessionRequired(PermissionDenied):
    default_detail = (
        "API tokens are made from a logged-in browser session (the /settings/tokens page), "
        "not with another token."
    )
    default_code = "session_required"


class TokenListView(APIView):
    @extend_schema(responses={200: TokenListOut, **AUTH_ERRORS}, summary="List your API tokens")
    def get(self, request: Request) -> Response:
        return Response({"tokens": [selectors.token_json(t) for t in selectors.tokens_of(user=request.user)]})

    @extend_schema(
        request=TokenCreateIn,
        responses={
            201: TokenCreatedOut,
            400: API_ERRORS[400],
            **AUTH_ERRORS,
            403: OpenApiResponse(description="Not a browser session: a token cannot make tokens"),
        },
        summary="Make an API token (browser session only; the secret is shown once)",
    )
    def post(self, request: Request) -> Response:
        if not isinstance(request.successful_authenticator, SessionAuthentication):
            raise SessionRequired()
        data = validated(TokenCreateIn, request.data)
        token, secret = tokens.token_create(user=request.user, **data)
        body = selectors.token_json(token)
        body.pop("last_used_at")
        return Response({**body, "token": secret}, status=status.HTTP_201_CREATED)


class TokenDetailView(APIView):
    @extend_schema(
        parameters=[OpenApiParameter("token_id", int, OpenApiParameter.PATH, description="The token's id")],
        responses={204: None, **AUTH_ERRORS, 404: OpenApiResponse(description="Not one of your tokens")},
        summary="Revoke one of your API tokens",
    )
    def delete(self, request: Request, token_id: str) -> Response:
        tokens.token_revoke(user=request.user, token_id=token_id)
        return Response(status=status.HTTP_204_NO_CONTENT)


class MemberListView(OrgAPIView):
    @org_schema(responses={200: MemberListOut, **API_ERRORS}, summary="List the org's members and roles")
    def get(self, request: Request) -> Response:
        return Response({"members": [selectors.member_json(m) for m in selectors.members_of(org=self.org)]})
