"""SAM-family promptable segmentation: ``build`` (registry), ``modeling`` (modules), ``predictor`` (façade),
``transforms`` (pure image/coordinate functions)."""
