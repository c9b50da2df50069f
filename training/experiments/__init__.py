"""Small recurrent-network experiments that write a figure and a markdown summary.

Run one with python -m training.experiments NAME --out DIR; docs/experiments.md
shows their results. They share the synthetic series with the training job but
nothing else.
"""
