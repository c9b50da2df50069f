"""Entry point for python -m training."""

import os
import sys

# TensorFlow's C++ start-up notices would bury the training report.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from training.cli import main  # noqa: E402

sys.exit(main())
