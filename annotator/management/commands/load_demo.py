"""Create the demo user and the demo project. Idempotent: a second run changes nothing."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import transaction

from annotator.actions.projects import do_create_project
from annotator.models import Project

DEMO_PROJECT = "Demo: CT, MR and 2D"
DEMO_LABELS = [
    {"name": "tumour", "color": "#e6194b"},
    {"name": "lung", "color": "#4363d8", "window_preset": "lung"},
    {"name": "organ", "color": "#3cb44b"},
]


class Command(BaseCommand):
    help = "Create the demo user and a demo project holding real demo data."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--username", default="demo")
        parser.add_argument("--password", default="delineate-demo")

    @transaction.atomic
    def handle(self, *args, username: str, password: str, **options) -> None:
        User = get_user_model()
        user, created = User.objects.get_or_create(username=username)
        if created:
            user.set_password(password)
            user.save()
        project = Project.objects.filter(name=DEMO_PROJECT, memberships__user=user).first()
        if project is None:
            project = do_create_project(
                user, DEMO_PROJECT, "Real demo studies fetched from the package registries.", DEMO_LABELS
            )
        self.stdout.write(f"demo user {username!r}, project {project.name!r} (id {project.id})")
