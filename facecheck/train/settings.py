"""The appearance witness's training settings and checkpoint name, apart from the training loop (which needs
torch), so that `train --gmm-only` runs without it."""

from __future__ import annotations

from dataclasses import dataclass

CHECKPOINT = "checkpoint.pt"


@dataclass(frozen=True)
class TrainSettings:
    """Hyper-parameters of the pretext training (stored in the checkpoint and the bundle)."""

    epochs: int = 6
    batch_size: int = 64
    lr: float = 1e-3
    weight_decay: float = 1e-4
    manipulation_weight: float = 1.0
    warmup_steps: int = 100
    seed: int = 0
    input_size: int = 128
    widths: tuple[int, ...] = (32, 64, 128, 256)
    blocks: tuple[int, ...] = (1, 2, 2, 2)
    embed_dim: int = 256
    checkpoint_minutes: float = 5.0
    device: str = "cpu"
    tasks: tuple[str, ...] = ("exif", "manipulation")
