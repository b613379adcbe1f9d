"""`python manage.py register_checkpoint NAME PATH`: record a user-supplied checkpoint (MedSAM / SAM ViT-B)
with its SHA-256, after loading it strictly into the model, so a wrong file is refused now, not at the
first prompt."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from ml_worker.sam.build import MODEL_REGISTRY, REGISTRY_FILENAME, register_checkpoint
from ml_worker.sam.errors import SamError


class Command(BaseCommand):
    help = "Register a checkpoint file for a model of the registry (e.g. medsam_vit_b, sam_vit_b)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("name", help=f"one of: {', '.join(sorted(MODEL_REGISTRY))}")
        parser.add_argument("path", help="the checkpoint file (a state dict in the official key layout)")

    def handle(self, *args: Any, name: str, path: str, **options: Any) -> None:
        if name not in MODEL_REGISTRY:
            raise CommandError(f"Unknown model {name!r}; known: {', '.join(sorted(MODEL_REGISTRY))}.")
        try:
            entry = register_checkpoint(name, path, settings.MODEL_DIR / REGISTRY_FILENAME)
        except (SamError, OSError) as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(f"registered {name}: {entry['path']} (sha256 {entry['sha256']})")
