"""The page routes: each renders the single-page shell with the built bundle, for members only."""

from __future__ import annotations

import json
import os

import pytest
from django.test import override_settings

from annotator import frontend
from annotator.models import Series, Study

MANIFEST = {
    "src/main.ts": {
        "file": "assets/main-abc123.js",
        "name": "main",
        "src": "src/main.ts",
        "isEntry": True,
        "imports": ["_shared-def456.js"],
        "css": ["assets/main-0a1b2c.css"],
    },
    "_shared-def456.js": {"file": "assets/shared-def456.js", "css": ["assets/shared-9f8e.css"]},
}


@pytest.fixture
def built_frontend(tmp_path):
    (tmp_path / ".vite").mkdir()
    (tmp_path / ".vite" / "manifest.json").write_text(json.dumps(MANIFEST))
    with override_settings(FRONTEND_DIST_DIR=tmp_path):
        yield tmp_path


@pytest.fixture
def series(personas):
    study = Study.objects.create(project=personas.project, uid="1.2.3", source=Study.Source.NIFTI)
    return Series.objects.create(
        study=study,
        uid="1.2.3.1",
        kind=Series.Kind.VOLUME,
        modality="CT",
        shape=[3, 8, 8],
        spacing=[1.0, 1.0, 1.0],
        affine=[[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]],
        dtype="int16",
        num_slices=3,
        content_hash="0" * 64,
        volume="series/test.npy",
        description="Portal venous",
    )


def page_urls(personas, series) -> dict[str, str]:
    return {
        "projects": "/",
        "project": f"/projects/{personas.project.id}/",
        "viewer": f"/series/{series.id}/",
    }


def test_every_page_loads_the_built_bundle_for_each_member(personas, series, built_frontend):
    for name in ("owner", "annotator", "reviewer"):
        client = personas.client_for(name)
        for page, url in page_urls(personas, series).items():
            response = client.get(url)
            assert response.status_code == 200, (name, url)
            html = response.content.decode()
            assert '<script type="module" src="/static/assets/main-abc123.js"></script>' in html
            assert 'href="/static/assets/main-0a1b2c.css"' in html
            assert 'href="/static/assets/shared-9f8e.css"' in html
            assert '<link rel="modulepreload" href="/static/assets/shared-def456.js">' in html
            assert f'data-page="{page}"' in html
            assert "csrftoken" in response.cookies


def test_the_viewer_page_carries_the_series_project_and_role(personas, series, built_frontend):
    html = personas.client_for("reviewer").get(f"/series/{series.id}/").content.decode()
    assert f'data-series-id="{series.id}"' in html
    assert f'data-project-id="{personas.project.id}"' in html
    assert 'data-role="reviewer"' in html
    assert "<title>Portal venous · Delineate</title>" in html


def test_outsiders_get_404_for_a_project_or_series_page(personas, series, built_frontend):
    client = personas.client_for("outsider")
    assert client.get(f"/projects/{personas.project.id}/").status_code == 404
    assert client.get(f"/series/{series.id}/").status_code == 404
    assert client.get("/series/999999/").status_code == 404
    assert "Liver CT" not in client.get("/").content.decode()


def test_anonymous_visitors_are_redirected_to_log_in_from_every_page(personas, series, built_frontend):
    client = personas.client_for("anonymous")
    for url in page_urls(personas, series).values():
        response = client.get(url)
        assert response.status_code == 302, url
        assert response["Location"].startswith(f"/login/?next={url}")


def test_a_missing_build_is_reported_on_the_page_instead_of_failing(personas, tmp_path):
    with override_settings(FRONTEND_DIST_DIR=tmp_path / "nothing-here"):
        response = personas.client_for("owner").get("/")
    html = response.content.decode()
    assert response.status_code == 200
    assert "run `make frontend`" in html
    assert '<script type="module"' not in html
    assert "Liver CT" in html  # the server-rendered fallback list still works


def test_a_rebuild_is_picked_up_without_restarting(personas, built_frontend):
    client = personas.client_for("owner")
    assert "main-abc123.js" in client.get("/").content.decode()
    manifest = {**MANIFEST, "src/main.ts": {**MANIFEST["src/main.ts"], "file": "assets/main-new999.js"}}
    path = built_frontend / ".vite" / "manifest.json"
    path.write_text(json.dumps(manifest))
    stat = path.stat()
    os.utime(path, (stat.st_atime, stat.st_mtime + 5))
    assert "main-new999.js" in client.get("/").content.decode()


@pytest.mark.skipif(
    not (frontend.dist_dir() / ".vite" / "manifest.json").exists(),
    reason="frontend not built (make frontend)",
)
def test_the_real_build_has_the_entry_and_its_files_exist(personas):
    bundle = frontend.bundle()
    for url in [bundle.script, *bundle.styles, *bundle.preloads]:
        assert url.startswith("/static/")
        assert (frontend.dist_dir() / url.removeprefix("/static/")).is_file(), url
