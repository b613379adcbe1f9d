"""Project membership: invitations by username or e-mail, accepting them, changing roles, removing members.

An invitation to an existing username (or to the e-mail of an existing account) is answered from the
invitee's project list, as it always was. An invitation to an e-mail address nobody has yet carries a join
link (``/invite/<token>/``) that lets the new person choose a username and a password and join at once; the
link expires after ``settings.INVITATION_TTL_HOURS``. It is e-mailed (``settings.EMAIL_BACKEND``) and shown
to the owner, who can pass it on when no mail server is configured (the embedded default).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import User
from django.contrib.auth.password_validation import validate_password
from django.contrib.auth.validators import UnicodeUsernameValidator
from django.core.exceptions import ValidationError
from django.core.mail import send_mail
from django.core.validators import validate_email
from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from annotator import access, socket_access
from annotator.errors import Conflict, Gone, InvalidInput, NotFound
from annotator.models import Invitation, Membership, Project, Role

log = logging.getLogger(__name__)


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
def do_invite(
    inviter: access.AnyUser,
    project: Project,
    invitee: str,
    role: str,
    *,
    join_url: Callable[[str], str] | None = None,
) -> Invitation:
    """Invite a user (by username or e-mail) to ``project``. An e-mail invitation of someone without an
    account expires and is mailed with its join link (``join_url(token)``: the absolute URL)."""
    check_role(role)
    user, email = check_invitee(project, invitee)
    expires_at = None
    if user is None:
        expires_at = timezone.now() + timedelta(hours=settings.INVITATION_TTL_HOURS)
    invitation = Invitation.objects.create(
        project=project,
        user=user,
        email=email,
        role=role,
        invited_by=access.signed_in(inviter),
        expires_at=expires_at,
    )
    if user is None and join_url is not None:
        link = join_url(invitation.token)
        transaction.on_commit(lambda: send_invitation_mail(invitation, link))
    return invitation


def join_path(invitation: Invitation) -> str:
    return f"/invite/{invitation.token}/"


def send_invitation_mail(invitation: Invitation, link: str) -> None:
    """E-mail the join link. A mail server that refuses it is logged, not fatal: the owner has the link."""
    inviter = invitation.invited_by.get_username() if invitation.invited_by else "Someone"
    until = (
        invitation.expires_at.strftime("%Y-%m-%d %H:%M UTC") if invitation.expires_at else "further notice"
    )
    body = (
        f"{inviter} invited you to annotate with them in the project {invitation.project.name!r} on "
        f"Delineate, as {invitation.role}.\n\nChoose a username and a password to join:\n{link}\n\n"
        f"The link works until {until}."
    )
    try:
        send_mail(
            f"Join {invitation.project.name} on Delineate",
            body,
            None,
            [invitation.email],
            fail_silently=False,
        )
    except OSError:
        log.exception("could not e-mail invitation %s", invitation.pk)


def pending_by_token(token: str) -> Invitation:
    """The pending e-mail invitation with this join token: ``NotFound`` when there is none (or it was
    answered or revoked), ``Gone`` when its link has expired."""
    invitation = (
        Invitation.objects.select_related("project", "invited_by")
        .filter(token=token, user=None, state=Invitation.State.PENDING)
        .first()
    )
    if invitation is None:
        raise NotFound("This invitation link is not valid (it was used, revoked or mistyped).")
    if invitation.expired(timezone.now()):
        raise Gone("This invitation link has expired. Ask the project's owner for a new one.")
    return invitation


def check_new_account(username: str, password: str, password_again: str) -> str:
    username = username.strip()
    try:
        UnicodeUsernameValidator()(username)
    except ValidationError as exc:
        raise InvalidInput(f"Choose another username: {' '.join(exc.messages)}") from exc
    if len(username) > 150:
        raise InvalidInput("A username is at most 150 characters.")
    if get_user_model().objects.filter(username__iexact=username).exists():
        raise InvalidInput(f"The username {username!r} is taken; choose another.")
    if password != password_again:
        raise InvalidInput("The two passwords differ.")
    try:
        validate_password(password)
    except ValidationError as exc:
        raise InvalidInput(" ".join(exc.messages)) from exc
    return username


@transaction.atomic
def do_join(token: str, username: str, password: str, password_again: str) -> User:
    """Create the account of a person invited by e-mail and make them a member: returns the new user."""
    invitation = pending_by_token(token)
    invitation = Invitation.objects.select_for_update().get(pk=invitation.pk)
    if invitation.state != Invitation.State.PENDING:
        raise NotFound("This invitation link is not valid (it was used, revoked or mistyped).")
    username = check_new_account(username, password, password_again)
    user = get_user_model().objects.create_user(username=username, email=invitation.email, password=password)
    invitation.state = Invitation.State.ACCEPTED
    invitation.answered_at = timezone.now()
    invitation.user = user
    invitation.save(update_fields=["state", "answered_at", "user"])
    Membership.objects.get_or_create(
        project=invitation.project, user=user, defaults={"role": invitation.role}
    )
    return user


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
    socket_access.membership_changed(membership.user_id)
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
    socket_access.membership_removed(membership.user_id, project.pk)
