"""Batched tensor transforms."""
