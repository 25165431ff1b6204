"""Multi-experiment cell index: tracks, lineage, positives, tau."""
