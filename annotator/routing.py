from django.urls import path

from annotator.consumers import AnnotatorConsumer

websocket_urlpatterns = [path("ws/", AnnotatorConsumer.as_asgi())]
