"""Readable summary of a bundle's manifest (what `facecheck info` prints): witnesses, fusion, training."""

from __future__ import annotations

from pathlib import Path

from .weights import witness_entries


def describe_bundle(path: Path, manifest: dict) -> str:
    """Lines about a verified bundle at `path`: writer, witnesses and mixtures, fusion, threshold, training, card."""
    lines = [
        f"bundle:        {path}",
        f"written by:    facecheck {manifest.get('facecheck_version')} on {manifest.get('created')} ({manifest['format']})",
        *(f"witness:       {_witness_text(e)}" for e in witness_entries(manifest, path)),
        f"fusion:        {_fusion_text(manifest)}",
        f"threshold:     {manifest.get('threshold')} (false-alarm rate {manifest.get('false_alarm')} on held-out real faces)",
        f"p_real:        {_real_scores_text(manifest)}",
        *_training_lines(manifest.get("training", {})),
    ]
    card = path / "MODEL_CARD.md"
    if card.is_file():
        lines.append(f"model card:    {card}")
        summary = _card_summary(card.read_text(encoding="utf-8", errors="replace"))
        if summary:
            lines += ["", summary]
    return "\n".join(lines)


def _real_scores_text(manifest: dict) -> str:
    real = manifest.get("real_scores")
    if not isinstance(real, dict):
        return "not available (the bundle stores no held-out real scores; refit it with `facecheck train --gmm-only`)"
    return f"rank among {real.get('n')} held-out real faces' scores ({real.get('file')}); scan --false-alarm may choose any rate"


def _witness_text(entry: dict) -> str:
    """One witness of a manifest: name, kind, input, network and mixture."""
    config = entry["config"]
    spec = config.get("spec") if isinstance(config.get("spec"), dict) else {}
    if spec.get("type") == "patches":
        cut = f"{spec.get('grid')}x{spec.get('grid')} patches of {spec.get('size')} px at native resolution"
    else:
        cut = f"{spec.get('size')} px crop"
    ex = config.get("extractor") if isinstance(config.get("extractor"), dict) else config
    if ex.get("network") is not None:
        network = f"{ex.get('architecture', 'network')} {ex.get('network')}"
    else:  # a fixed description (the spectrum witness): nothing learned but its mixture
        network = "no network (" + ", ".join(f"{k} {v}" for k, v in config.items() if k not in ("kind", "spec")) + ")"
    return f"{entry['name']} ({entry['kind']}): {cut}, box x{spec.get('scale')}; {network}; gmm {entry.get('gmm')}"


def _fusion_text(manifest: dict) -> str:
    """How the witnesses' log-likelihoods make one score."""
    fusion = manifest.get("fusion")
    if not isinstance(fusion, dict):
        return "none: the score is the one witness's log-likelihood (facecheck-bundle/1)"
    stats = fusion.get("stats") if isinstance(fusion.get("stats"), dict) else {}
    stats = {name: s for name, s in stats.items() if isinstance(s, dict)}
    if fusion.get("method") == "stouffer":
        two_sided = [name for name, s in stats.items() if s.get("tails") == "both"]
        refs = {len(s["reference"]) for s in stats.values() if isinstance(s.get("reference"), list)}
        return (f"{fusion.get('rule')}; p-values among {', '.join(map(str, sorted(refs))) or '?'} held-out real faces; "
                f"two-sided (too typical is unusual too): {', '.join(two_sided) or 'none'}")
    return f"{fusion.get('rule')}; " + ", ".join(f"{name} mean {s.get('mean')} std {s.get('std')}" for name, s in stats.items())


def _training_lines(t: dict) -> list[str]:
    """A readable summary of a manifest's training record (whatever parts it has)."""
    if not isinstance(t, dict) or not t:
        return ["training:      (not recorded)"]
    photos, faces = t.get("photos") or {}, t.get("faces_folders") or {}
    lines = [f"training:      {photos.get('files', '?')} photos ({photos.get('with_exif', '?')} with EXIF; "
             f"{photos.get('faces', '?')} faces, {photos.get('scene_crops', '?')} scene crops)"
             + (f" + {faces.get('files')} face photos ({faces.get('faces')} faces)" if faces else "")]
    exif, manip = t.get("exif_task") or {}, t.get("manipulation_task") or {}
    if exif or manip:
        lines.append(f"               EXIF ranking {exif.get('train', 0)} train / {exif.get('val', 0)} val crops; "
                     f"manipulation {manip.get('train', 0)} train / {manip.get('val', 0)} val faces")
    settings = t.get("settings") or {}
    if settings:
        lines.append(f"               {settings.get('epochs')} epochs, tasks {'+'.join(settings.get('tasks', []))}, "
                     f"seed {settings.get('seed')}" + (f", from {t['init']}" if t.get("init") else ""))
    elif t.get("extractor"):
        lines.append(f"               extractor {t['extractor']}")
    return lines


def _card_summary(card: str) -> str:
    """The text under the model card's `## Summary` heading."""
    out, inside = [], False
    for line in card.splitlines():
        if line.startswith("## "):
            if inside:
                break
            inside = line[3:].strip().lower() == "summary"
            continue
        if inside:
            out.append(line)
    return "\n".join(out).strip()
