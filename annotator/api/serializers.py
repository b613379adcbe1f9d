from __future__ import annotations

from rest_framework import serializers

from annotator.models import Label, Project


class LabelSerializer(serializers.ModelSerializer):
    class Meta:
        model = Label
        fields = ["id", "name", "value", "color", "window_preset"]


class ProjectSerializer(serializers.ModelSerializer):
    labels = LabelSerializer(many=True, read_only=True)
    role = serializers.SerializerMethodField()

    class Meta:
        model = Project
        fields = ["id", "name", "description", "settings", "labels", "role", "created_at"]

    def get_role(self, project: Project) -> str | None:
        user = self.context["request"].user
        membership = project.memberships.filter(user=user).first()
        return membership.role if membership else None


class ProjectCreateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=200)
    description = serializers.CharField(required=False, allow_blank=True, default="")
    labels = serializers.ListField(child=serializers.DictField(), required=False, default=list)
    retain_uids = serializers.BooleanField(required=False, default=False)
