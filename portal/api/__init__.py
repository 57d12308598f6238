"""REST API of the portal app, and the pieces every API view shares."""
