"""Fine-tuning the promptable model on corrected masks, from cached embeddings (the image encoder frozen).

``cases`` (training cases as plain data, frozen held-out split by series), ``prompts`` (jittered boxes,
clicks sampled from the error region), ``losses`` (SAM's focal + Dice + IoU loss), ``trainer`` (the
click-aware training loop: :func:`trainer.fine_tune`), ``checkpoint`` (candidate checkpoints whose
image encoder is byte-identical to the parent's). Plain model code: numpy and torch, no Django.
"""
