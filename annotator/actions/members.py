"""Project membership: invitations by username or e-mail, accepting them, changing roles, removing members."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.contrib.auth.models import User
from django.core.validators import validate_email
from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from annotator import access
from annotator.errors import Conflict, InvalidInput, NotFound
from annotator.models import Invitation, Membership, Project, Role


def check_role(role: str) -> str:
    if role not in Role.values:
        raise InvalidInput(f"Unknown role {role!r}; use one of {', '.join(Role.values)}.")
    return role


def check_invitee(project: Project, invitee: str) -> tuple[User | None, str]:
    """Resolve "username or e-mail" to (existing user or None, e-mail)."""
    invitee = invitee.strip()
    if not invitee:
        raise InvalidInput("Say whom to invite: a username or an e-mail address.")
    User = get_user_model()
    user = User.objects.filter(Q(username=invitee) | Q(email__iexact=invitee)).order_by("id").first()
    email = ""
    if user is None:
        if "@" not in invitee:
            raise NotFound(f"There is no user called {invitee!r}; invite them by e-mail address instead.")
        try:
            validate_email(invitee)
        except Exception as exc:  # noqa: BLE001 - Django's ValidationError
            raise InvalidInput(f"{invitee!r} is not a valid e-mail address.") from exc
        email = invitee.lower()
    else:
        email = user.email or ""
        if Membership.objects.filter(project=project, user=user).exists():
            raise Conflict(f"{user.username} is already a member of this project.")
    pending = Invitation.objects.filter(project=project, state=Invitation.State.PENDING)
    if (user is not None and pending.filter(user=user).exists()) or (
        user is None and pending.filter(email__iexact=email).exists()
    ):
        raise Conflict(f"{invitee} already has a pending invitation to this project.")
    return user, email


@transaction.atomic
def do_invite(inviter: access.AnyUser, project: Project, invitee: str, role: str) -> Invitation:
    check_role(role)
    user, email = check_invitee(project, invitee)
    return Invitation.objects.create(
        project=project, user=user, email=email, role=role, invited_by=access.signed_in(inviter)
    )


def members_of(project: Project) -> QuerySet[Membership]:
    return project.memberships.select_related("user").order_by("user__username")


def invitations_of(project: Project) -> QuerySet[Invitation]:
    return project.invitations.select_related("project", "user", "invited_by")


def check_invitation_for(user: access.AnyUser, invitation: Invitation) -> None:
    access.get_invitation_for(user, invitation.pk)


@transaction.atomic
def do_answer_invitation(user: access.AnyUser, invitation: Invitation, accept: bool) -> Invitation:
    invitation = Invitation.objects.select_for_update().get(pk=invitation.pk)
    check_invitation_for(user, invitation)
    user = access.signed_in(user)  # an invitation found for the caller means the caller is signed in
    invitation.state = Invitation.State.ACCEPTED if accept else Invitation.State.DECLINED
    invitation.answered_at = timezone.now()
    invitation.user = user
    invitation.save(update_fields=["state", "answered_at", "user"])
    if accept:
        Membership.objects.get_or_create(
            project=invitation.project, user=user, defaults={"role": invitation.role}
        )
    return invitation


@transaction.atomic
def do_revoke_invitation(invitation: Invitation) -> Invitation:
    if invitation.state != Invitation.State.PENDING:
        raise Conflict(f"The invitation was already {invitation.state}.")
    invitation.state = Invitation.State.REVOKED
    invitation.answered_at = timezone.now()
    invitation.save(update_fields=["state", "answered_at"])
    return invitation


def _check_keeps_an_owner(project: Project, membership: Membership, new_role: str | None) -> None:
    if membership.role == Role.OWNER and new_role != Role.OWNER:
        owners = Membership.objects.filter(project=project, role=Role.OWNER).count()
        if owners <= 1:
            raise Conflict("A project needs at least one owner; make someone else owner first.")


@transaction.atomic
def do_change_role(project: Project, membership: Membership, role: str) -> Membership:
    check_role(role)
    membership = Membership.objects.select_for_update().get(pk=membership.pk)
    _check_keeps_an_owner(project, membership, role)
    membership.role = role
    membership.save(update_fields=["role"])
    return membership


@transaction.atomic
def do_remove_member(project: Project, membership: Membership) -> None:
    membership = Membership.objects.select_for_update().get(pk=membership.pk)
    _check_keeps_an_owner(project, membership, None)
    # Their unfinished work goes back to the open pool; reviewed work stays on record.
    from annotator.models import Assignment

    Assignment.objects.filter(
        task__project=project,
        annotator=membership.user,
        state__in=[Assignment.State.TODO, Assignment.State.IN_PROGRESS, Assignment.State.RETURNED],
    ).delete()
    membership.delete()
