"""REST API of the compute app."""
