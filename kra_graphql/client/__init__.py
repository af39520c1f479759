"""Clients of the API: the command-line client."""
