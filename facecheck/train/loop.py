"""The self-supervised training loop: EXIF ranking + manipulation heads, checkpointed and resumable."""

from __future__ import annotations

import math
import os
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from ..errors import TrainingDataError, WeightsError
from ..model.witnesses.facenet import FaceNet, FeatureExtractor
from ..model.witnesses.networks import resolve_device
from ..scan.exif import TAG_NAMES
from .data import Pool
from .exif_ranking import manipulation_loss, pairwise_accuracy, ranking_loss_per_tag
from .manipulate import MANIPULATIONS, manipulate, random_sample
from .settings import CHECKPOINT, TrainSettings


def _lr_at(step: int, total: int, s: TrainSettings) -> float:
    """Linear warm-up, then cosine decay to 2% of the base rate."""
    if step < s.warmup_steps:
        return s.lr * (step + 1) / s.warmup_steps
    t = (step - s.warmup_steps) / max(1, total - s.warmup_steps)
    return s.lr * (0.02 + 0.98 * 0.5 * (1 + math.cos(math.pi * min(1.0, t))))


def _landmarks(pool: Pool, i: int) -> np.ndarray | None:
    marks = pool.landmarks[i]
    return None if np.isnan(marks).any() else marks


def _manipulated(image: np.ndarray, landmarks: np.ndarray | None, rng: np.random.Generator) -> np.ndarray:
    """One manipulation drawn uniformly (the landmark-free warp when landmarks are missing)."""
    kind = MANIPULATIONS[int(rng.integers(len(MANIPULATIONS)))] if landmarks is not None else "warp"
    return manipulate(image, landmarks, kind, rng)


def _batch(exif_pool: Pool, face_pool: Pool, exif_idx: np.ndarray, face_idx: np.ndarray, seed: tuple[int, ...]):
    """Assemble one batch: EXIF samples as they are; each face twice, original and manipulated.

    Seeing both versions of a face side by side makes the manipulation the only difference the
    head can use; with independent samples the subtle manipulations were not learned at all on
    a CPU budget (see CHANGELOG 0.1.0). Half the face samples are still originals.
    """
    flip_rng = np.random.default_rng([*seed, 10_000])
    images, exif, labels = [], [], []
    for i in exif_idx:
        images.append(exif_pool.crops[i][:, ::-1] if flip_rng.random() < 0.5 else exif_pool.crops[i])
        exif.append(exif_pool.exif[i])
        labels.append(-1.0)
    for k, i in enumerate(face_idx):
        rng = np.random.default_rng([*seed, k])
        original = face_pool.crops[i]
        pair = (original, _manipulated(original, _landmarks(face_pool, i), rng))
        flip = flip_rng.random() < 0.5
        for label, image in enumerate(pair):
            images.append(image[:, ::-1] if flip else image)
            exif.append(np.full(4, np.nan, np.float32))
            labels.append(float(label))
    return np.stack(images), np.stack(exif).astype(np.float32), np.array(labels, np.float32)


class Trainer:
    """Train a FaceNet on the pretext tasks, with periodic checkpoints in `work_dir` and exact resume."""

    def __init__(self, settings: TrainSettings, work_dir: Path, *, log: Callable[[str], None] = lambda s: None):
        self.s = settings
        self.work_dir = Path(work_dir)
        self.log = log
        torch.manual_seed(settings.seed)
        self.network = FaceNet(settings.widths, settings.blocks, settings.embed_dim)
        self.extractor = FeatureExtractor(self.network, input_size=settings.input_size, device=settings.device)
        self.device = resolve_device(settings.device)
        self.network.to(self.device, memory_format=torch.channels_last)
        self.optimizer = torch.optim.AdamW(self.network.parameters(), lr=settings.lr, weight_decay=settings.weight_decay)
        self.epoch, self.step_in_epoch, self.global_step = 0, 0, 0
        self.history: list[dict] = []

    def load_init(self, state: dict) -> None:
        """Start from another bundle's extractor weights (fine-tuning)."""
        try:
            self.network.load_state_dict(state)
        except RuntimeError as exc:
            raise WeightsError(f"--init weights do not fit this architecture ({str(exc).splitlines()[0]})") from None

    # -- checkpoints -------------------------------------------------------------------------
    def save_checkpoint(self) -> None:
        """Write the full training state atomically (tensors and plain values only)."""
        self.work_dir.mkdir(parents=True, exist_ok=True)
        state = {
            "settings": {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self.s).items()},
            "model": self.network.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "epoch": self.epoch,
            "step_in_epoch": self.step_in_epoch,
            "global_step": self.global_step,
            "history": self.history,
        }
        tmp = self.work_dir / (CHECKPOINT + ".tmp")
        torch.save(state, tmp)
        os.replace(tmp, self.work_dir / CHECKPOINT)

    def resume(self) -> bool:
        """Restore the checkpoint in work_dir if there is one (weights_only=True); True when resumed."""
        path = self.work_dir / CHECKPOINT
        if not path.is_file():
            return False
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as exc:
            raise WeightsError(f"{path}: unreadable checkpoint ({exc}); delete it to start over") from None
        saved = {k: tuple(v) if isinstance(v, list) else v for k, v in state["settings"].items()}
        mine = asdict(self.s)
        different = [k for k in mine if k in saved and k not in ("checkpoint_minutes", "device", "epochs") and saved[k] != mine[k]]
        if different:
            raise WeightsError(f"{path}: checkpoint was made with other settings ({', '.join(different)}); "
                               "use the same options or delete the work folder")
        self.network.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.epoch, self.step_in_epoch = state["epoch"], state["step_in_epoch"]
        self.global_step, self.history = state["global_step"], state["history"]
        return True

    # -- training ----------------------------------------------------------------------------
    def _plan(self, exif_pool: Pool, face_pool: Pool) -> tuple[int, int, int]:
        half = self.s.batch_size // 2
        n_exif, n_face = len(exif_pool), len(face_pool)
        if n_exif == 0 and n_face == 0:
            raise TrainingDataError("nothing to train on: no photo with EXIF and no face was found")
        exif_per = half if n_face else self.s.batch_size
        # Each face fills two slots (original and manipulated), so a batch draws half as many faces.
        face_per = max(1, ((self.s.batch_size - exif_per) if n_exif else self.s.batch_size) // 2)
        if n_exif == 0:
            exif_per = 0
        steps = max(1, math.ceil(n_face / face_per) if n_face else math.ceil(n_exif / exif_per))
        return steps, exif_per, face_per

    def _indices(self, n: int, per: int, steps: int, epoch: int, salt: int) -> np.ndarray:
        """The epoch's sample order: permutations of range(n), repeated to fill `steps * per` slots."""
        if n == 0 or per == 0:
            return np.zeros((steps, 0), int)
        rng = np.random.default_rng([self.s.seed, epoch, salt])
        reps = math.ceil(steps * per / n)
        order = np.concatenate([rng.permutation(n) for _ in range(reps)])
        return order[: steps * per].reshape(steps, per)

    def fit(self, exif_pool: Pool, face_pool: Pool, val_exif: Pool, val_face: Pool, progress=None) -> list[dict]:
        """Run the remaining epochs; returns the per-epoch history (losses, validation accuracies)."""
        steps, exif_per, face_per = self._plan(exif_pool, face_pool)
        total = steps * self.s.epochs
        last_save = time.monotonic()
        with ThreadPoolExecutor(max_workers=1) as prefetch:
            while self.epoch < self.s.epochs:
                e_idx = self._indices(len(exif_pool), exif_per, steps, self.epoch, 1)
                f_idx = self._indices(len(face_pool), face_per, steps, self.epoch, 2)
                def make(k: int, e_idx=e_idx, f_idx=f_idx, epoch=self.epoch):
                    return _batch(exif_pool, face_pool, e_idx[k], f_idx[k], (self.s.seed, epoch, k))

                running = {"loss": 0.0, "rank": 0.0, "manip": 0.0, "n": 0}
                bar = progress(total=steps, initial=self.step_in_epoch, desc=f"epoch {self.epoch + 1}/{self.s.epochs}") if progress else None
                pending = prefetch.submit(make, self.step_in_epoch) if self.step_in_epoch < steps else None
                self.network.train()
                while self.step_in_epoch < steps:
                    images, exif, labels = pending.result()
                    k = self.step_in_epoch
                    pending = prefetch.submit(make, k + 1) if k + 1 < steps else None
                    losses = self._step(images, exif, labels, _lr_at(self.global_step, total, self.s))
                    self.step_in_epoch += 1
                    self.global_step += 1
                    for name, value in losses.items():
                        running[name] += value
                    running["n"] += 1
                    if bar:
                        n = running["n"]
                        bar.set_postfix(loss=f"{running['loss'] / n:.3f}", rank=f"{running['rank'] / n:.3f}", manip=f"{running['manip'] / n:.3f}")
                        bar.update(1)
                    if time.monotonic() - last_save > self.s.checkpoint_minutes * 60:
                        self.save_checkpoint()
                        last_save = time.monotonic()
                if bar:
                    bar.close()
                n = max(1, running["n"])
                record = {"epoch": self.epoch + 1, "steps": steps, **{k: running[k] / n for k in ("loss", "rank", "manip")}}
                record.update(self.validate(val_exif, val_face))
                self.history.append(record)
                self.log(_describe(record))
                self.epoch += 1
                self.step_in_epoch = 0
                self.save_checkpoint()
                last_save = time.monotonic()
        return self.history

    def _step(self, images: np.ndarray, exif: np.ndarray, labels: np.ndarray, lr: float) -> dict:
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        x = self.extractor.to_tensor(images)
        _, scores, logits = self.network(x)
        exif_t = torch.from_numpy(exif).to(self.device)
        labels_t = torch.from_numpy(labels).to(self.device)
        per_tag, counts = ranking_loss_per_tag(scores, exif_t)
        has = counts > 0
        rank = per_tag[has].mean() if bool(has.any()) else scores.sum() * 0
        known = labels_t >= 0
        manip = manipulation_loss(logits[known], labels_t[known]) if bool(known.any()) else logits.sum() * 0
        loss = rank + self.s.manipulation_weight * manip
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        return {"loss": loss.item(), "rank": rank.item(), "manip": manip.item()}

    @torch.inference_mode()
    def validate(self, val_exif: Pool, val_face: Pool, limit: int = 600) -> dict:
        """Pairwise ranking accuracy per EXIF tag and manipulation accuracy on held-out samples."""
        self.network.eval()
        out: dict = {}
        if len(val_exif):
            scores = self._heads(val_exif.crops[:limit])[0]
            acc, counts = pairwise_accuracy(scores, val_exif.exif[:limit])
            for name, a, c in zip(TAG_NAMES, acc, counts):
                out[f"val_rank_acc_{name}"] = None if np.isnan(a) else float(a)
                out[f"val_pairs_{name}"] = int(c)
        if len(val_face):
            images, labels = [], []
            for i in range(min(limit, len(val_face))):
                image, label, _ = random_sample(val_face.crops[i], _landmarks(val_face, i), np.random.default_rng([self.s.seed, 7_777, i]))
                images.append(image)
                labels.append(label)
            logits = self._heads(np.stack(images))[1]
            out["val_manip_acc"] = float(np.mean((logits > 0).astype(int) == np.array(labels)))
            out["val_manip_n"] = len(labels)
        self.network.train()
        return out

    def _heads(self, crops: np.ndarray, batch: int = 128) -> tuple[np.ndarray, np.ndarray]:
        scores, logits = [], []
        for i in range(0, len(crops), batch):
            _, s, lg = self.network(self.extractor.to_tensor(crops[i : i + batch]))
            scores.append(s.float().cpu().numpy())
            logits.append(lg.float().cpu().numpy())
        return np.concatenate(scores), np.concatenate(logits)


def _describe(record: dict) -> str:
    accs = ", ".join(
        f"{name} {record[f'val_rank_acc_{name}']:.3f}"
        for name in TAG_NAMES
        if record.get(f"val_rank_acc_{name}") is not None
    )
    manip = f", manipulation acc {record['val_manip_acc']:.3f}" if "val_manip_acc" in record else ""
    return f"epoch {record['epoch']}: loss {record['loss']:.4f} (rank {record['rank']:.4f}, manip {record['manip']:.4f}); val ranking acc: {accs or 'n/a'}{manip}"
