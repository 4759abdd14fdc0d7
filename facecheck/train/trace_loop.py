"""Train the trace witness on photographs only: real patches against re-rendered copies, same history.

Each sample is a pair cut at the same place from a region of a real image: the region as it is (or
softened by a classic resampler as much as the decoder softens it) and the region re-rendered by a
random simulated decoder (`rerender.py`). Both then get one random processing history (`history.py`),
so resizing, blur and JPEG are never what tells them apart. Checkpointed and resumable; every batch is
drawn from (seed, step), so a resumed run gives the same network as an uninterrupted one.
"""

from __future__ import annotations

import math
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

import cv2
import numpy as np
import torch

from ..errors import TrainingDataError
from ..model.witnesses.base import PatchSpec
from ..model.witnesses.networks import resolve_device, to_tensor
from ..model.witnesses.trace import TraceNet, TraceWitness
from .history import random_history
from .loop import _lr_at
from .rerender import matched_smooth, random_decoder, rerender
from .settings import RunSettings

CHECKPOINT = "trace_checkpoint.pt"
CLASSIC = (cv2.INTER_LINEAR, cv2.INTER_CUBIC, cv2.INTER_LANCZOS4, cv2.INTER_AREA)


@dataclass(frozen=True)
class TraceSettings(RunSettings):
    """Hyper-parameters of the trace witness's training (stored in the checkpoint and the bundle)."""

    lr: float = 2e-3
    widths: tuple[int, ...] = (24, 48, 96, 128)
    embed_dim: int = 128
    steps: int = 2500
    pairs_per_batch: int = 32
    patch: int = 64
    grid: int = 2
    smooth_share: float = 0.5


def make_pair(image: np.ndarray, rng: np.random.Generator, size: int = 64, smooth_share: float = 0.5) -> tuple[np.ndarray, np.ndarray]:
    """(real, re-rendered) `size`-pixel patches cut at the same place after the same random history."""
    h, w = image.shape[:2]
    short = min(h, w)
    need = size + 16
    if short < need // 2:
        raise ValueError(f"image of {w}x{h} px is too small for {size} px patches")
    hist = random_history(rng, min_scale=max(0.35, need / short), max_scale=2.0)
    hist_scale = max(hist.scale, need / short)
    side = int(min(short, max(96, math.ceil(need / hist_scale))))
    side -= side % 8
    top, left = int(rng.integers(0, h - side + 1)), int(rng.integers(0, w - side + 1))
    region = np.ascontiguousarray(image[top : top + side, left : left + side])
    decoder = random_decoder(rng)
    fake = rerender(region, decoder)
    real = matched_smooth(region, decoder, CLASSIC[int(rng.integers(len(CLASSIC)))]) if rng.random() < smooth_share else region
    if hist.scale * side < need:  # the history's resize would leave too few pixels: scale to fit
        from dataclasses import replace

        hist = replace(hist, scale=need / side)
    real, fake = hist.apply(real), hist.apply(fake)
    ph, pw = real.shape[:2]
    y, x = int(rng.integers(0, ph - size + 1)), int(rng.integers(0, pw - size + 1))
    real, fake = real[y : y + size, x : x + size], fake[y : y + size, x : x + size]
    if rng.random() < 0.5:
        real, fake = real[:, ::-1], fake[:, ::-1]
    return np.ascontiguousarray(real), np.ascontiguousarray(fake)


def make_batch(images: list[np.ndarray], n_pairs: int, seed: tuple[int, ...], size: int, smooth_share: float):
    """`n_pairs` pairs from images drawn by `seed`: patches (2n, S, S, 3) uint8, labels (2n,) (1 = re-rendered)."""
    rng = np.random.default_rng(seed)
    patches = []
    for k in range(n_pairs):
        image = images[int(rng.integers(len(images)))]
        pair_rng = np.random.default_rng([*seed, k])
        patches.extend(make_pair(image, pair_rng, size, smooth_share))
    return np.stack(patches), np.tile(np.array([0.0, 1.0], np.float32), n_pairs)


class TraceTrainer:
    """Train a TraceNet on real vs re-rendered pairs, checkpointing to `work_dir` and resuming exactly."""

    def __init__(self, settings: TraceSettings, work_dir: str | Path, *, log: Callable[[str], None] = lambda s: None):
        self.s, self.work_dir, self.log = settings, Path(work_dir), log
        torch.manual_seed(settings.seed)
        self.network = TraceNet(settings.widths, settings.embed_dim)
        self.device = resolve_device(settings.device)
        self.network.to(self.device, memory_format=torch.channels_last)
        self.optimizer = torch.optim.AdamW(self.network.parameters(), lr=settings.lr, weight_decay=settings.weight_decay)
        self.step = 0
        self.history: list[dict] = []

    @property
    def witness(self) -> TraceWitness:
        return TraceWitness(self.network, spec=PatchSpec(self.s.patch, self.s.grid), device=self.s.device)

    def save_checkpoint(self) -> None:
        self.work_dir.mkdir(parents=True, exist_ok=True)
        state = {"settings": {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self.s).items()},
                 "model": self.network.state_dict(), "optimizer": self.optimizer.state_dict(),
                 "step": self.step, "history": self.history}
        tmp = self.work_dir / (CHECKPOINT + ".tmp")
        torch.save(state, tmp)
        tmp.replace(self.work_dir / CHECKPOINT)

    def resume(self) -> bool:
        """Load the checkpoint in `work_dir` if there is one made with the same settings; True if resumed."""
        path = self.work_dir / CHECKPOINT
        if not path.is_file():
            return False
        state = torch.load(path, map_location="cpu", weights_only=True)
        mine = {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self.s).items()}
        if {k: v for k, v in state["settings"].items() if k != "device"} != {k: v for k, v in mine.items() if k != "device"}:
            raise TrainingDataError(f"{path}: a checkpoint of other trace settings; delete it or use the same settings")
        self.network.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.step, self.history = int(state["step"]), list(state["history"])
        return True

    def fit(self, train_images: list[np.ndarray], val_images: list[np.ndarray], *, progress=None) -> list[dict]:
        """Train to `settings.steps`; returns the history of (step, loss, validation accuracy)."""
        s = self.s
        usable = [im for im in train_images if min(im.shape[:2]) >= (s.patch + 16) // 2]
        if len(usable) < 10:
            raise TrainingDataError(f"the trace witness needs at least 10 training images of {s.patch} px or more")
        val = make_batch([im for im in val_images if min(im.shape[:2]) >= (s.patch + 16) // 2] or usable,
                         256, (s.seed, 999_999), s.patch, s.smooth_share)
        try:
            self._loop(usable, val, progress)
        except KeyboardInterrupt:  # Ctrl-C: keep what was learned; --resume continues from here
            self.save_checkpoint()
            raise
        self.save_checkpoint()
        return self.history

    def _loop(self, usable: list[np.ndarray], val, progress) -> None:
        s = self.s
        loss_fn = torch.nn.BCEWithLogitsLoss()
        last_ckpt, window = time.monotonic(), []
        with ThreadPoolExecutor(max_workers=1) as pool:
            draw = lambda step: pool.submit(make_batch, usable, s.pairs_per_batch, (s.seed, step), s.patch, s.smooth_share)  # noqa: E731
            future = draw(self.step)
            while self.step < s.steps:
                patches, labels = future.result()
                if self.step + 1 < s.steps:
                    future = draw(self.step + 1)
                self.network.train()
                for group in self.optimizer.param_groups:
                    group["lr"] = _lr_at(self.step, s.steps, s)  # the same schedule as the appearance witness
                _, logit = self.network(to_tensor(patches, self.device))
                loss = loss_fn(logit, torch.from_numpy(labels).to(self.device))
                self.optimizer.zero_grad(set_to_none=True)
                loss.backward()
                self.optimizer.step()
                self.step += 1
                window.append(float(loss.detach()))
                if self.step % 100 == 0 or self.step == s.steps:
                    acc = self.validate(val)
                    self.history.append({"step": self.step, "loss": float(np.mean(window)), "val_acc": acc})
                    self.log(f"trace step {self.step}/{s.steps}: loss {np.mean(window):.4f}, held-out pair accuracy {acc:.3f}")
                    window = []
                if progress:
                    progress(self.step, s.steps)
                if time.monotonic() - last_ckpt > s.checkpoint_minutes * 60:
                    self.save_checkpoint()
                    last_ckpt = time.monotonic()

    @torch.inference_mode()
    def validate(self, batch) -> float:
        patches, labels = batch
        self.network.eval()
        logits = torch.cat([self.network(to_tensor(patches[i : i + 256], self.device))[1] for i in range(0, len(patches), 256)])
        return float(((logits.cpu().numpy() > 0) == (labels > 0.5)).mean())


def trace_builder(settings: TraceSettings | None = None, *, trace_steps: int = 2500, seed: int = 0, device: str = "cpu",
                  checkpoint_minutes: float = 5.0, **_):
    """A pipeline witness builder (see `pipeline.TrainingRun`): train the trace witness on the run's photos,
    with `settings` or the train command's options (`TraceWitness.trainer`).

    It learns from every photo of the "train" split (faces and scenes: the traces are not face-specific),
    validates on "select", checkpoints to the run's work folder and resumes with the run.
    """
    from ..scan.io import load_image

    if settings is None:
        settings = TraceSettings(steps=trace_steps, seed=seed, device=device, checkpoint_minutes=checkpoint_minutes)

    def build(run):
        trainer = TraceTrainer(settings, run.work, log=run.log)
        run.checkpoints.append(run.work / CHECKPOINT)
        if run.resume and trainer.resume():
            run.log(f"trace witness: resumed at step {trainer.step}")
        if trainer.step < settings.steps:
            def decode(files):
                images = []
                for f in files:
                    try:
                        image = load_image(f)
                    except Exception:  # the pre-scan already reported unreadable photos
                        continue
                    # Native pixels, bounded memory: the central 1024 x 1024 of a large photo is plenty of patches.
                    h, w = image.shape[:2]
                    top, left = max(0, (h - 1024) // 2), max(0, (w - 1024) // 2)
                    images.append(np.ascontiguousarray(image[top : top + 1024, left : left + 1024]))
                return images

            train, val = decode(run.files("train")), decode(run.files("select"))
            run.log(f"trace witness: {settings.steps} steps on {len(train)} photos ({len(val)} for validation)")
            trainer.fit(train, val)
        run.record["trace"] = {"settings": {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(settings).items()},
                               "history": trainer.history}
        return trainer.witness

    return build

