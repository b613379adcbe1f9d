from django.apps import AppConfig


class AnnotatorConfig(AppConfig):
    name = "annotator"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.contrib.auth.signals import user_logged_out

        from annotator import socket_access

        # A logout closes that session's sockets (probe finding 6's sibling: sessions end on the socket too).
        user_logged_out.connect(socket_access.on_logged_out, dispatch_uid="socket-access-logout")
