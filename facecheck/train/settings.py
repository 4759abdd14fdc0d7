"""The learned witnesses' training settings and the appearance witness's checkpoint name, apart from the training loop (which needs
torch), so that `train --gmm-only` runs without it."""

from __future__ import annotations

from dataclasses import dataclass

CHECKPOINT = "checkpoint.pt"


@dataclass(frozen=True)
class RunSettings:
    """What the training of every learned witness sets: its optimiser, seed, network width, checkpoints, device."""

    lr: float = 1e-3
    weight_decay: float = 1e-4
    warmup_steps: int = 100
    seed: int = 0
    widths: tuple[int, ...] = (32, 64, 128, 256)
    embed_dim: int = 256
    checkpoint_minutes: float = 5.0
    device: str = "cpu"


@dataclass(frozen=True)
class TrainSettings(RunSettings):
    """Hyper-parameters of the appearance witness's pretext training (stored in the checkpoint and the bundle)."""

    epochs: int = 6
    batch_size: int = 64
    manipulation_weight: float = 1.0
    input_size: int = 128
    blocks: tuple[int, ...] = (1, 2, 2, 2)
    tasks: tuple[str, ...] = ("exif", "manipulation")
