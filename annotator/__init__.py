"""The Delineate Django app: projects, studies, masks, tasks; REST API and WebSocket consumers."""
