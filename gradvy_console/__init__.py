"""Gradvy Console: an e-learning analytics pipeline run and watched from a terminal."""

__version__ = "0.1.0"
