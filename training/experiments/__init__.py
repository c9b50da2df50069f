"""Small recurrent-network experiments that write a figure and a markdown summary.

Run one with python -m training.experiments NAME --out DIR; docs/experiments.md
shows their results. They reuse the training job's data helpers and argument
checks but nothing else.
"""
