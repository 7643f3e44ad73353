"""A small method + path router: ``/api/v4/nodes/{node_id:int}`` style patterns.

Each route says whether it needs a bearer token, so authentication lives in one place
(``app.py``) instead of in every handler.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .errors import ApiError

Handler = Callable[..., Any]

_PARAM = re.compile(r"\{(\w+)(?::(int|str))?\}")


@dataclass(frozen=True)
class Route:
    method: str
    pattern: str
    regex: re.Pattern
    handler: Handler
    auth: bool
    int_params: frozenset[str]
    secret_params: frozenset[str]

    def redacted(self, params: dict[str, Any], path: str) -> str:
        """The path for the request log, with secret segments (tokens) masked."""
        if not self.secret_params:
            return path
        return _PARAM.sub(
            lambda m: "***" if m.group(1) in self.secret_params else str(params[m.group(1)]),
            self.pattern,
        )


class Router:
    def __init__(self) -> None:
        self._routes: list[Route] = []

    def add(
        self,
        method: str,
        pattern: str,
        handler: Handler,
        *,
        auth: bool = True,
        secret: tuple[str, ...] = (),
    ) -> None:
        int_params = set()
        regex = "^"
        last = 0
        for match in _PARAM.finditer(pattern):
            regex += re.escape(pattern[last : match.start()])
            name, kind = match.group(1), match.group(2) or "str"
            if kind == "int":
                int_params.add(name)
                regex += rf"(?P<{name}>-?\d+)"
            else:
                regex += rf"(?P<{name}>[^/]+)"
            last = match.end()
        regex += re.escape(pattern[last:]) + "/?$"
        self._routes.append(
            Route(
                method,
                pattern,
                re.compile(regex),
                handler,
                auth,
                frozenset(int_params),
                frozenset(secret),
            )
        )

    @property
    def routes(self) -> tuple[Route, ...]:
        """Every route, in registration order (tests derive what the emulator implements)."""
        return tuple(self._routes)

    def match(self, method: str, path: str) -> tuple[Route, dict[str, Any]]:
        """Find the route; 404 for an unknown path, 405 for a known path with another method."""
        path_known = False
        lookup = "GET" if method == "HEAD" else method
        for route in self._routes:
            found = route.regex.match(path)
            if not found:
                continue
            path_known = True
            if route.method != lookup:
                continue
            params: dict[str, Any] = {}
            for name, value in found.groupdict().items():
                if name in route.int_params:
                    number = int(value)
                    if not -(2**63) <= number < 2**63:
                        raise ApiError(400, -80002, f"Path parameter {name} is out of range")
                    params[name] = number
                else:
                    params[name] = value
            return route, params
        if path_known:
            raise ApiError(405, None, f"Method {method} is not allowed on {path}")
        raise ApiError(404, None, f"No such endpoint: {method} {path}")
