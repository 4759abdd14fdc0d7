"""Every default of the scan pipeline in one frozen record; CLI flags override fields."""

from __future__ import annotations

from dataclasses import dataclass, replace

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff", ".gif", ".heic", ".heif", ".avif")


@dataclass(frozen=True)
class Config:
    """Options of `scan` (detection, batching, device).

    Attributes
    ----------
    detect_max_side : longest side, in pixels, of the copy the face detector runs on.
    upsample : dlib HOG upsampling passes; None picks 1 for small images, else 0.
    min_face : smallest face box side (original pixels) that is kept.
    max_pixels : images with more pixels are refused (decompression bombs).
    batch_files : files decoded and detected before one CNN batch.
    n_jobs : parallel workers for decoding and detection.
    device : torch device for the feature extractor ("cpu" or "cuda").
    cnn_threads : compute threads (BLAS, torch) of this process while it scores (the workers have the other cores: on 2 busy
        cores one thread runs the appearance CNN 20-60x faster than two, measured; BENCHMARKS.md).
    pad : search an image where nothing was found again inside a border (tight face crops).
    verify : confirm detections with dlib's CNN detector on a small crop around each.
    verify_below : only detections whose HOG confidence is below this are checked (confident ones pass).
    false_alarm : share of held-out real faces called ai-generated; None: the bundle's.
    uncertain : p_real up to which a face over the threshold is `uncertain`; None: verdict.DEFAULT_UNCERTAIN.
    stability : re-score every face after JPEG q75 and a 0.5x resize (about 1.5x the scan time).
    c2pa_trust : PEM text of C2PA trust anchors (provenance.load_trust); None: signers not checked against a list.
    """

    detect_max_side: int = 1024
    upsample: int | None = None
    min_face: int = 40
    max_pixels: int = 120_000_000
    batch_files: int = 16
    n_jobs: int = 2
    device: str = "cpu"
    cnn_threads: int = 1
    pad: bool = True
    verify: bool = True
    verify_below: float = 0.5
    false_alarm: float | None = None
    uncertain: float | None = None
    stability: bool = False
    c2pa_trust: str | None = None

    def with_(self, **changes) -> "Config":
        """Return a copy with `changes` applied, ignoring None values."""
        return replace(self, **{k: v for k, v in changes.items() if v is not None})
