"""Offline training job: fit a SimpleRNN forecaster and publish it as a versioned SavedModel.

Run it with python -m training. model/README.md documents the artifact.
"""
