"""Command-line interface: parse options, call the API, print data to stdout and chatter to stderr."""

from __future__ import annotations

import json
import os
import sys
from contextlib import nullcontext
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console

from . import __version__
from . import terminal as term
from .config import Config
from .errors import ConfigError, FacecheckError, WeightsError
from .model.verdict import DEFAULT_UNCERTAIN, VerdictRule
from .terminal import Bar, Command, Group, err, progress

app = typer.Typer(
    cls=Group,
    help="Tell whether faces in photos were made by a camera or by an AI generator.\n\n"
         "Start with `facecheck scan PHOTO`; `facecheck COMMAND --help` says more.\n\n"
         "Exit codes: 0 success; 1 scan: at least one file could not be read; 2 usage error (bad option, missing "
         "path, no usable model); 3 scan: the output could not be written; 130 interrupted (Ctrl-C or SIGTERM).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
    rich_markup_mode=None,
)
def _fail(message: str, code: int = term.EXIT_USAGE) -> typer.Exit:
    err.print(f"error: {message}", markup=False)
    return typer.Exit(code)


def _version(value: bool) -> None:
    if value:
        print(f"facecheck {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print the version and exit."),
) -> None:
    """facecheck: AI-generated faces as anomalies under a model of camera photographs."""
    import logging
    import warnings

    from .scan.io import use_large_pillow_blocks

    # exifread logs every malformed tag; facecheck reports per-file problems itself.
    logging.getLogger("exifread").setLevel(logging.CRITICAL)
    # A scan that stops early (an output error) abandons joblib's generator, which says so in a warning.
    for said in (r".*tasks have been successfully executed\s+but not used",
                 r".*tasks which were still being processed by the workers have been cancelled"):
        warnings.filterwarnings("ignore", message=said, category=UserWarning)
    use_large_pillow_blocks()  # freed image memory goes back to the OS (RSS stays bounded)


def _split_ext(ext: Optional[list[str]]) -> Optional[list[str]]:
    if not ext:
        return None
    return [e.strip() for item in ext for e in item.split(",") if e.strip()]


@app.command(cls=Command, epilog=term.EXIT_CODES_HELP, short_help="Scan images: a verdict and p_real for every face.")
def scan(
    paths: list[str] = typer.Argument(..., metavar="PATH", help="Image files, folders, or quoted globs ('photos/*.jpg').", show_default=False),
    recursive: bool = typer.Option(False, "-r", "--recursive", help="Descend into sub-folders."),
    ext: Optional[list[str]] = typer.Option(None, "--ext", metavar="EXT", help="Only these extensions in folders (repeat or comma-separate: --ext jpg,png)."),
    csv_out: Optional[str] = typer.Option(None, "--csv", metavar="[FILE]", help="Write CSV rows to FILE, or to stdout when no FILE follows."),
    json_out: Optional[str] = typer.Option(None, "--json", metavar="[FILE]", help="Write a JSON array of rows to FILE, or to stdout."),
    jsonl_out: Optional[str] = typer.Option(None, "--jsonl", metavar="FILE", help="Stream JSON Lines to FILE ('-': stdout): a header line, then one row per line, written file by file, so a crash keeps every completed row. FILE must not exist, unless --resume."),
    resume: bool = typer.Option(False, "--resume", help="Continue the --jsonl FILE of an interrupted scan: keep the files whose rows are all there and unchanged (size, mtime), scan the others. Same bundle, detection options and facecheck version only."),
    dask: Optional[str] = typer.Option(None, "--dask", metavar="ADDRESS", help="Scan on a Dask cluster: tcp://HOST:8786 (a running `dask scheduler`) or local:N (N worker processes on this machine). Needs facecheck[dask]."),
    model: Optional[Path] = typer.Option(None, "--model", help="Model bundle folder (default: $FACECHECK_MODEL, else the shipped model)."),
    min_face: int = typer.Option(Config.min_face, "--min-face", min=1, help="Ignore faces smaller than this many pixels."),
    upsample: Optional[int] = typer.Option(None, "--upsample", min=0, max=3, help="Detector upsampling passes (default: 1 for small images, else 0)."),
    max_side: int = typer.Option(Config.detect_max_side, "--detect-size", min=64, help="Longest side of the copy the face detector sees."),
    jobs: int = typer.Option(Config.n_jobs, "-j", "--jobs", min=1, help="Parallel workers for decoding and detection."),
    false_alarm: Optional[float] = typer.Option(None, "--false-alarm", min=0.0001, max=0.5, help="Share of real faces that may be called ai-generated (default: the bundle's, 0.01 for the shipped one)."),
    uncertain: Optional[float] = typer.Option(None, "--uncertain", min=0.0001, max=0.9, help=f"p_real up to which a face above the threshold is called uncertain (default: {DEFAULT_UNCERTAIN}, or --false-alarm when higher; equal to --false-alarm: no band)."),
    stability: bool = typer.Option(False, "--stability", help="Re-score every face after JPEG q75 and a 0.5x resize: p_real_spread, and uncertain when the verdicts differ (about 1.5x the scan time)."),
    verify: bool = typer.Option(True, "--verify/--no-verify", help="Confirm low-confidence detections with dlib's CNN face detector, so patches and prints are not scored."),
    c2pa_trust: Optional[Path] = typer.Option(None, "--c2pa-trust", metavar="PEM", help="Check C2PA signers against the trust-anchor certificates in this PEM file (none ship with facecheck: without it a valid signature reads 'signer not checked against a trust list')."),
    report_dir: Optional[Path] = typer.Option(None, "--report", metavar="DIR", help="Also write a self-contained HTML report (index.html, thumbnails, face crops) into DIR."),
    device: str = typer.Option("cpu", "--device", help="cpu (the CNN in numpy) or cuda (in torch, on the GPU; needs facecheck[train])."),
    quiet: bool = typer.Option(False, "-q", "--quiet", help="No progress bar."),
    debug: bool = typer.Option(False, "--debug", help="Show tracebacks."),
) -> None:
    """Scan images and report, for every face, its score under the model of photographs and a verdict.

    loglik is the fused score of the bundle's witnesses (each witness's rarity among held-out real faces,
    combined by the bundle's fusion rule; higher = more photo-like); --json adds each witness's own
    log-likelihood as witnesses.
    p_real is the share of the bundle's held-out real faces that score as low or lower: 0.003 reads
    "only 0.3% of real faces look this unusual" (empty for bundles without stored real scores).
    Verdict: ai-generated (p_real at most --false-alarm; loglik under threshold), uncertain (p_real at
    most --uncertain, a face without colour, or verdicts that differ under --stability), real, no_face,
    or error.
    Columns: source_file, face_index, top, right, bottom, left, loglik, threshold, margin, p_real,
    verdict, detector_confidence, error, metadata, p_real_spread.
    --jsonl rows have the JSON keys plus file_size, file_mtime_ns and file_rows (what --resume checks).
    metadata is what the file's own tags say, apart from the verdict: declared-ai, generator-metadata,
    camera, edited or stripped (--json adds the evidence as metadata_evidence). A C2PA manifest is
    validated offline by the C2PA SDK (valid, invalid and why; remote manifests are never fetched);
    --c2pa-trust checks its signer against your anchors. Tags are easily stripped or forged, and their
    absence proves nothing: they never change a verdict.
    """
    from . import cluster  # Dask itself is imported only for --dask
    from .api import scan_files
    from .model.bundle import bundle_specs, load_model
    from .output import report, stream
    from .output.html_report import HtmlReport
    from .scan.io import empty_folders, find_images
    from .scan.workers import prepare_files

    early = None
    try:
        stream.check_targets(csv_out, json_out, jsonl_out, resume=resume)
        connect = None if dask is None else cluster.connector(dask)  # ConfigError: bad address, no Dask
        exts = _split_ext(ext)
        files = find_images(paths, recursive=recursive, extensions=exts)
        for folder, below in empty_folders(paths, recursive=recursive, extensions=exts):
            hint = f"its sub-folders hold {below} image(s); -r scans them" if below else "no image found"
            err.print(f"warning: {report.printable(str(folder))}: {hint}", markup=False)
        csv_out = report.check_output(csv_out, files, "--csv")
        json_out = report.check_output(json_out, files, "--json")
        jsonl_out = report.check_output(jsonl_out, files, "--jsonl")
        if resume and report_dir is not None:
            raise ConfigError("--report cannot be combined with --resume: the page would show only the files scanned now")
        config = Config().with_(min_face=min_face, upsample=upsample, detect_max_side=max_side, n_jobs=jobs, device=device,
                                false_alarm=false_alarm, uncertain=uncertain, stability=stability, verify=verify)
        if c2pa_trust is not None:
            from .scan.provenance import load_trust

            config = config.with_(c2pa_trust=load_trust(c2pa_trust))  # ConfigError: unreadable, not PEM certificates
        # The workers start on the files while this process imports torch and loads the bundle (a resumed
        # scan's files are known only once its rows are read; Dask workers are elsewhere).
        early_specs = None if resume or connect is not None else bundle_specs(model)
        early = None if early_specs is None else prepare_files(files, early_specs, config)
        loaded = load_model(model, device=config.device)
        if early is not None and loaded.specs != early_specs:
            early.close()
            early = None
        rule = VerdictRule.for_model(loaded, config)
        page = None if report_dir is None else HtmlReport(report_dir, loaded, rule, inputs=files,
                                                          outputs=(csv_out, json_out, jsonl_out))
        plan = None if jsonl_out is None else stream.plan_jsonl(
            jsonl_out, resume=resume, first_line=stream.header(loaded, config), files=files)
    except FacecheckError as exc:
        if early is not None:
            early.close()
        if debug:
            raise
        raise _fail(str(exc)) from None

    if hasattr(sys.stdout, "reconfigure"):
        # A file name that is not valid UTF-8 is printed back as its own bytes, never a crash.
        sys.stdout.reconfigure(errors="surrogateescape")
    table_mode = csv_out is None and json_out is None and jsonl_out is None and sys.stdout.isatty()
    if csv_out is None and json_out is None and jsonl_out is None and not table_mode:
        csv_out = "-"  # piped: CSV
    todo = files if plan is None else plan.todo
    if early is not None and list(todo) != list(files):
        early.close()
        early = None
    results, n_failed = [], 0 if plan is None else plan.kept_failed
    if plan is not None and plan.kept and not quiet:
        err.print(f"resuming {jsonl_out}: {plan.kept} file(s) already done, {len(todo)} to scan", markup=False)
    kept = stream.what_is_kept(jsonl_out)
    try:
        with (nullcontext() if connect is None else connect()) as client, \
                report.open_writers(csv_out, json_out, sys.stdout, page) as writers, \
                stream.open_jsonl(plan, sys.stdout) as jsonl_writer:
            scanned = scan_files(todo, loaded, config=config, prepared=early) if client is None else \
                cluster.scan_files(todo, client, model, loaded, config)
            writers = writers + [jsonl_writer] if jsonl_writer else writers
            for result in progress(scanned, len(todo), quiet):
                if result.error:
                    n_failed += 1
                    # Escaped: a crafted file name must not drive the terminal (escape sequences, fake lines).
                    err.print(f"error: {report.printable(result.error)}", markup=False)
                for w in writers:
                    w.write(result)
                if table_mode:
                    results.append(result)
    except KeyboardInterrupt:
        err.print(f"interrupted: {kept}", markup=False)
        raise typer.Exit(term.EXIT_INTERRUPTED) from None
    except FacecheckError as exc:  # e.g. a cluster worker that cannot load the bundle
        if debug:
            raise
        raise _fail(f"{exc}; {kept}") from None
    except OSError as exc:  # the machine's fault, not a file's: a full disk, a read-only or vanished folder, a closed pipe
        if _INTERRUPTED:
            err.print(f"interrupted: {kept}", markup=False)
            raise typer.Exit(term.EXIT_INTERRUPTED) from None
        if debug:
            raise
        raise _fail(f"cannot write {_output_named(exc, csv_out, json_out, jsonl_out, report_dir)}: "
                    f"{exc.strerror or exc}; {kept}", term.EXIT_OUTPUT) from None
    except Exception as exc:  # a bug, not a bad file: one line, no output file, details with --debug
        if _INTERRUPTED:
            err.print(f"interrupted: {kept}", markup=False)
            raise typer.Exit(term.EXIT_INTERRUPTED) from None
        if debug:
            raise
        raise _fail(f"internal error ({type(exc).__name__}: {exc}); {kept}; rerun with --debug",
                    term.EXIT_FILE_FAILED) from None
    if table_mode:
        report.render_table(results, Console(highlight=False, emoji=False))
    if not quiet:
        err.print(f"{len(files)} file(s) scanned, {n_failed} failed", markup=False)
    if page is not None:
        err.print(f"report written to {report.printable(str(Path(report_dir) / 'index.html'))}", markup=False)
    raise typer.Exit(term.EXIT_FILE_FAILED if n_failed else term.EXIT_OK)


def _output_named(exc: OSError, *targets) -> str:
    """The output an OSError hit: its own file name, else the outputs asked for ("-" is stdout)."""
    from .output import report

    if isinstance(exc, BrokenPipeError):
        return "to stdout (closed)"
    if exc.filename:
        return report.printable(os.fsdecode(exc.filename))
    named = [("stdout" if t == "-" else report.printable(str(t))) for t in targets if t is not None]
    return " or ".join(dict.fromkeys(named)) or "the output"


@app.command(cls=Command, epilog=term.INFO_EXIT_HELP, short_help="Describe the model and what its verdicts mean.")
def info(
    model: Optional[Path] = typer.Option(None, "--model", help="Model bundle folder (default: the shipped model)."),
    as_json: bool = typer.Option(False, "--json", help="Print the whole manifest as JSON."),
    verbose: bool = typer.Option(False, "-v", "--verbose", help="Every setting: mixtures, fusion statistics, training record, the model card's summary."),
) -> None:
    """Describe the model: its witnesses, what it was fitted on, what the verdicts and p_real mean, its limits."""
    from .describe import describe_bundle, describe_for_analysts
    from .model.bundle import locate, read_manifest

    try:
        path = locate(model)
        manifest = read_manifest(path)
    except WeightsError as exc:
        raise _fail(str(exc)) from None
    if as_json:
        print(json.dumps(manifest, indent=2))
        return
    print(describe_bundle(path, manifest) if verbose else describe_for_analysts(path, manifest))


@app.command(cls=Command, epilog=term.TRAIN_EXIT_HELP, short_help="Fit a model bundle on your own camera photos.")
def train(
    photos: list[Path] = typer.Argument(..., metavar="PHOTOS", help="Folders of camera photographs (with EXIF where possible), searched recursively.", show_default=False),
    out: Path = typer.Option(..., "--out", "-o", help="Folder to write the model bundle to (must not exist unless --force)."),
    faces: Optional[list[Path]] = typer.Option(None, "--faces", metavar="DIR", help="Folders of real face photos without EXIF (manipulation task and GMM); repeatable."),
    init: Optional[Path] = typer.Option(None, "--init", help="Start from this bundle's appearance witness (fine-tuning)."),
    gmm_only: bool = typer.Option(False, "--gmm-only", help="Keep the witnesses of --init (else the shipped model); only refit their mixtures, the fusion and the threshold."),
    epochs: int = typer.Option(6, "--epochs", min=0, help="Training epochs (one epoch = one pass over the training faces; 0 = untrained extractor, a baseline)."),
    batch_size: int = typer.Option(64, "--batch-size", min=4, help="Images per step: half EXIF crops, half faces (each face original and manipulated)."),
    input_size: int = typer.Option(128, "--input-size", min=32, help="Crop side in pixels (ignored with --init/--gmm-only)."),
    lr: float = typer.Option(1e-3, "--lr", min=0.0, help="Peak learning rate (AdamW, warm-up then cosine)."),
    false_alarm: float = typer.Option(0.01, "--false-alarm", help="Share of held-out real faces the threshold may flag: the default of scan --false-alarm for this bundle (0.01: chosen on dev, see BENCHMARKS.md)."),
    seed: int = typer.Option(0, "--seed", help="Random seed (data order, manipulations, initialisation)."),
    device: str = typer.Option("cpu", "--device", help="cpu or cuda."),
    resume: bool = typer.Option(False, "--resume", help="Continue from the checkpoint in the work folder."),
    force: bool = typer.Option(False, "--force", help="Replace an existing --out bundle."),
    work: Optional[Path] = typer.Option(None, "--work", help="Checkpoint folder (default: OUT.work beside --out)."),
    tasks: str = typer.Option("exif,manipulation", "--tasks", help="Pretext tasks to train (ablations): exif, manipulation, or both."),
    checkpoint_minutes: float = typer.Option(5.0, "--checkpoint-minutes", min=0.0, help="Minutes between checkpoints (0: after every step)."),
    witnesses: str = typer.Option("appearance,spectrum,cooc,npr,surprise", "--witnesses", help="Witnesses to train and fuse: appearance (face crops, pretext tasks), spectrum (native-resolution residual spectrum), cooc (native-resolution co-occurrences of residuals), selfdesc (per-face prediction filters; did not help on dev), npr (up-sampling's 4 x 4 block traces; read it two-sided), surprise (coding cost against a coder fitted on the real faces, per local activity), minmax (rich-model min/max residuals; a candidate), coder (the same coding gap under a small causal CNN trained on the real faces; a candidate), trace (real vs re-rendered patches; did not help on dev). Only appearance, coder and trace are trained, and surprise's coder fitted; the others are fixed descriptions with a mixture."),
    fusion: str = typer.Option("stouffer", "--fusion", help="How witnesses are fused: stouffer (normal quantiles of each witness's p-value among held-out real faces, summed) or sum (standardised log-likelihoods summed, facecheck 0.4.0)."),
    two_sided: str = typer.Option("cooc,npr", "--two-sided", help="Witnesses for which a face too typical of real faces is unusual too (comma-separated; '' for none). Names the bundle does not have are ignored."),
    trace_steps: int = typer.Option(2500, "--trace-steps", min=1, help="Training steps of the trace witness (32 real/re-rendered pairs each)."),
    witness_option: list[str] = typer.Option([], "--witness-option", metavar="NAME=VALUE", help="An option of a chosen witness's training (its class's train_options), repeatable; overrides --trace-steps."),
    histories: int = typer.Option(2, "--histories", min=0, help="Random processing histories (resize, blur, JPEG) per real face for the mixtures, besides the face as it is."),
    jobs: int = typer.Option(2, "-j", "--jobs", min=1, help="Parallel workers for the pre-scan."),
    quiet: bool = typer.Option(False, "-q", "--quiet", help="No progress bars."),
    debug: bool = typer.Option(False, "--debug", help="Show tracebacks."),
) -> None:
    """Learn a model bundle from your own camera photos: self-supervised extractor, then GMM and threshold.

    Never give it AI-generated images: everything it sees is taken as photographic.
    """
    if not gmm_only:
        try:
            import torch  # noqa: F401  (the appearance and trace witnesses train in torch)
        except ImportError:
            raise _fail("training needs torch, which is not installed: pip install 'facecheck[train]' "
                        "(README: how to take the CPU-only build); --gmm-only needs none") from None
    from .train.pipeline import train as run_training
    from .train.settings import TrainSettings

    settings = TrainSettings(epochs=epochs, batch_size=batch_size, input_size=input_size, lr=lr, seed=seed,
                             device=device, checkpoint_minutes=checkpoint_minutes,
                             tasks=tuple(t.strip() for t in tasks.split(",") if t.strip()))
    from .model.witnesses import chosen_kinds, training_options, witness_class

    # Each witness says how it trains (Witness.training_builder, its train_options), in the order given.
    options = {"trace_steps": trace_steps, "seed": seed, "device": device, "checkpoint_minutes": checkpoint_minutes}
    try:
        chosen = chosen_kinds(witnesses)
        options.update(training_options(chosen, witness_option))
    except ValueError as exc:
        raise _fail(str(exc)) from None
    builders = [witness_class(name).training_builder(**options) for name in chosen]
    if fusion not in ("stouffer", "sum"):
        raise _fail(f"--fusion {fusion}: choose stouffer or sum")
    progress = None if quiet or not err.is_terminal else Bar

    def log(message: str) -> None:
        if not quiet:
            err.print(message, markup=False)

    try:
        bundle = run_training(photos, out, faces=faces or [], settings=settings, init=init, gmm_only=gmm_only,
                              false_alarm=false_alarm, resume=resume, force=force, work_dir=work,
                              n_jobs=jobs, log=log, progress=progress, witness_builders=builders,
                              histories=histories, fusion=fusion,
                              two_sided=[w.strip() for w in two_sided.split(",") if w.strip()])
    except KeyboardInterrupt:
        err.print("interrupted: the last checkpoint is kept; rerun with --resume to continue", markup=False)
        raise typer.Exit(term.EXIT_INTERRUPTED) from None
    except FacecheckError as exc:
        if debug:
            raise
        raise _fail(str(exc)) from None
    err.print(f"model bundle written to {bundle}", markup=False)


@app.command(cls=Command, epilog=term.EVALUATE_EXIT_HELP, short_help="Measure AUC and false alarms on folders of real and AI faces.")
def evaluate(
    real: list[Path] = typer.Option(..., "--real", metavar="DIR", help="Folder of real face photos (repeatable)."),
    fake: list[str] = typer.Option(..., "--fake", metavar="NAME=DIR", help="NAME=DIR: folder of one generator's images (repeatable)."),
    model: Optional[Path] = typer.Option(None, "--model", help="Model bundle folder (default: the shipped model)."),
    out: Optional[Path] = typer.Option(None, "--out", help="Report folder: metrics.json, metrics.csv, scores.csv, PNG plots."),
    matched: str = typer.Option("no", "--matched", help="no: images as distributed; yes: every image resized (short side 256) and JPEG q90 re-encoded first; both."),
    perturb: Optional[str] = typer.Option(None, "--perturb", help="Also score after benign perturbations, e.g. jpeg75,resize0.5,blur1."),
    plots: bool = typer.Option(True, "--plots/--no-plots", help="Draw ROC curves and histograms (needs matplotlib: facecheck[report])."),
    jobs: int = typer.Option(2, "-j", "--jobs", min=1, help="Parallel workers for decoding and detection."),
    device: str = typer.Option("cpu", "--device", help="cpu (the CNN in numpy) or cuda (in torch, on the GPU; needs facecheck[train])."),
    quiet: bool = typer.Option(False, "-q", "--quiet", help="No progress output."),
    debug: bool = typer.Option(False, "--debug", help="Show tracebacks."),
) -> None:
    """Score the largest face of every image and report, per generator and on average, AUC, average
    precision, accuracy and TPR at the threshold, and TPR at 1% and 5% false alarms.

    Convention: AI-generated is the positive class; the score is minus the fused score (loglik).
    scores.csv also has each witness's own log-likelihood (loglik_<name>).
    """
    from . import evaluate as ev
    from .model.bundle import load_model

    try:
        fakes = ev.labelled_folders(real, fake)
        conditions = ev.conditions_for(matched, perturb)
        if out is not None and plots:
            from .output.plots import _pyplot

            _pyplot()
        config = Config().with_(n_jobs=jobs, device=device)
        loaded = load_model(model, device=config.device)
        log = (lambda m: None) if quiet else (lambda m: err.print(m, markup=False))
        metrics, rows = ev.evaluate(real, fakes, loaded, conditions=conditions, config=config, log=log)
        files = ev.write_report(out, metrics, rows, threshold=loaded.threshold, plots=plots) if out else []
    except FacecheckError as exc:
        if debug:
            raise
        raise _fail(str(exc)) from None
    Console(highlight=False, width=max(120, Console().width)).print(ev.metrics_table(metrics))
    for line in ev.skipped_summary(metrics):
        err.print(line, markup=False)
    for f in files:
        err.print(f"wrote {f}", markup=False)


_INTERRUPTED: list[int] = []


def _interrupt(signum, frame) -> None:
    # Remembered: a signal landing inside a library's own clean-up (joblib starting its worker threads)
    # can surface as another exception, which must still end as an interruption (exit 130).
    _INTERRUPTED.append(signum)
    raise KeyboardInterrupt


def run() -> None:
    """Entry point of the `facecheck` script."""
    import signal

    # SIGTERM (kill, a job scheduler, a closed container) is handled like Ctrl-C: temporary output
    # files are removed and training keeps its last checkpoint.
    signal.signal(signal.SIGTERM, _interrupt)
    if signal.getsignal(signal.SIGINT) is signal.default_int_handler:  # left alone where SIGINT is ignored
        signal.signal(signal.SIGINT, _interrupt)
    app()
