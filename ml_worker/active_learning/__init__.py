"""Active learning around the training library: which cases to train on and to annotate next
(``selection``), the steps a fine-tuning job runs (``loop``: annotate, :func:`loop.train_candidate`), the
held-out comparison and promotion rule (``promotion``), and the loop on a labelled dataset that measures it
all (``bench``, behind ``manage.py bench_active_learning``). Plain model code: no Django.
"""
