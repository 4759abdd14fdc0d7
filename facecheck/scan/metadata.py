"""What the file itself says: camera EXIF, provenance declarations and generator traces.

Metadata is a second witness beside the pixels, and a weak one: any tag can be stripped, copied or
forged. The exception is a valid C2PA manifest, whose signature binds its claims to the pixels (read and
validated by the C2PA SDK, see provenance.py); its absence proves nothing. Metadata never changes a face's
log-likelihood or verdict. Reading is defensive: at most the first `HEAD_BYTES` of a file (`C2PA_MAX_BYTES`
when a manifest must be validated against the whole file), no network, XML through defusedxml without DTDs,
every parser failure noted in `problems`, never raised.
"""

from __future__ import annotations

import html
import io
import os
import re
import struct
from dataclasses import dataclass, field
from xml.etree.ElementTree import ParseError

import defusedxml.ElementTree as SafeET
import exifread
from defusedxml import DefusedXmlException

from ..errors import ImageReadError
from .containers import TEXT_MAX_BYTES, XMP_MAX_BYTES, XMP_OPEN, Found, collect
from .exif import exposure_from_tags
from .io import open_regular
from .provenance import not_validated, phrase, read_c2pa, remote_reference

HEAD_BYTES = 16 * 1024 * 1024  # never read more of a file than this for its tags
# A C2PA manifest is validated against the whole file (its hash covers every byte): a file of up to this size
# that has one in its head is read whole; a bigger one is reported as not validated.
C2PA_MAX_BYTES = 64 * 1024 * 1024
EXCERPT_CHARS = 300  # longest text kept in the evidence
MAX_VALUES = 16  # per XMP property

DECLARED_AI, GENERATOR_METADATA, CAMERA, EDITED, STRIPPED = (
    "declared-ai", "generator-metadata", "camera", "edited", "stripped")
SUMMARIES = (DECLARED_AI, GENERATOR_METADATA, CAMERA, EDITED, STRIPPED)  # precedence, strongest first

# IPTC NewsCodes digital source types (the last part of the URI), compared case-insensitively.
AI_SOURCE_TYPES = ("trainedAlgorithmicMedia", "compositeWithTrainedAlgorithmicMedia", "algorithmicMedia",
                   "compositeSynthetic")
EDIT_SOURCE_TYPES = ("humanEdits", "minorHumanEdits", "composite", "compositeCapture", "algorithmicallyEnhanced")

# Names matched (case-insensitively) in software-like fields: EXIF Software/Make/Model, XMP CreatorTool and
# history softwareAgent, the C2PA claim generator, PNG Software/Source/Generator text.
GENERATORS = {
    "Stable Diffusion": r"stable[ _-]?diffusion|\bsdxl\b|stability[ .]?ai|dreamstudio",
    "AUTOMATIC1111": r"automatic1111|\ba1111\b|sd[ _-]webui", "ComfyUI": r"comfy[ _-]?ui",
    "InvokeAI": r"invoke[ _-]?ai", "Fooocus": r"\bfooocus\b", "Midjourney": r"mid[ _-]?journey",
    "DALL-E": r"\bdall[ ·._-]?e\b|\bgpt[ _-]?image|\bchatgpt\b|\bopenai\b", "Adobe Firefly": r"\bfirefly\b",
    "NovelAI": r"novel[ _-]?ai", "Imagen": r"\bgoogle[ _-]?imagen\b|^imagen\b",
    "Flux": r"\bflux(\.1)?\b|black[ _-]?forest[ _-]?labs", "Leonardo.Ai": r"\bleonardo[ ._-]?ai\b",
    "Ideogram": r"\bideogram\b", "Bing Image Creator": r"bing image creator", "Playground": r"playground[ _-]?ai",
    "Kandinsky": r"\bkandinsky\b", "Draw Things": r"draw things", "DiffusionBee": r"diffusion[ _-]?bee",
}
EDITORS = {
    "Adobe Photoshop": r"photoshop", "Adobe Lightroom": r"lightroom", "Adobe Camera Raw": r"camera raw",
    "GIMP": r"\bgimp\b", "Snapseed": r"snapseed", "Affinity Photo": r"affinity", "Pixelmator": r"pixelmator",
    "Capture One": r"capture ?one", "darktable": r"darktable", "RawTherapee": r"rawtherapee",
    "Paint.NET": r"paint\.net", "Luminar": r"luminar", "Canva": r"\bcanva\b", "PicsArt": r"picsart",
    "Facetune": r"facetune", "Photopea": r"photopea", "DxO": r"\bdxo\b", "Krita": r"\bkrita\b",
    "Corel PaintShop": r"paintshop|corel", "ACDSee": r"acdsee",
}
_GENERATORS = tuple((name, re.compile(p, re.IGNORECASE)) for name, p in GENERATORS.items())
_EDITORS = tuple((name, re.compile(p, re.IGNORECASE)) for name, p in EDITORS.items())

# PNG text keys written by generators: AUTOMATIC1111 "parameters", ComfyUI "prompt"/"workflow", InvokeAI, ...
PARAMETER_KEYS = frozenset({"parameters", "prompt", "workflow", "negative_prompt", "sd-metadata",
                            "invokeai_metadata", "invokeai_graph", "dream", "generation_data"})
_TOOL_KEYS = frozenset({"software", "source", "generator"})
_PARAMS_TEXT = re.compile(r"Steps: \d+, Sampler: ")  # AUTOMATIC1111's settings line, in any text field

_XMP_CLOSE = re.compile(rb"</x:x[am]pmeta\s*>")
_RDF_OPEN = re.compile(rb"<rdf:RDF[\s>]")
_RDF_CLOSE = re.compile(rb"</rdf:RDF\s*>")
# dcterms:provenance names a C2PA manifest: a URL (remote) or self#jumbf= (embedded).
_XMP_FIELDS = ("DigitalSourceType", "CreatorTool", "softwareAgent", "provenance")
_RDF_RESOURCE = "{http://www.w3.org/1999/02/22-rdf-syntax-ns#}resource"
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


@dataclass(frozen=True)
class Metadata:
    """One file's metadata verdict: a word from `SUMMARIES` ("" if unreadable) and JSON-able evidence."""

    summary: str
    evidence: dict = field(default_factory=dict, hash=False)

    @property
    def text(self) -> str:
        """The summary with its basis, for people: "declared-ai (C2PA valid, signed by Adobe Inc.: ...)"."""
        basis = self.evidence.get("basis") if isinstance(self.evidence, dict) else None
        return f"{self.summary} ({basis})" if self.summary and basis else self.summary


def read_metadata(path: str | os.PathLike, *, trust: str | None = None) -> Metadata:
    """Read what `path` says about its origin; never raises (an unopenable file gives summary "").

    `trust`: PEM text of C2PA trust anchors (provenance.load_trust reads a file); None: a valid C2PA
    signature is reported as not checked against a trust list.
    """
    try:
        with open_regular(path) as handle:  # never a FIFO or device: reading those blocks or never ends
            head = handle.read(HEAD_BYTES)
            whole = _whole_file(handle, head)
    except ImageReadError as exc:
        return Metadata("", {"problems": [f"cannot open: {str(exc).rpartition(': ')[2]}"]})
    except (OSError, ValueError) as exc:
        return Metadata("", {"problems": [f"cannot open: {getattr(exc, 'strerror', None) or exc}"]})
    try:
        found = collect(head)
        if whole is None:
            found.c2pa = not_validated(f"the file is over the {C2PA_MAX_BYTES // 2**20} MiB read cap")
        elif whole:
            found.c2pa = read_c2pa(whole, trust=trust)
        if found.c2pa is not None:
            found.containers.add("c2pa")
        return _summarise(found)
    except Exception as exc:  # a parser bug must never cost the pixel scan its result
        return Metadata("", {"problems": [f"metadata not read ({type(exc).__name__}: {exc})"]})


def _whole_file(handle, head: bytes) -> bytes | None:
    """The bytes to validate a C2PA manifest against: `head` when it is the whole file; the whole file when
    the head names C2PA and the file is at most C2PA_MAX_BYTES; b"" when there is nothing to validate; None
    when a manifest may be there but the file is too big to validate."""
    if len(head) < HEAD_BYTES:
        return head
    if b"c2pa" not in head:  # the JUMBF manifest store's label; a file bigger than the head gets no SDK read
        return b""
    rest = handle.read(C2PA_MAX_BYTES - len(head) + 1)
    return None if len(head) + len(rest) > C2PA_MAX_BYTES else head + rest


def _exif_facts(block: bytes | None, found: Found) -> dict:
    """Camera fields from an EXIF block via exifread (which may raise anything: caught)."""
    facts = dict.fromkeys(("make", "model", "lens", "iso", "fnumber", "exposure_s", "focal_mm", "captured",
                           "software"))
    if not block:
        return facts
    try:
        tags = exifread.process_file(io.BytesIO(block), details=False, extract_thumbnail=False)
    except Exception as exc:
        found.problems.append(f"exif: {type(exc).__name__}: {exc}")
        return facts
    tags = tags if isinstance(tags, dict) else {}
    if tags:
        found.containers.add("exif")
    for key, names in (("make", ("Image Make",)), ("model", ("Image Model",)),
                       ("lens", ("EXIF LensModel", "EXIF LensMake")), ("software", ("Image Software",)),
                       ("captured", ("EXIF DateTimeOriginal", "EXIF DateTimeDigitized"))):
        facts[key] = next(filter(None, (_tag_text(tags.get(n)) for n in names)), None)
    exposure = exposure_from_tags(tags)
    facts.update(iso=exposure.iso, fnumber=exposure.fnumber, exposure_s=exposure.exposure_s,
                 focal_mm=exposure.focal_mm)
    description = _tag_text(tags.get("Image ImageDescription"))
    if description:
        found.texts.setdefault("exif:ImageDescription", description)
    comment = _user_comment(block)
    if comment:
        found.texts.setdefault("exif:UserComment", comment)
    return facts


def _user_comment(block: bytes) -> str | None:
    """EXIF UserComment, read from the IFDs directly.

    exifread skips it unless asked for details (which also parses maker notes, the riskiest part);
    AUTOMATIC1111 writes its generation settings there, as UTF-16 after a "UNICODE" charset prefix.
    """
    if block[:4] not in (b"II*\x00", b"MM\x00*"):
        return None
    order = "<" if block[:2] == b"II" else ">"

    def entries(offset: int):
        (count,) = struct.unpack_from(order + "H", block, offset)
        for i in range(min(count, 1000)):
            yield struct.unpack_from(order + "HHII", block, offset + 2 + 12 * i)  # tag, type, count, value

    try:
        exif_ifd = next((value for tag, _, _, value in entries(struct.unpack_from(order + "I", block, 4)[0])
                         if tag == 0x8769), None)
        raw = next((block[value: value + min(count, TEXT_MAX_BYTES)] for tag, _, count, value in entries(exif_ifd)
                    if tag == 0x9286 and count > 8), b"") if exif_ifd is not None else b""
    except struct.error:  # an offset past the end of the block
        return None
    charset, text = raw[:8], raw[8:]
    if charset.startswith(b"UNICODE"):  # UCS-2, big- or little-endian depending on the writer
        encoding = "utf-16-be" if text[:1] == b"\x00" else "utf-16-le"
        return text.decode(encoding, "replace").rstrip("\x00") or None
    return text.decode("utf-8" if not charset.startswith(b"ASCII") else "latin-1", "replace").rstrip("\x00") or None


def _tag_text(tag) -> str | None:
    if tag is None:
        return None
    values = getattr(tag, "values", None)
    text = values if isinstance(values, str) else getattr(tag, "printable", "")
    return _clean(str(text)) or None


def _xmp_fields(data: bytes, found: Found) -> dict[str, list[str]]:
    """IPTC DigitalSourceType, CreatorTool and history softwareAgent values of an XMP packet (defusedxml)."""
    packet, close = data[:XMP_MAX_BYTES], None
    for opening, closing in ((XMP_OPEN, _XMP_CLOSE), (_RDF_OPEN, _RDF_CLOSE)):  # the x:xmpmeta wrapper is optional
        if start := opening.search(data, 0, XMP_MAX_BYTES):
            packet = data[start.start():]
            close = closing.search(packet, 0, XMP_MAX_BYTES + 64)
            packet = packet[: close.end()] if close else packet[:XMP_MAX_BYTES]
            break
    fields: dict[str, list[str]] = {name: [] for name in _XMP_FIELDS}
    if close is None:  # truncated or oversized: never handed to an XML parser
        found.problems.append("xmp: truncated or oversized; read by pattern only")
        return _xmp_by_pattern(packet, fields)
    try:  # no DTD at all (an entity bomb, an external entity), so nothing to expand or fetch
        root = SafeET.fromstring(packet, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except DefusedXmlException as exc:
        found.problems.append(f"xmp: refused, declares a DTD or entities ({type(exc).__name__}); read by pattern only")
        return _xmp_by_pattern(packet, fields)
    except (ParseError, ValueError) as exc:
        found.problems.append(f"xmp: malformed ({exc}); read by pattern only")
        return _xmp_by_pattern(packet, fields)
    for element in root.iter():
        name = _local(element.tag)
        if name in fields:
            value = (element.text or "").strip() or element.get(_RDF_RESOURCE, "")
            if not value:  # an rdf:Alt / rdf:Seq holding the value
                value = next((t.strip() for t in element.itertext() if t.strip()), "")
            _add(fields[name], value)
        for key, value in element.attrib.items():
            if _local(key) in fields:
                _add(fields[_local(key)], value)
    return fields


def _xmp_by_pattern(packet: bytes, fields: dict[str, list[str]]) -> dict[str, list[str]]:
    text = packet.decode("utf-8", "replace")
    for name, values in fields.items():
        # name="value" | <name rdf:resource="value"/> | <name>value</name>
        pattern = (rf":{name}(?:\s*=\s*[\"']([^\"'<]{{1,300}})[\"']|[^>]{{0,300}}?rdf:resource\s*=\s*"
                   rf"[\"']([^\"'<]{{1,300}})[\"']|\s*>\s*([^<]{{1,300}})<)")
        for match in re.finditer(pattern, text):
            _add(values, html.unescape(next(g for g in match.groups() if g is not None)))
    return fields


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1] if isinstance(tag, str) else ""


def _add(values: list[str], value: str) -> None:
    value = _clean(value)
    if value and value not in values and len(values) < MAX_VALUES:
        values.append(value)


def _clean(text: str | None, limit: int = EXCERPT_CHARS) -> str:
    """Printable, trimmed and at most `limit` characters (an ellipsis marks a cut)."""
    text = _CONTROL.sub("", text or "").strip()
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _names(patterns, values) -> list[str]:
    # "Adobe_Firefly": an underscore joins words in tool names, but \b takes it for part of a word.
    values = [value.replace("_", " ") for value in values if value]
    return sorted({name for value in values for name, rx in patterns if rx.search(value)})


def _summarise(found: Found) -> Metadata:
    """Apply the precedence declared-ai > generator-metadata > camera > edited > stripped.

    A C2PA manifest is named in the basis whatever the summary ("...; C2PA invalid: pixels changed after
    signing"), so a file is never called camera or edited without saying what its manifest declares.
    """
    camera = _exif_facts(found.exif, found)
    xmp = _xmp_fields(found.xmp, found) if found.xmp is not None else {name: [] for name in _XMP_FIELDS}
    c2pa = found.c2pa
    remote = [url for url in xmp["provenance"] if url.lower().startswith(("https://", "http://"))]
    if c2pa is None and remote:  # a remote manifest the SDK was not asked about (a file past the head cap)
        c2pa = remote_reference(remote[0])
        found.containers.add("c2pa")
    elif c2pa is None and any(url.startswith("self#jumbf=") for url in xmp["provenance"]):
        found.problems.append("xmp: dcterms:provenance names an embedded C2PA manifest that the file does not carry")
    claim_generator = c2pa["claim_generator"] if c2pa else None
    agents = [a["software_agent"] for a in c2pa["actions"] if a["software_agent"]] if c2pa else []
    tool_texts = [_clean(v) for k, v in found.texts.items() if k.lower() in _TOOL_KEYS]
    tools = [t for t in (camera["software"], *xmp["CreatorTool"], *xmp["softwareAgent"], claim_generator, *agents,
                         *tool_texts) if t]
    generators = _names(_GENERATORS, [*tools, camera["make"], camera["model"]])
    editors = _names(_EDITORS, tools)
    parameters = {key: _clean(text) for key, text in found.texts.items()
                  if key.lower() in PARAMETER_KEYS or _PARAMS_TEXT.search(text)}
    xmp_types = [t.rsplit("/", 1)[-1] for t in xmp["DigitalSourceType"]]
    c2pa_types = c2pa["digital_source_types"] if c2pa else []
    source_types = list(dict.fromkeys([*xmp_types, *c2pa_types]))
    ai = {s.lower() for s in AI_SOURCE_TYPES}
    ai_xmp, ai_c2pa = [t for t in xmp_types if t.lower() in ai], [t for t in c2pa_types if t.lower() in ai]
    edit_types = [t for t in source_types if t.lower() in {s.lower() for s in EDIT_SOURCE_TYPES}]
    device = camera["make"] or camera["model"]
    exposure = [k for k in ("iso", "fnumber", "exposure_s", "focal_mm") if camera[k] is not None]
    manifest = phrase(c2pa) if c2pa else None
    if c2pa and c2pa["state"] == "unreadable":
        found.problems.append(f"c2pa: {c2pa['error']}")
    carriers = sorted(found.containers & {"app11", "png-caBX", "webp-C2PA"})
    if carriers and not c2pa:
        found.problems.append(f"{', '.join(carriers)} without a C2PA manifest (the C2PA SDK found none)")

    def with_manifest(basis: str) -> str:
        return f"{basis}; {manifest}" if manifest else basis

    if ai_c2pa and c2pa["state"] == "valid":
        summary, basis = DECLARED_AI, manifest
    elif ai_xmp:
        summary, basis = DECLARED_AI, with_manifest(f"XMP DigitalSourceType {ai_xmp[0]}")
    elif ai_c2pa:  # declared in a manifest that does not validate: a claim, not a proof
        summary, basis = DECLARED_AI, f"{manifest}; unverified claim: {ai_c2pa[0]}"
    elif parameters or generators:
        summary = GENERATOR_METADATA
        basis = with_manifest(f"generation parameters in {', '.join(sorted(parameters))}" if parameters
                              else f"software field names {', '.join(generators)}")
    elif device and exposure:
        names = " ".join(filter(None, (camera["make"], camera["model"])))
        summary, basis = CAMERA, with_manifest(f"EXIF {names} with {', '.join(exposure)}")
    elif manifest:
        summary, basis = EDITED, manifest + (f"; editor named: {', '.join(editors)}" if editors else "")
    elif editors or tools or edit_types or device or "photoshop-irb" in found.containers:
        summary = EDITED
        basis = (f"editor named: {', '.join(editors)}" if editors else
                 f"DigitalSourceType {edit_types[0]}" if edit_types else
                 f"software field without camera EXIF: {tools[0]}" if tools else
                 "EXIF names a device but has no exposure tags" if device else "Photoshop resource block")
    else:
        summary, basis = STRIPPED, "no camera, provenance, generator or software metadata"
    evidence = {
        "basis": basis,
        "containers": sorted(found.containers),
        "camera": camera,
        "provenance": {
            "c2pa_manifest": c2pa is not None,  # embedded, or referenced (remote, never fetched)
            "c2pa_claim_generator": claim_generator,
            "c2pa": c2pa,
            "digital_source_type": source_types,
            "creator_tool": xmp["CreatorTool"],
            "history_software": xmp["softwareAgent"],
        },
        "generator": {"names": generators, "parameters": parameters},
        "editors": editors,
        "text_fields": sorted(found.texts),
        "problems": [_clean(p) for p in found.problems],
    }
    return Metadata(summary, evidence)
