"""The memory graph JSON API (DESIGN 4, 13): search, a node with its edges, its related nodes, and
links made by people. Thin, like plans.api."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiResponse
from rest_framework.request import Request
from rest_framework.response import Response

from aep.api import API_ERRORS, OrgAPIView, org_schema, uuid_path_parameter, validated
from memory_graph import selectors, services
from memory_graph.serializers import (
    LinkIn,
    NodeDetailOut,
    RelatedQueryIn,
    RelatedResultsOut,
    SearchQueryIn,
    SearchResultsOut,
    node_detail_json,
    node_json,
)

ERRORS = API_ERRORS
NOT_FOUND = {404: OpenApiResponse(description="No such node in this org")}


class MemorySearchView(OrgAPIView):
    @org_schema(
        parameters=[SearchQueryIn],
        responses={200: SearchResultsOut, **ERRORS},
        summary="Search the org's memory graph, best match first",
    )
    def get(self, request: Request) -> Response:
        query = validated(SearchQueryIn, request.query_params)
        nodes = selectors.search(
            query=query["q"],
            org=self.org,
            kind=query.get("kind") or None,
            limit=query["limit"],
            mode=query["mode"],
        )
        return Response({"results": [node_json(n) for n in nodes], "count": len(nodes)})


class MemoryNodeDetailView(OrgAPIView):
    @org_schema(
        parameters=[uuid_path_parameter("node_id", "The memory node's id")],
        responses={200: NodeDetailOut, **ERRORS, **NOT_FOUND},
        summary="Get a memory node with its edges both ways",
    )
    def get(self, request: Request, node_id: str) -> Response:
        node = selectors.get_node(org=self.org, node_id=node_id)
        return Response(
            node_detail_json(
                node,
                selectors.edges_out(org=self.org, node=node),
                selectors.edges_in(org=self.org, node=node),
            )
        )


class MemoryNodeRelatedView(OrgAPIView):
    @org_schema(
        parameters=[uuid_path_parameter("node_id", "The memory node's id"), RelatedQueryIn],
        responses={200: RelatedResultsOut, **ERRORS, **NOT_FOUND},
        summary="The org's nodes most like this one, best first (itself left out)",
    )
    def get(self, request: Request, node_id: str) -> Response:
        query = validated(RelatedQueryIn, request.query_params)
        node = selectors.get_node(org=self.org, node_id=node_id)
        nodes = selectors.related(org=self.org, node=node, limit=query["limit"])
        return Response({"results": [node_json(n) for n in nodes], "count": len(nodes)})


class MemoryNodeLinksView(OrgAPIView):
    @org_schema(
        parameters=[uuid_path_parameter("node_id", "The memory node's id")],
        request=LinkIn,
        responses={200: NodeDetailOut, **ERRORS, **NOT_FOUND},
        summary="Link this node to another of the org's nodes (a relates_to edge)",
    )
    def post(self, request: Request, node_id: str) -> Response:
        data = validated(LinkIn, request.data)
        node = selectors.get_node(org=self.org, node_id=node_id)
        services.link_nodes(org=self.org, source=node, target_id=data["target"])
        return Response(
            node_detail_json(
                node,
                selectors.edges_out(org=self.org, node=node),
                selectors.edges_in(org=self.org, node=node),
            )
        )
