"""Lightning engines."""
