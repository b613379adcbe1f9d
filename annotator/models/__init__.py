from annotator.models.projects import Label, Membership, Project, Role

__all__ = ["Label", "Membership", "Project", "Role"]
