"""The Celery queues, named on the annotator side so that it never imports the web project (webapp → annotator).

Three queues keep interactive decoding from waiting behind slow work: ``interactive`` (prompt decoding),
``embed`` (the image encoder, imports, exports, propagation) and ``train`` (fine-tuning).
"""

from __future__ import annotations

QUEUE_INTERACTIVE = "interactive"
QUEUE_EMBED = "embed"
QUEUE_TRAIN = "train"
QUEUES = (QUEUE_INTERACTIVE, QUEUE_EMBED, QUEUE_TRAIN)
