"""Every registered witness kind survives save -> load -> transform unchanged (the bundle's round trip, kind by kind)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from facecheck.model.witnesses import KINDS, load_witness, witness_class
from facecheck.model.witnesses.base import FixedWitness, PatchSpec


def _build(kind: str):
    """A small witness of `kind`: learned ones with tiny seeded networks, fixed ones with small patches."""
    torch.manual_seed(0)
    if kind == "appearance":
        from facecheck.model.witnesses.appearance import AppearanceWitness
        from facecheck.model.witnesses.facenet import FaceNet, FeatureExtractor

        return AppearanceWitness(FeatureExtractor(FaceNet(widths=(8, 8, 16, 16), blocks=(1, 1, 1, 1), embed_dim=8),
                                                  input_size=32))
    if kind == "trace":
        from facecheck.model.witnesses.trace import TraceNet, TraceWitness

        return TraceWitness(TraceNet(widths=(4, 8), embed_dim=8), spec=PatchSpec(size=32, grid=2))
    if kind == "coder":
        from facecheck.model.witnesses.coder import CoderWitness

        return CoderWitness(spec=PatchSpec(size=32, grid=2))
    cls = witness_class(kind)
    assert issubclass(cls, FixedWitness), f"{kind}: a new learned kind needs a builder in this test"
    return cls(spec=PatchSpec(size=32, grid=2))


@pytest.mark.parametrize("kind", list(KINDS))
def test_save_load_transform_round_trip(kind, tmp_path):
    witness = _build(kind)
    assert witness.kind == kind and witness.summary  # every kind says in a line what it looks at (`info`)
    rng = np.random.default_rng(0)
    inputs = rng.integers(0, 255, (3, *witness.spec.shape), dtype=np.uint8)
    features = witness.transform(inputs)
    assert features.dtype == np.float32 and features.shape[0] == 3 and np.all(np.isfinite(features))
    path = tmp_path / f"{kind}{witness.file_suffix}"
    witness.save(path)
    loaded = load_witness(path, witness.config(), name=witness.name)
    assert type(loaded) is type(witness) and loaded.spec == witness.spec
    np.testing.assert_array_equal(loaded.transform(inputs), features)
