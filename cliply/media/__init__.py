"""Media domain: probe, transcribe, find highlights, render, thumbnails (ffmpeg-backed)."""
