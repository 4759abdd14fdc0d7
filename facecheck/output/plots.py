"""ROC curves and log-likelihood histograms for `facecheck evaluate` (needs the `report` extra: matplotlib)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import ConfigError


def _pyplot():
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise ConfigError("plots need matplotlib: pip install 'facecheck[report]' (or pass --no-plots)") from None
    return plt


def _by_condition(rows: list[dict]) -> dict[str, dict[str, np.ndarray]]:
    out: dict[str, dict[str, list]] = {}
    for r in rows:
        if r["status"] == "face":
            out.setdefault(r["condition"], {}).setdefault(r["group"], []).append(r["loglik"])
    return {c: {g: np.asarray(v) for g, v in groups.items()} for c, groups in out.items()}


def plot_roc(rows: list[dict], out_dir: Path) -> list[Path]:
    """One PNG per condition: ROC curve of every generator against the real faces."""
    from sklearn.metrics import roc_auc_score, roc_curve

    plt = _pyplot()
    files = []
    for cond, groups in _by_condition(rows).items():
        fig, ax = plt.subplots(figsize=(5, 5))
        real = groups.get("real", np.array([]))
        for gen, fake in groups.items():
            if gen == "real" or not len(real) or not len(fake):
                continue
            y, s = np.r_[np.zeros(len(real)), np.ones(len(fake))], -np.r_[real, fake]
            fpr, tpr, _ = roc_curve(y, s)
            ax.plot(fpr, tpr, label=f"{gen} (AUC {roc_auc_score(y, s):.3f})")
        ax.plot([0, 1], [0, 1], "k:", lw=0.8)
        ax.set(xlabel="false-alarm rate (real faces flagged)", ylabel="true-positive rate (AI faces flagged)", title=f"ROC, {cond}")
        ax.legend(loc="lower right")
        path = out_dir / f"roc_{cond.replace('+', '_')}.png"
        fig.savefig(path, dpi=110, bbox_inches="tight")
        plt.close(fig)
        files.append(path)
    return files


def plot_histograms(rows: list[dict], threshold: float, out_dir: Path) -> list[Path]:
    """One PNG per condition: log-likelihood histograms of real faces and each generator, threshold drawn."""
    plt = _pyplot()
    files = []
    for cond, groups in _by_condition(rows).items():
        fig, ax = plt.subplots(figsize=(7, 4))
        values = np.concatenate(list(groups.values()))
        lo, hi = np.percentile(values, [0.5, 99.5])
        bins = np.linspace(min(lo, threshold), max(hi, threshold), 60)
        for gen, v in groups.items():
            ax.hist(np.clip(v, bins[0], bins[-1]), bins=bins, alpha=0.5, density=True, label=f"{gen} (n={len(v)})")
        ax.axvline(threshold, color="k", ls="--", lw=1, label=f"threshold {threshold:.1f}")
        ax.set(xlabel="log-likelihood under the model of real faces", ylabel="density", title=f"Log-likelihoods, {cond}")
        ax.legend()
        path = out_dir / f"hist_{cond.replace('+', '_')}.png"
        fig.savefig(path, dpi=110, bbox_inches="tight")
        plt.close(fig)
        files.append(path)
    return files
