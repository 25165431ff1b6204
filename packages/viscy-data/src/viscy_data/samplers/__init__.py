"""Sampling: batches of anchor row positions."""
