"""The base of every org-scoped API view, and the OpenAPI bits they share."""

from __future__ import annotations

from typing import Any

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework.permissions import SAFE_METHODS
from rest_framework.request import Request
from rest_framework.views import APIView

from aep.models import Organization
from aep.tenancy import ReadOnlyRole, can_write, resolve_request_org

ORG_HEADER_PARAMETER = OpenApiParameter(
    name="X-Org-Id",
    type=OpenApiTypes.STR,
    location=OpenApiParameter.HEADER,
    required=False,
    description="The org to act in (its id, e.g. `acme`). Required unless `org` is given in the query.",
)
ORG_QUERY_PARAMETER = OpenApiParameter(
    name="org",
    type=OpenApiTypes.STR,
    location=OpenApiParameter.QUERY,
    required=False,
    description="The org, for clients that cannot send headers (EventSource).",
)


API_ERRORS = {
    400: OpenApiResponse(
        description="Invalid input (the field or parameter is named), or the org is missing"
    ),
    401: OpenApiResponse(description="No or invalid credentials"),
    403: OpenApiResponse(description="Not a member of the org, or (for a write) a viewer in it"),
}


def uuid_path_parameter(name: str, what: str) -> OpenApiParameter:
    """A UUID path parameter. The route takes any string (a malformed id is a JSON 404, and upper
    case or undashed spellings work), but clients should send UUIDs."""
    return OpenApiParameter(
        name=name, type=OpenApiTypes.UUID, location=OpenApiParameter.PATH, description=what
    )


def validated(serializer_class: type, data: Any) -> dict[str, Any]:
    """Validate request data with a DRF serializer; invalid data raises a 400 naming the fields."""
    serializer = serializer_class(data=data)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


def org_schema(**kwargs: Any) -> Any:
    """`extend_schema` with the org header and query parameters every org-scoped operation takes."""
    parameters = [ORG_HEADER_PARAMETER, ORG_QUERY_PARAMETER, *kwargs.pop("parameters", [])]
    return extend_schema(parameters=parameters, **kwargs)


class OrgAPIView(APIView):
    """Authenticates (401), then resolves the request's org (400 missing, 403 not a member), then
    checks the role: every unsafe method (POST, PUT, PATCH, DELETE) needs a member or an admin, so a
    viewer's write is a 403 whatever the subclass (DESIGN 12). This is the API's one role check.

    Subclasses use `self.org` and fetch objects through the org-scoped selectors only.
    """

    org: Organization

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        super().initial(request, *args, **kwargs)
        self.org = resolve_request_org(request)
        if request.method not in SAFE_METHODS and not can_write(self.org):
            raise ReadOnlyRole()


class TokenOrBearerScheme(OpenApiAuthenticationExtension):
    target_class = "aep.authentication.TokenOrBearerAuthentication"
    name = "tokenAuth"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": (
                "`Token <key>` (or `Bearer <key>`); make one at `/settings/tokens` "
                "(or with `manage.py create_api_token`)."
            ),
        }
