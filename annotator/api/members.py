"""REST API for members and invitations."""

from __future__ import annotations

from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from annotator import access
from annotator.actions import members
from annotator.api.permissions import IsProjectOwner, ProjectView
from annotator.models import Invitation, Membership


class MemberSerializer(serializers.ModelSerializer):
    user = serializers.IntegerField(source="user_id")
    username = serializers.CharField(source="user.username")
    email = serializers.CharField(source="user.email")

    class Meta:
        model = Membership
        fields = ["user", "username", "email", "role", "joined_at"]


class InvitationSerializer(serializers.ModelSerializer):
    project_name = serializers.CharField(source="project.name")
    username = serializers.SerializerMethodField()
    invited_by = serializers.SerializerMethodField()
    # The join link of a pending e-mail invitation, for the project's owners only (context "show_links").
    link = serializers.SerializerMethodField()

    class Meta:
        model = Invitation
        fields = [
            "id",
            "project",
            "project_name",
            "username",
            "email",
            "role",
            "state",
            "invited_by",
            "created_at",
            "expires_at",
            "link",
        ]

    def get_username(self, invitation: Invitation) -> str | None:
        return invitation.user.username if invitation.user is not None else None

    def get_invited_by(self, invitation: Invitation) -> str | None:
        return invitation.invited_by.username if invitation.invited_by is not None else None

    def get_link(self, invitation: Invitation) -> str | None:
        request = self.context.get("request")
        if not self.context.get("show_links") or request is None or invitation.user_id is not None:
            return None
        if invitation.state != Invitation.State.PENDING:
            return None
        return request.build_absolute_uri(members.join_path(invitation))


class InviteSerializer(serializers.Serializer):
    invitee = serializers.CharField(max_length=254, help_text="A username or an e-mail address.")
    role = serializers.CharField(max_length=16)


class RoleSerializer(serializers.Serializer):
    role = serializers.CharField(max_length=16)


class MemberListView(ProjectView):
    def get(self, request: Request, project_id: int) -> Response:
        return Response(MemberSerializer(members.members_of(self.project), many=True).data)


class MemberDetailView(ProjectView):
    permission_classes = [IsProjectOwner]

    def patch(self, request: Request, project_id: int, user_id: int) -> Response:
        payload = RoleSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        membership = members.do_change_role(
            self.project, access.get_member(self.project, user_id), payload.validated_data["role"]
        )
        return Response(MemberSerializer(membership).data)

    def delete(self, request: Request, project_id: int, user_id: int) -> Response:
        members.do_remove_member(self.project, access.get_member(self.project, user_id))
        return Response(status=status.HTTP_204_NO_CONTENT)


class ProjectInvitationsView(ProjectView):
    permission_classes = [IsProjectOwner]

    def get(self, request: Request, project_id: int) -> Response:
        context = {"request": request, "show_links": True}
        return Response(
            InvitationSerializer(members.invitations_of(self.project), many=True, context=context).data
        )

    def post(self, request: Request, project_id: int) -> Response:
        payload = InviteSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        invitation = members.do_invite(
            request.user,
            self.project,
            **payload.validated_data,
            join_url=lambda token: request.build_absolute_uri(f"/invite/{token}/"),
        )
        context = {"request": request, "show_links": True}
        return Response(
            InvitationSerializer(invitation, context=context).data, status=status.HTTP_201_CREATED
        )


class ProjectInvitationDetailView(ProjectView):
    permission_classes = [IsProjectOwner]

    def delete(self, request: Request, project_id: int, invitation_id: int) -> Response:
        invitation = access.get_project_invitation(self.project, invitation_id)
        return Response(InvitationSerializer(members.do_revoke_invitation(invitation)).data)


class MyInvitationsView(APIView):
    def get(self, request: Request) -> Response:
        invitations = access.invitations_for(access.signed_in(request.user))
        return Response(InvitationSerializer(invitations, many=True).data)


class AnswerInvitationView(APIView):
    accept = True

    def post(self, request: Request, invitation_id: int) -> Response:
        invitation = access.get_invitation_for(request.user, invitation_id)
        answered = members.do_answer_invitation(request.user, invitation, accept=self.accept)
        return Response(InvitationSerializer(answered).data)


class DeclineInvitationView(AnswerInvitationView):
    accept = False
