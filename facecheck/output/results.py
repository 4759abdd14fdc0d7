"""What a scan returns: one ScanResult per input, one FaceScore per face (the types every output reads)."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..model.verdict import ERROR, NO_FACE
from ..scan.metadata import Metadata
from ..scan.stability import spread


@dataclass(frozen=True)
class FaceScore:
    """One face's result: where it is, its score and the verdict.

    `loglik` is the fused score of the witnesses' log-likelihoods by the bundle's rule (Stouffer's: the
    normal quantiles of each witness's p-value among held-out real faces, summed over sqrt(n); bundles
    from 0.4.0: their standardised sum; higher = more photographic; for a facecheck-bundle/1 bundle, the
    one witness's log-likelihood itself). `threshold` and `margin` are in
    the same unit. `p_real` is the share of the bundle's held-out real faces that score as low or lower
    (None for bundles that store no real scores). `witnesses` holds each witness's own log-likelihood
    under its mixture; `stability` each perturbation's p_real (only when asked for).
    """

    face_index: int
    box: tuple[int, int, int, int]
    detector_confidence: float
    loglik: float
    threshold: float
    margin: float
    verdict: str
    witnesses: dict[str, float] = field(default_factory=dict)
    p_real: float | None = None
    stability: dict[str, float] | None = None

    @property
    def p_real_spread(self) -> float | None:
        """How far p_real moves under the stability perturbations (max - min), or None."""
        if self.stability is None or self.p_real is None:
            return None
        return spread([self.p_real, *self.stability.values()])


@dataclass(frozen=True)
class ScanResult:
    """One input's result: its faces, or a `no_face` / `error` status, and what its metadata says.

    `metadata` is a separate witness (None for arrays): it never changes a loglik or a verdict.
    """

    source_file: str
    faces: tuple[FaceScore, ...] = ()
    error: str | None = None
    threshold: float | None = None
    metadata: Metadata | None = None

    @property
    def status(self) -> str:
        """"error", "no_face", or "faces" when at least one face was scored."""
        return ERROR if self.error else (NO_FACE if not self.faces else "faces")
