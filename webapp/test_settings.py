"""Settings for the test suite: the one place tests override configuration."""

import atexit
import os
import shutil
import tempfile
from pathlib import Path

os.environ.setdefault("DEBUG", "false")
os.environ.setdefault("SECRET_KEY", "test-secret-key-not-for-production")

from webapp.settings import *  # noqa: E402,F403

_TMP = tempfile.mkdtemp(prefix="delineate-test-")
# Each test process removes its own temporary media when it exits (they used to pile up in /tmp).
atexit.register(shutil.rmtree, _TMP, ignore_errors=True)
MEDIA_ROOT = Path(_TMP) / "media"
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
CELERY_TASK_ALWAYS_EAGER = False
STORAGES["staticfiles"] = {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}  # noqa: F405
STATIC_ROOT = Path(_TMP) / "static"
os.makedirs(STATIC_ROOT, exist_ok=True)
