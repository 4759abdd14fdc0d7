"""facecheck: flag AI-generated faces as anomalies under a model of camera photographs."""

__version__ = "0.1.0"

from .api import scan_image, scan_paths  # noqa: E402
from .detect import detect_faces  # noqa: E402
from .features import extract_features  # noqa: E402
from .io import load_image  # noqa: E402
from .likelihood import FaceScorer  # noqa: E402

__all__ = ["load_image", "detect_faces", "extract_features", "FaceScorer", "scan_image", "scan_paths"]
