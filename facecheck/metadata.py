"""What the file itself says: camera EXIF, provenance declarations and generator traces.

Metadata is a second witness beside the pixels, and a weak one: any tag can be stripped, copied or
forged. It never changes a face's log-likelihood or verdict. Reading is defensive: at most the first
`HEAD_BYTES` of a file, no network, no DTDs, every parser failure noted in `problems`, never raised.
"""

from __future__ import annotations

import html
import io
import os
import re
import struct
import xml.etree.ElementTree as ET
import zlib
from dataclasses import dataclass, field

import exifread

from .errors import ImageReadError
from .exif import exposure_from_tags
from .io import open_regular

HEAD_BYTES = 16 * 1024 * 1024  # never read more of a file than this
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
# JUMBF description box of a C2PA manifest store: "jumd", the c2pa UUID (starts with "c2pa"), toggles, label.
_C2PA_SIGNATURE = re.compile(rb"jumdc2pa\x00\x11\x00\x10\x80\x00\x00\xaa\x00\x38\x9b\x71")
_SOURCE_TYPE_URI = re.compile(rb"digitalsourcetype/([A-Za-z]{3,64})", re.IGNORECASE)
_XMP_FIELDS = ("DigitalSourceType", "CreatorTool", "softwareAgent")
_RDF_RESOURCE = "{http://www.w3.org/1999/02/22-rdf-syntax-ns#}resource"
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


@dataclass(frozen=True)
class Metadata:
    """One file's metadata verdict: a word from `SUMMARIES` ("" if unreadable) and JSON-able evidence."""

    summary: str
    evidence: dict = field(default_factory=dict, hash=False)


@dataclass
class _Found:
    containers: set = field(default_factory=set)
    exif: bytes | None = None  # a TIFF-structured EXIF block
    xmp: bytes | None = None
    c2pa: bytearray = field(default_factory=bytearray)
    texts: dict = field(default_factory=dict)  # PNG text chunks; a JPEG comment as "comment"
    problems: list = field(default_factory=list)


def read_metadata(path: str | os.PathLike) -> Metadata:
    """Read what `path` says about its origin; never raises (an unopenable file gives summary "")."""
    try:
        with open_regular(path) as handle:  # never a FIFO or device: reading those blocks or never ends
            head = handle.read(HEAD_BYTES)
    except ImageReadError as exc:
        return Metadata("", {"problems": [f"cannot open: {str(exc).rpartition(': ')[2]}"]})
    except (OSError, ValueError) as exc:
        return Metadata("", {"problems": [f"cannot open: {getattr(exc, 'strerror', None) or exc}"]})
    try:
        return _summarise(_collect(head))
    except Exception as exc:  # a parser bug must never cost the pixel scan its result
        return Metadata("", {"problems": [f"metadata not read ({type(exc).__name__}: {exc})"]})


def _collect(head: bytes) -> _Found:
    """Walk the container (JPEG, PNG, WebP) for metadata blocks, then search the head for the rest."""
    found = _Found()
    walkers = {b"\xff\xd8": _walk_jpeg, _PNG[:2]: _walk_png, b"RI": _walk_webp}
    walker = walkers.get(head[:2])
    if walker is not None:
        try:
            walker(head, found)
        except Exception as exc:
            found.problems.append(f"container: {type(exc).__name__}: {exc}")
    elif head[:4] in (b"II*\x00", b"MM\x00*") or head[4:8] == b"ftyp":
        found.exif = head  # TIFF and HEIC: exifread finds the block itself
    if found.xmp is None and (m := _XMP_OPEN.search(head)):
        found.xmp = head[m.start(): m.start() + XMP_MAX_BYTES + 64]
        found.containers.add("xmp")
    if not found.c2pa and (m := _C2PA_SIGNATURE.search(head)):
        found.c2pa += head[max(0, m.start() - 8): m.start() + 4 * XMP_MAX_BYTES]
    if found.c2pa and not (b"jumb" in found.c2pa and b"c2pa" in found.c2pa):
        found.problems.append("APP11 / caBX / C2PA chunk without a C2PA manifest (no jumb box labelled c2pa)")
        found.c2pa = bytearray()
    if found.c2pa:
        found.containers.add("c2pa")
    return found


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
        found.c2pa += payload
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
            found.c2pa += body
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
            found.c2pa += body
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
    """DigitalSourceType, CreatorTool and history softwareAgent values of an XMP packet."""
    packet, close = data[:XMP_MAX_BYTES], None
    for opening, closing in ((_XMP_OPEN, _XMP_CLOSE), (_RDF_OPEN, _RDF_CLOSE)):  # the x:xmpmeta wrapper is optional
        if start := opening.search(data, 0, XMP_MAX_BYTES):
            packet = data[start.start():]
            close = closing.search(packet, 0, XMP_MAX_BYTES + 64)
            packet = packet[: close.end()] if close else packet[:XMP_MAX_BYTES]
            break
    fields: dict[str, list[str]] = {name: [] for name in _XMP_FIELDS}
    if close is None or b"<!DOCTYPE" in packet or b"<!ENTITY" in packet:
        # Truncated, oversized, or declaring entities (a billion-laughs bomb): never handed to an XML parser.
        found.problems.append("xmp: truncated, oversized or declares a DTD; read by pattern only")
        return _xmp_by_pattern(packet, fields)
    try:
        root = ET.fromstring(packet)
    except (ET.ParseError, ValueError) as exc:
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


def _c2pa_facts(data: bytes) -> tuple[str | None, list[str]]:
    """The claim generator (CBOR or JSON text, no CBOR parser) and any digital source types named."""
    generator = None
    at = data.find(b"\x6fclaim_generator")  # CBOR text string of 15 bytes: the key
    if at >= 0:
        generator = _cbor_text(data, at + 16)
    if generator is None and (m := re.search(rb'"claim_generator"\s*:\s*"([^"]{1,300})"', data)):
        generator = m.group(1).decode("utf-8", "replace")
    if generator is None and (at := data.find(b"\x74claim_generator_info")) >= 0:  # C2PA 2: [{"name": ...}]
        name_at = data.find(b"\x64name", at, at + 256)
        generator = _cbor_text(data, name_at + 5) if name_at >= 0 else None
    types = [m.group(1).decode("ascii") for m in _SOURCE_TYPE_URI.finditer(data)]
    return (_clean(generator) or None) if generator else None, list(dict.fromkeys(types))[:MAX_VALUES]


def _cbor_text(data: bytes, pos: int) -> str | None:
    """A CBOR text string starting at `pos`, or None."""
    if pos >= len(data) or data[pos] >> 5 != 3:
        return None
    info = data[pos] & 0x1F
    if info < 24:
        size, start = info, pos + 1
    elif info == 24 and pos + 1 < len(data):
        size, start = data[pos + 1], pos + 2
    elif info == 25 and pos + 2 < len(data):
        size, start = struct.unpack_from(">H", data, pos + 1)[0], pos + 3
    else:
        return None
    return data[start: start + min(size, EXCERPT_CHARS * 4)].decode("utf-8", "replace")


def _clean(text: str | None, limit: int = EXCERPT_CHARS) -> str:
    """Printable, trimmed and at most `limit` characters (an ellipsis marks a cut)."""
    text = _CONTROL.sub("", text or "").strip()
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _names(patterns, values) -> list[str]:
    # "Adobe_Firefly": an underscore joins words in tool names, but \b takes it for part of a word.
    values = [value.replace("_", " ") for value in values if value]
    return sorted({name for value in values for name, rx in patterns if rx.search(value)})


def _summarise(found: _Found) -> Metadata:
    """Apply the precedence declared-ai > generator-metadata > camera > edited > stripped."""
    camera = _exif_facts(found.exif, found)
    xmp = _xmp_fields(found.xmp, found) if found.xmp is not None else {name: [] for name in _XMP_FIELDS}
    claim_generator, c2pa_types = _c2pa_facts(bytes(found.c2pa)) if found.c2pa else (None, [])
    tool_texts = [_clean(v) for k, v in found.texts.items() if k.lower() in _TOOL_KEYS]
    tools = [t for t in (camera["software"], *xmp["CreatorTool"], *xmp["softwareAgent"], claim_generator,
                         *tool_texts) if t]
    generators = _names(_GENERATORS, [*tools, camera["make"], camera["model"]])
    editors = _names(_EDITORS, tools)
    parameters = {key: _clean(text) for key, text in found.texts.items()
                  if key.lower() in PARAMETER_KEYS or _PARAMS_TEXT.search(text)}
    xmp_types = [t.rsplit("/", 1)[-1] for t in xmp["DigitalSourceType"]]
    source_types = list(dict.fromkeys([*xmp_types, *c2pa_types]))
    ai_types = [t for t in source_types if t.lower() in {s.lower() for s in AI_SOURCE_TYPES}]
    edit_types = [t for t in source_types if t.lower() in {s.lower() for s in EDIT_SOURCE_TYPES}]
    device = camera["make"] or camera["model"]
    exposure = [k for k in ("iso", "fnumber", "exposure_s", "focal_mm") if camera[k] is not None]

    if ai_types:
        where = " and ".join(w for w, types in (("XMP", xmp_types), ("C2PA manifest", c2pa_types))
                             if ai_types[0] in types)
        summary, basis = DECLARED_AI, f"{where} DigitalSourceType {ai_types[0]}"
    elif parameters or generators:
        summary = GENERATOR_METADATA
        basis = (f"generation parameters in {', '.join(sorted(parameters))}" if parameters
                 else f"software field names {', '.join(generators)}")
    elif device and exposure:
        names = " ".join(filter(None, (camera["make"], camera["model"])))
        summary, basis = CAMERA, f"EXIF {names} with {', '.join(exposure)}"
    elif editors or tools or found.c2pa or edit_types or device or "photoshop-irb" in found.containers:
        summary = EDITED
        basis = (f"editor named: {', '.join(editors)}" if editors else
                 f"DigitalSourceType {edit_types[0]}" if edit_types else
                 f"software field without camera EXIF: {tools[0]}" if tools else
                 "C2PA manifest without an AI declaration" if found.c2pa else
                 "EXIF names a device but has no exposure tags" if device else "Photoshop resource block")
    else:
        summary, basis = STRIPPED, "no camera, provenance, generator or software metadata"
    evidence = {
        "basis": basis,
        "containers": sorted(found.containers),
        "camera": camera,
        "provenance": {
            "c2pa_manifest": bool(found.c2pa),
            "c2pa_claim_generator": claim_generator,
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
