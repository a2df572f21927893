"""Cliply: long videos in, ranked captioned vertical clips out."""

__version__ = "0.1.0"
