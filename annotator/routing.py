from django.urls import path

from annotator.consumers import AnnotatorConsumer

# Channels routes ASGI apps with Django's path(), whose stub only knows HTTP views.
websocket_urlpatterns = [path("ws/", AnnotatorConsumer.as_asgi())]  # type: ignore[arg-type]
