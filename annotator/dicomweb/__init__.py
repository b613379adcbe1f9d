"""DICOMweb, the HTTP side of a project's PACS: the client (``client``, through the dicomweb-client package)
and what a search shows after de-identification (``results``). No Django models, no actions: the operations
are in annotator.actions.pacs and annotator.actions.pacs_stow, the Celery tasks in annotator.pacs.tasks.
See docs/pacs.md."""
