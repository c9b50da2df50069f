"""Entry point for python -m training.experiments NAME --out DIR [options]."""

import os
import sys

# TensorFlow's C++ start-up notices would bury the experiment's output.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from training.experiments.cli import main  # noqa: E402

sys.exit(main())
