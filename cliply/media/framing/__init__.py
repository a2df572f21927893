"""Subject-aware framing: face detection, salient motion, active speaker, shot cuts and clip layouts."""
