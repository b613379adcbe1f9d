from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from annotator.models import Label, Project
from annotator.segmentation import serving_model
from ml_worker.windows import DEFAULT_CT_WINDOW, NamedWindow, named_presets


class LabelSerializer(serializers.ModelSerializer):
    class Meta:
        model = Label
        fields = ["id", "name", "value", "color", "window_preset", "position"]


class ProjectSerializer(serializers.ModelSerializer):
    labels = LabelSerializer(many=True, read_only=True)
    role = serializers.SerializerMethodField()
    # The model's CT input windows a label may name (ml_worker.windows) and the project's default one.
    window_presets = serializers.SerializerMethodField()
    model_window = serializers.SerializerMethodField()
    # The serving model's name and whether it follows corrective clicks (the viewer's help says what points do).
    model = serializers.SerializerMethodField()

    class Meta:
        model = Project
        fields = [
            "id",
            "name",
            "description",
            "settings",
            "labels",
            "role",
            "created_at",
            "window_presets",
            "model_window",
            "model",
        ]

    def get_window_presets(self, project: Project) -> list[NamedWindow]:
        return named_presets()

    def get_model_window(self, project: Project) -> str:
        return str(project.settings.get("model_window") or DEFAULT_CT_WINDOW)

    @extend_schema_field(OpenApiTypes.OBJECT)  # the OpenAPI schema: a JSON object
    def get_model(self, project: Project) -> dict[str, object]:
        return serving_model()

    def get_role(self, project: Project) -> str | None:
        user = self.context["request"].user
        membership = project.memberships.filter(user=user).first()
        return membership.role if membership else None


class ProjectCreateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=200)
    description = serializers.CharField(required=False, allow_blank=True, default="")
    labels = serializers.ListField(child=serializers.DictField(), required=False, default=list)
    retain_uids = serializers.BooleanField(required=False, default=False)
    clean_descriptors = serializers.BooleanField(required=False, default=False)
