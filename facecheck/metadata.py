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
import warnings
import zlib
from dataclasses import dataclass, field
from xml.etree.ElementTree import ParseError

import defusedxml.ElementTree as SafeET
import exifread
from defusedxml import DefusedXmlException
from PIL import Image

from .errors import ImageReadError
from .exif import exposure_from_tags
from .io import bmff_kind, open_regular, register_heif
from .provenance import not_validated, phrase, read_c2pa, remote_reference

HEAD_BYTES = 16 * 1024 * 1024  # never read more of a file than this for its tags
# A C2PA manifest is validated against the whole file (its hash covers every byte): a file of up to this size
# that has one in its head is read whole; a bigger one is reported as not validated.
C2PA_MAX_BYTES = 64 * 1024 * 1024
XMP_MAX_BYTES = 1024 * 1024  # a bigger XMP packet is not parsed as XML, only searched by pattern
TEXT_MAX_BYTES = 1024 * 1024  # cap on one PNG text chunk, after decompression
EXCERPT_CHARS = 300  # longest text kept in the evidence
MAX_TEXT_CHUNKS = 64
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

_PNG = b"\x89PNG\r\n\x1a\n"
_XMP_JPEG = b"http://ns.adobe.com/xap/1.0/\x00"
_XMP_OPEN = re.compile(rb"<x:x[am]pmeta[\s>]")
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


@dataclass
class _Found:
    containers: set = field(default_factory=set)
    exif: bytes | None = None  # a TIFF-structured EXIF block
    xmp: bytes | None = None
    c2pa: dict | None = None  # provenance.read_c2pa's facts about the active manifest
    texts: dict = field(default_factory=dict)  # PNG text chunks; a JPEG comment as "comment"
    problems: list = field(default_factory=list)


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
        found = _collect(head)
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


def _collect(head: bytes) -> _Found:
    """Walk the container (JPEG, PNG, WebP) for metadata blocks, then search the head for XMP (C2PA is the SDK's)."""
    found = _Found()
    walkers = {b"\xff\xd8": _walk_jpeg, _PNG[:2]: _walk_png, b"RI": _walk_webp}
    walker = walkers.get(head[:2])
    if walker is not None:
        try:
            walker(head, found)
        except Exception as exc:
            found.problems.append(f"container: {type(exc).__name__}: {exc}")
    elif head[:4] in (b"II*\x00", b"MM\x00*"):
        found.exif = head  # TIFF: exifread finds the block itself
    elif head[4:8] == b"ftyp":
        found.exif = _bmff_exif(head, found)
    if found.xmp is None and (m := _XMP_OPEN.search(head)):
        found.xmp = head[m.start(): m.start() + XMP_MAX_BYTES + 64]
        found.containers.add("xmp")
    return found


def _bmff_exif(head: bytes, found: _Found) -> bytes | None:
    """The EXIF block of an AVIF or HEIC file as its decoder reads it (headers only, no pixels); else the head
    itself, for exifread to search (which fails on some HEIC item layouts)."""
    kind = bmff_kind(head)
    if kind == "HEIC":
        register_heif()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with Image.open(io.BytesIO(head)) as img:
                block = img.info.get("exif")
    except Exception:  # no decoder for it here, a truncated head, a damaged box: exifread tries the bytes
        return head
    if kind:
        found.containers.add(kind.lower())
    if not isinstance(block, bytes) or not block:
        return None
    return block[6:] if block.startswith(b"Exif\x00\x00") else block


def _walk_jpeg(data: bytes, found: _Found) -> None:
    """APP and COM segments up to the start of the image data."""
    pos = 2
    while pos + 4 <= len(data):
        if data[pos] != 0xFF:
            found.problems.append(f"jpeg: no segment marker at byte {pos}")
            return
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        if marker in (0x01, 0xD8) or 0xD0 <= marker <= 0xD7:
            pos += 2
            continue
        if marker in (0xD9, 0xDA):  # end, or start of scan: no metadata segments follow
            return
        (length,) = struct.unpack_from(">H", data, pos + 2)
        end = pos + 2 + length
        if length < 2 or end > len(data):
            what = "has an impossible length" if length < 2 else "overruns the file"
            found.problems.append(f"jpeg: segment 0x{marker:02X} at byte {pos} {what}")
        _jpeg_segment(marker, data[pos + 4: min(end, len(data))], found)
        if length < 2:
            return
        pos = end


def _jpeg_segment(marker: int, payload: bytes, found: _Found) -> None:
    if marker == 0xE1 and payload.startswith(b"Exif\x00\x00") and found.exif is None:
        found.exif = payload[6:]
        found.containers.add("exif")
    elif marker == 0xE1 and payload.startswith(_XMP_JPEG) and found.xmp is None:
        found.xmp = payload[len(_XMP_JPEG):]
        found.containers.add("xmp")
    elif marker == 0xEB:  # APP11: JPEG-XT boxes, where C2PA puts its JUMBF manifest store
        found.containers.add("app11")
    elif marker == 0xED and payload.startswith(b"Photoshop 3.0\x00"):
        found.containers.add("photoshop-irb")
    elif marker == 0xE2 and payload.startswith(b"ICC_PROFILE\x00"):
        found.containers.add("icc")
    elif marker == 0xFE:
        found.texts.setdefault("comment", payload[:TEXT_MAX_BYTES].decode("latin-1"))
        found.containers.add("comment")


def _walk_png(data: bytes, found: _Found) -> None:
    """Text, eXIf and caBX chunks (image data chunks are skipped, CRCs are not checked)."""
    pos = len(_PNG)
    while pos + 8 <= len(data):
        length, kind = struct.unpack_from(">I4s", data, pos)
        start, end = pos + 8, pos + 8 + length
        if end > len(data):
            found.problems.append(f"png: chunk {kind.decode('latin-1')!r} at byte {pos} overruns the file")
        body = data[start: min(end, len(data))]
        if kind in (b"tEXt", b"zTXt", b"iTXt"):
            _png_text(kind, body, found)
        elif kind == b"eXIf" and found.exif is None:
            found.exif = body[6:] if body.startswith(b"Exif\x00\x00") else body
            found.containers.add("exif")
        elif kind == b"caBX":
            found.containers.add("png-caBX")
        elif kind == b"iCCP":
            found.containers.add("icc")
        elif kind == b"IEND":
            return
        pos = end + 4


def _png_text(kind: bytes, body: bytes, found: _Found) -> None:
    key, _, rest = body.partition(b"\x00")
    key_text = key[:80].decode("latin-1")
    if kind == b"tEXt":
        text = rest[:TEXT_MAX_BYTES]
    elif kind == b"zTXt":
        text = _inflate(rest[1:], found)
    else:  # iTXt: compression flag, method, language tag, translated keyword, UTF-8 text
        compressed = rest[:1] == b"\x01"
        _, _, rest = rest[2:].partition(b"\x00")
        _, _, text = rest.partition(b"\x00")
        text = _inflate(text, found) if compressed else text[:TEXT_MAX_BYTES]
    if key_text == "XML:com.adobe.xmp":
        if found.xmp is None:
            found.xmp = text
            found.containers.add("xmp")
        return
    found.containers.add("png-text")
    if len(found.texts) < MAX_TEXT_CHUNKS:
        found.texts.setdefault(key_text, text.decode("utf-8" if kind == b"iTXt" else "latin-1", "replace"))


def _inflate(data: bytes, found: _Found) -> bytes:
    """Decompress at most TEXT_MAX_BYTES (a zlib bomb stops there)."""
    try:
        return zlib.decompressobj().decompress(data, TEXT_MAX_BYTES)
    except zlib.error as exc:
        found.problems.append(f"png: compressed text chunk is damaged ({exc})")
        return b""


def _walk_webp(data: bytes, found: _Found) -> None:
    """RIFF chunks EXIF, "XMP " and C2PA."""
    if data[8:12] != b"WEBP":
        return
    pos = 12
    while pos + 8 <= len(data):
        kind = data[pos: pos + 4]
        (size,) = struct.unpack_from("<I", data, pos + 4)
        body = data[pos + 8: pos + 8 + size]
        if kind == b"EXIF" and found.exif is None:
            found.exif = body[6:] if body.startswith(b"Exif\x00\x00") else body
            found.containers.add("exif")
        elif kind == b"XMP " and found.xmp is None:
            found.xmp = body
            found.containers.add("xmp")
        elif kind == b"C2PA":
            found.containers.add("webp-C2PA")
        pos += 8 + size + (size & 1)


def _exif_facts(block: bytes | None, found: _Found) -> dict:
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


def _xmp_fields(data: bytes, found: _Found) -> dict[str, list[str]]:
    """IPTC DigitalSourceType, CreatorTool and history softwareAgent values of an XMP packet (defusedxml)."""
    packet, close = data[:XMP_MAX_BYTES], None
    for opening, closing in ((_XMP_OPEN, _XMP_CLOSE), (_RDF_OPEN, _RDF_CLOSE)):  # the x:xmpmeta wrapper is optional
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


def _summarise(found: _Found) -> Metadata:
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
