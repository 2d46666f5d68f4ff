"""The web console's built assets (`console/build.mjs` writes them into `console_assets/`, which
`chalice package` ships with the rest of `chalicelib/`): read once per container, served by
`chalicelib.api.console` with their content types and caching headers.

Names carry a hash of their content, so an asset is cached for a year and never changes under a
name; `index.html` names the current ones and is revalidated on every load. Only what the
manifest lists is served: a name is never a path."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from chalicelib.errors import NotFound, StorageUnavailable

ASSETS_DIR = Path(__file__).resolve().parent / "console_assets"

# The page runs only its own script and style (no inline code: values from the API are set as text,
# so an injected name stays text even before this policy stops it), talks only to this origin and
# may not be framed.
CONTENT_SECURITY_POLICY = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
                           "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
_COMMON = {"X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer",
           "Content-Security-Policy": CONTENT_SECURITY_POLICY}
PAGE_HEADERS = {**_COMMON, "Content-Type": "text/html; charset=utf-8", "Cache-Control": "no-cache",
                "X-Frame-Options": "DENY", "Cross-Origin-Opener-Policy": "same-origin",
                "Permissions-Policy": "camera=(), microphone=(), geolocation=()"}
IMMUTABLE = "public, max-age=31536000, immutable"


@dataclass(frozen=True)
class Asset:
    body: str
    headers: dict[str, str]


class ConsoleAssets:
    """The built console, loaded on first use (a container that serves only the API never reads it)."""

    def __init__(self, root: Path = ASSETS_DIR) -> None:
        self.root = root
        self._index: Asset | None = None
        self._assets: dict[str, Asset] | None = None

    def _load(self) -> tuple[Asset, dict[str, Asset]]:
        if self._index is None or self._assets is None:
            try:
                manifest = json.loads((self.root / "manifest.json").read_text())
                index = (self.root / manifest["index"]).read_text(encoding="utf-8")
                assets = {name: Asset((self.root / name).read_text(encoding="utf-8"),
                                      {**_COMMON, "Content-Type": ctype, "Cache-Control": IMMUTABLE})
                          for name, ctype in manifest["assets"].items()}
            except (OSError, ValueError, KeyError) as err:
                raise StorageUnavailable("the console is not built (make console)",
                                         code="console_not_built") from err
            self._index, self._assets = Asset(index, dict(PAGE_HEADERS)), assets
        return self._index, self._assets

    def index(self) -> Asset:
        return self._load()[0]

    def asset(self, name: str) -> Asset:
        found = self._load()[1].get(name)
        if found is None:
            raise NotFound("no such console asset", code="not_found")
        return found
