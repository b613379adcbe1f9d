"""The API's description, served: the OpenAPI schema at /api/schema/ and its Swagger UI page at /api/docs/.

A refusal answers like every other page or endpoint of its kind (probe finding 14: every API error is clear
JSON): the schema's renderers are OpenAPI YAML/JSON, so drf-spectacular's own view would send its 403 as
YAML; here any error leaves as the API's JSON error body. The docs page is a page: an anonymous visitor is
sent to the login page, as from every other page.
"""

from __future__ import annotations

from django.contrib.auth.mixins import LoginRequiredMixin
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response


class SchemaView(SpectacularAPIView):
    def handle_exception(self, exc: Exception) -> Response:
        response = super().handle_exception(exc)
        # finalize_response renders with the negotiated renderer: make it the API's JSON for an error
        self.request.accepted_renderer = JSONRenderer()
        self.request.accepted_media_type = JSONRenderer.media_type
        return response


class DocsView(LoginRequiredMixin, SpectacularSwaggerView):
    pass
