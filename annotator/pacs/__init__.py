"""A project's PACS over DICOMweb: the HTTP side (``client``, through the dicomweb-client package), what a
search shows after de-identification (``results``) and the Celery tasks (``tasks``). The domain operations
are in annotator.actions.pacs (configure, search, import) and annotator.actions.pacs_stow (send SEGs back).
See docs/pacs.md."""
