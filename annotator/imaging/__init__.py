"""Reading, de-identifying, storing and rendering medical images. Plain functions, no Django models here
except in ``volumes`` (which reads a Series' files through Django's storage API)."""
