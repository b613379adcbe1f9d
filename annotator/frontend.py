"""Find the Vite-built bundle through its manifest, so templates can load hashed file names.

``npm run build`` in frontend/ writes ``dist/.vite/manifest.json``; WhiteNoise serves ``dist/`` under
STATIC_URL (settings.STATICFILES_DIRS), and Vite's ``base`` is ``/static/`` to match.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from django.conf import settings
from django.templatetags.static import static

ENTRY = "src/main.ts"


@dataclass(frozen=True)
class Bundle:
    """URLs a page needs for one entry: its module script, the chunks it imports, and its stylesheets."""

    script: str
    preloads: list[str] = field(default_factory=list)
    styles: list[str] = field(default_factory=list)


class FrontendNotBuilt(Exception):
    pass


def dist_dir() -> Path:
    return Path(getattr(settings, "FRONTEND_DIST_DIR", settings.BASE_DIR / "frontend" / "dist"))


def manifest_path() -> Path:
    return dist_dir() / ".vite" / "manifest.json"


_cache: dict[str, tuple[float, dict]] = {}


def read_manifest() -> dict:
    """The parsed manifest, re-read only when the file changes (a rebuild while the server runs)."""
    path = manifest_path()
    try:
        mtime = path.stat().st_mtime
    except FileNotFoundError as exc:
        raise FrontendNotBuilt(
            f"{path} is missing: run `make frontend` to build the user interface."
        ) from exc
    cached = _cache.get(str(path))
    if cached and cached[0] == mtime:
        return cached[1]
    manifest = json.loads(path.read_text())
    _cache[str(path)] = (mtime, manifest)
    return manifest


def bundle(entry: str = ENTRY) -> Bundle:
    manifest = read_manifest()
    if entry not in manifest:
        raise FrontendNotBuilt(f"The frontend manifest has no entry {entry!r}: rebuild with `make frontend`.")
    chunk = manifest[entry]
    styles: list[str] = []
    preloads: list[str] = []
    seen: set[str] = set()

    def walk(key: str, is_entry: bool) -> None:
        if key in seen:
            return
        seen.add(key)
        item = manifest[key]
        if not is_entry:
            preloads.append(static(item["file"]))
        styles.extend(static(css) for css in item.get("css", []) if static(css) not in styles)
        for imported in item.get("imports", []):
            walk(imported, False)

    walk(entry, True)
    return Bundle(script=static(chunk["file"]), preloads=preloads, styles=styles)
