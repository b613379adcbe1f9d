"""The Celery tasks of a project's PACS (``tasks``): thin wrappers over annotator.actions.pacs and
annotator.actions.pacs_stow. The HTTP side is annotator.dicomweb. See docs/pacs.md."""
