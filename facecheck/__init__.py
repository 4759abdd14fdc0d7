"""facecheck: flag AI-generated faces as anomalies under a model of camera photographs."""

__version__ = "0.8.3"

__all__ = ["load_image", "detect_faces", "FaceScorer", "scan_image", "scan_paths"]

_HOMES = {
    "load_image": "scan.io",
    "detect_faces": "scan.detect",
    "FaceScorer": "model.likelihood",
    "scan_image": "api",
    "scan_paths": "api",
}


def __getattr__(name: str):
    # Lazy: `import facecheck.scan.prepare` in a worker process must not pay for importing torch.
    if name in _HOMES:
        from importlib import import_module

        return getattr(import_module(f".{_HOMES[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
