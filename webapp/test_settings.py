"""Settings for the test suite: the one place tests override configuration."""

import atexit
import os
import shutil
import tempfile
import time
from pathlib import Path

os.environ.setdefault("DEBUG", "false")
os.environ.setdefault("SECRET_KEY", "test-secret-key-not-for-production")

from webapp.settings import *  # noqa: E402,F403

# Folders of the older naming (no process id), left by processes killed before this sweep existed.
_LEGACY_TEMP_MAX_AGE_S = 24 * 3600


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _sweep_dead_test_folders() -> None:
    """Remove the temporary folders of test processes that died without running their exit hooks (killed
    by a signal or a timeout: 476 such folders, 740 MB, were found in /tmp). A folder is named after its
    process, so one whose process is gone is nobody's."""
    for path in Path(tempfile.gettempdir()).glob("delineate-test-*"):
        try:
            pid = path.name.split("-")[2]
            if pid.isdigit():
                dead = not _alive(int(pid))
            else:
                dead = path.stat().st_mtime < time.time() - _LEGACY_TEMP_MAX_AGE_S
        except OSError:
            continue
        if dead and path.is_dir():
            shutil.rmtree(path, ignore_errors=True)


_sweep_dead_test_folders()
_TMP = tempfile.mkdtemp(prefix=f"delineate-test-{os.getpid()}-")
# Each test process removes its own temporary media when it exits (they used to pile up in /tmp); a killed
# one's is removed by the next test process (above).
atexit.register(shutil.rmtree, _TMP, ignore_errors=True)
MEDIA_ROOT = Path(_TMP) / "media"
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
CELERY_TASK_ALWAYS_EAGER = False
STORAGES["staticfiles"] = {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}  # noqa: F405
STATIC_ROOT = Path(_TMP) / "static"
os.makedirs(STATIC_ROOT, exist_ok=True)
