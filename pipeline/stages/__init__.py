"""The stages of dvc.yaml, one module each: read → pure core → write."""
