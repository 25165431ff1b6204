"""OME-Zarr metadata and tensorstore pixel readers."""
