"""File versions: every node that shares a ``referenceId``, live or in the recycle bin.

Overwriting a file (upload with ``resolutionStrategy=overwrite``) keeps the reference id
and moves the old node to the recycle bin, so the versions of a file are its live node
plus its overwritten predecessors. ``GET /nodes/files/versions/{reference_id}`` is what the
official Python SDK calls (``get_file_versions``); DRACOON's 4.26.7 description does not
list it yet (it came with a later API version), so its shape follows the SDK's model.
"""

from __future__ import annotations

from ..backend import Backend
from ..messages import Request, Response
from ..model import User
from ..routing import Router
from ..views import page
from .common import paging

V4 = "/api/v4"


def file_versions(backend: Backend, req: Request) -> Response:
    user: User = req.user
    offset, limit = paging(req)
    reference_id = req.path_params["reference_id"]
    body = [
        {
            "id": node.id,
            "referenceId": node.reference_id or node.id,
            "name": node.name,
            "parentId": node.parent_id,
            "deleted": deleted,
        }
        for node, deleted in backend.nodes.versions(user, reference_id)
    ]
    return Response(body=page(body, offset, limit))


def register(router: Router) -> None:
    router.add("GET", f"{V4}/nodes/files/versions/{{reference_id:int}}", file_versions)
