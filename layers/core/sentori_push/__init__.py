"""Sentori Push core: the shared layer behind every Lambda of the service."""
