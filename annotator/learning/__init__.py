"""Active learning on a worker (issue 11): training cases from saved masks (``cases``), the fine-tuning job
(``training``) and the queue-scoring job (``queue``). The web side's actions are in
annotator/actions/model_versions.py; which version serves prompts is annotator/model_serving.py."""
