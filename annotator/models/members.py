"""Invitations to join a project, addressed to an existing username or to an e-mail address."""

from __future__ import annotations

import secrets
from datetime import datetime

from django.conf import settings as django_settings
from django.db import models

from annotator.models.projects import Role


def new_token() -> str:
    return secrets.token_urlsafe(24)


class Invitation(models.Model):
    class State(models.TextChoices):
        PENDING = "pending", "Pending"
        ACCEPTED = "accepted", "Accepted"
        DECLINED = "declined", "Declined"
        REVOKED = "revoked", "Revoked"

    project = models.ForeignKey("annotator.Project", on_delete=models.CASCADE, related_name="invitations")
    # Set when the invitee already has an account; otherwise the e-mail matches whoever signs up with it.
    user = models.ForeignKey(
        django_settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="invitations",
    )
    email = models.EmailField(blank=True)
    role = models.CharField(max_length=16, choices=Role.choices)
    token = models.CharField(max_length=64, unique=True, default=new_token)
    state = models.CharField(max_length=16, choices=State.choices, default=State.PENDING)
    invited_by = models.ForeignKey(
        django_settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    answered_at = models.DateTimeField(null=True, blank=True)
    # E-mail invitations carry a join link that stops working at this time (settings.INVITATION_TTL_HOURS);
    # invitations to an existing username have none, as before.
    expires_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=~models.Q(user=None) | ~models.Q(email=""), name="invitation_has_an_addressee"
            )
        ]

    def __str__(self) -> str:
        return f"invitation of {self.user or self.email} to {self.project} as {self.role}"

    def expired(self, now: datetime) -> bool:
        return self.expires_at is not None and now >= self.expires_at
