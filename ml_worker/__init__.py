"""Delineate's model side: SAM-family model code, embeddings, and the Celery tasks that run them."""
