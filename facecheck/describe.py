"""Readable summary of a bundle's manifest (what `facecheck info` prints): for analysts, or every setting."""

from __future__ import annotations

from pathlib import Path

from .model.bundle import is_shipped, witness_entries
from .model.verdict import DEFAULT_UNCERTAIN

LIMITS = (
    "a low p_real says the face is unlike the real photos the model was fitted on, not that it was generated: "
    "other cameras, filters, heavy editing or drawings can score low",
    "many AI faces score like real ones: `real` is not proof of a photograph (the model card gives the measured rates)",
    "only faces found by dlib's frontal detector are scored; a face without colour is at most `uncertain`",
    "the file's metadata is reported apart and never changes a verdict",
)


def describe_for_analysts(path: Path, manifest: dict) -> str:
    """What an analyst needs of a verified bundle: witnesses, what it was fitted on, verdicts, p_real, limits."""
    shipped = is_shipped(path)
    written = f"written by facecheck {manifest.get('facecheck_version')} on {str(manifest.get('created', '?'))[:10]}"
    entries = witness_entries(manifest, path)
    stats = (manifest.get("fusion") or {}).get("stats") or {}
    two_sided = {n for n, st in stats.items() if isinstance(st, dict) and st.get("tails") == "both"}
    width = max(len(e["name"]) for e in entries)
    lines = [f"model:       {'the shipped model' if shipped else path} ({written})",
             f"witnesses:   {len(entries)}, each scoring how typical a face is of real camera photos:"]
    for e in entries:
        extra = "; a face too typical of real photos counts as unusual too" if e["name"] in two_sided else ""
        lines.append(f"  {e['name']:<{width}}  {_summary_of(e['kind'])}{extra}")
    if len(entries) > 1:
        method = (manifest.get("fusion") or {}).get("method")
        lines.append("fused by:    " + ("Stouffer's rule: each witness's rarity among held-out real faces, combined"
                                      if method == "stouffer" else "the sum of the witnesses' standardised log-likelihoods"))
    lines.append(f"fitted on:   {_fitted_on(manifest.get('training') or {})}")
    fa = manifest.get("false_alarm")
    if isinstance(fa, (int, float)):
        band = max(DEFAULT_UNCERTAIN, fa)
        lines.append(f"verdicts:    ai-generated when p_real is at most {fa:.0%} (the default --false-alarm: about {_one_in(fa)} "
                     f"real faces is flagged), uncertain up to {band:.0%} (--uncertain) or without colour, else real")
    calibration = (manifest.get("training") or {}).get("calibration")
    if isinstance(calibration, dict) and calibration.get("held_out_faces"):
        n, needed = calibration["held_out_faces"], calibration.get("held_out_needed", 0)
        note = f"; too few for a {fa:.1%} rate, which needs {needed}" if isinstance(fa, float) and n < needed else ""
        lines.append(f"             threshold set on {n:,} held-out real faces, {calibration.get('false_alarm_measured', 0):.1%} "
                     f"of them under it{note}")
    real = manifest.get("real_scores")
    if isinstance(real, dict):
        lines.append(f"p_real:      the share of {real.get('n'):,} held-out real faces that score as low or lower: 0.3% reads "
                     f"\"only 0.3% of real faces look this unusual\"; it is not the chance that the face is real")
    else:
        lines.append("p_real:      not available (no held-out real scores in this bundle; refit with `facecheck train --gmm-only`)")
    lines.append("limits:      " + "\n             ".join(f"- {limit}" for limit in LIMITS))
    card = path / "MODEL_CARD.md"
    lines.append("more:        facecheck info --verbose (every setting), --json (the manifest)"
                 + (f"; model card: {card}" if card.is_file() else ""))
    return "\n".join(lines)


def _summary_of(kind: str) -> str:
    from .model.witnesses import KINDS, witness_class

    return (witness_class(kind).summary or kind) if kind in KINDS else f"{kind} (unknown to this facecheck)"


def _fitted_on(t: dict) -> str:
    photos, faces = t.get("photos") or {}, t.get("faces_folders") or {}
    n_photo_faces, n_folder_faces = photos.get("faces", 0) or 0, faces.get("faces", 0) or 0
    if not (n_photo_faces or n_folder_faces):
        return "not recorded"
    parts = [f"{n_photo_faces:,} from {photos.get('files', 0):,} camera photos"] if n_photo_faces else []
    parts += [f"{n_folder_faces:,} from face photo folders"] if n_folder_faces else []
    histories = t.get("histories")
    again = f", each also after {histories} random processing histories" if histories else ""
    return f"{n_photo_faces + n_folder_faces:,} real faces ({' and '.join(parts)}{again}); no AI-generated image"


def _one_in(rate: float) -> str:
    return f"1 in {round(1 / rate):,}" if rate > 0 else "none of the"


def describe_bundle(path: Path, manifest: dict) -> str:
    """Every setting of a verified bundle at `path` (info --verbose): writer, witnesses and mixtures,
    fusion, threshold, training, card."""
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
