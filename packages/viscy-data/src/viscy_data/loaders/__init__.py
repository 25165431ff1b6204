"""Loaders that feed batches to a trainer."""
