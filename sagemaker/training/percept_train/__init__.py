"""Training code behind sagemaker/training/train.py: data loading, models, metrics and export."""
