"""Routes: the web console (`chalicelib.console_site`), a page and its flat, text-only assets. It
calls only the public API, from the same origin."""

from __future__ import annotations

from chalice import Response

from chalicelib.api.routing import Ctx, Router
from chalicelib.console_site import ConsoleAssets

router = Router(__name__)
ASSETS = ConsoleAssets()


@router.route("/console", "GET", auth="none", tag="console", produces="text/html",
              errors=(503,))
def console_page(ctx: Ctx) -> Response:
    """The web console for admins, partners and merchants (sign in with an API key)."""
    page = ASSETS.index()
    return Response(body=page.body, status_code=200, headers=dict(page.headers))


@router.route("/console/{asset}", "GET", auth="none", tag="console",
              produces="text/javascript, text/css or image/svg+xml", errors=(404, 503))
def console_asset(ctx: Ctx, asset: str) -> Response:
    """One of the console's built assets (JavaScript, CSS, SVG), by its content-hashed name."""
    found = ASSETS.asset(asset)
    return Response(body=found.body, status_code=200, headers=dict(found.headers))
