"""Metadata evidence: files with each kind of metadata, built in tmp_path, and malformed ones that must not raise."""

from __future__ import annotations

import io
import json
import random
import struct
import time
import zlib
from pathlib import Path

import pytest
from PIL import Image, PngImagePlugin
from PIL.TiffImagePlugin import IFDRational

from facecheck.scan import metadata
from facecheck.scan.metadata import HEAD_BYTES, SUMMARIES, Metadata, read_metadata

AI_URI = "http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia"
COMPOSITE_AI_URI = "http://cv.iptc.org/newscodes/digitalsourcetype/compositeWithTrainedAlgorithmicMedia"
CAPTURE_URI = "http://cv.iptc.org/newscodes/digitalsourcetype/digitalCapture"
A1111 = ("portrait of a woman, studio light\nNegative prompt: blurry\nSteps: 20, Sampler: Euler a, CFG scale: 7, "
         "Seed: 1234, Size: 512x512, Model: v1-5-pruned")


# --- builders -------------------------------------------------------------------------------------------


def _pixels(size=(32, 24)) -> Image.Image:
    return Image.new("RGB", size, (140, 90, 60))


def camera_exif(make="Canon", model="Canon EOS R5", software=None, exposure=True, user_comment=None) -> Image.Exif:
    """EXIF as a camera writes it: make, model, capture time, lens and the four exposure tags."""
    exif = Image.Exif()
    if make:
        exif[0x010F] = make
    if model:
        exif[0x0110] = model
    if software:
        exif[0x0131] = software
    ifd = exif.get_ifd(0x8769)
    if exposure:
        ifd.update({0x829A: IFDRational(1, 250), 0x829D: IFDRational(28, 10), 0x8827: 400, 0x920A: IFDRational(50),
                    0xA434: "RF50mm F1.8 STM", 0x9003: "2024:05:01 09:30:00"})
    if user_comment is not None:
        ifd[0x9286] = user_comment
    return exif


def jpeg(path: Path, exif: Image.Exif | None = None, segments: tuple[bytes, ...] = ()) -> Path:
    """A JPEG from Pillow, with hand-written segments spliced in right after SOI."""
    buf = io.BytesIO()
    _pixels().save(buf, "JPEG", **({"exif": exif} if exif is not None else {}))
    data = buf.getvalue()
    path.write_bytes(data[:2] + b"".join(segments) + data[2:])
    return path


def segment(marker: int, payload: bytes) -> bytes:
    return b"\xff" + bytes([marker]) + struct.pack(">H", len(payload) + 2) + payload


def xmp_packet(*properties: str) -> bytes:
    """An XMP packet whose rdf:Description holds `properties` (XML snippets)."""
    return (
        '<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>'
        '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
        '<rdf:Description rdf:about="" xmlns:xmp="http://ns.adobe.com/xap/1.0/" '
        'xmlns:Iptc4xmpExt="http://iptc.org/std/Iptc4xmpExt/2008-02-29/" '
        'xmlns:xmpMM="http://ns.adobe.com/xap/1.0/mm/" '
        'xmlns:stEvt="http://ns.adobe.com/xap/1.0/sType/ResourceEvent#">'
        + "".join(properties)
        + '</rdf:Description></rdf:RDF></x:xmpmeta><?xpacket end="w"?>'
    ).encode()


def xmp_app1(packet: bytes) -> bytes:
    return segment(0xE1, b"http://ns.adobe.com/xap/1.0/\x00" + packet)


def source_type(uri: str, form: str = "resource") -> str:
    if form == "resource":
        return f'<Iptc4xmpExt:DigitalSourceType rdf:resource="{uri}"/>'
    if form == "text":
        return f"<Iptc4xmpExt:DigitalSourceType>{uri}</Iptc4xmpExt:DigitalSourceType>"
    return f'<rdf:Description Iptc4xmpExt:DigitalSourceType="{uri}"/>'


def creator_tool(name: str) -> str:
    return f"<xmp:CreatorTool>{name}</xmp:CreatorTool>"


def _box(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", 8 + len(payload)) + kind + payload


def _jumd(uuid: bytes, label: str) -> bytes:
    return _box(b"jumd", uuid + b"\x03" + label.encode() + b"\x00")


def _cbor_text(text: str) -> bytes:
    data = text.encode()
    head = bytes([0x60 + len(data)]) if len(data) < 24 else bytes([0x78, len(data)])
    return head + data


C2PA_UUID = b"c2pa" + bytes.fromhex("0011001080000" "0aa00389b71")
OTHER_UUID = bytes(range(16))


def c2pa_store(claim_generator: str | None = "c2patool/0.9", source: str | None = None, json_claim=False,
               generator_info: str | None = None) -> bytes:
    """A JUMBF C2PA manifest store: a manifest with a claim (CBOR, or JSON) and optionally an actions assertion."""
    if json_claim:
        claim = _box(b"json", json.dumps({"claim_generator": claim_generator}).encode())
    elif generator_info:
        info = b"\x81\xa2" + _cbor_text("name") + _cbor_text(generator_info) + _cbor_text("version") + _cbor_text("1")
        claim = _box(b"cbor", b"\xa1" + bytes([0x74]) + b"claim_generator_info" + info)
    else:
        claim = _box(b"cbor", b"\xa1" + _cbor_text("claim_generator") + _cbor_text(claim_generator))
    boxes = _box(b"jumb", _jumd(OTHER_UUID, "c2pa.claim") + claim)
    if source:
        action = b"\xa2" + _cbor_text("action") + _cbor_text("c2pa.created") + _cbor_text("digitalSourceType")
        action += bytes([0x78, len(source)]) + source.encode()
        boxes += _box(b"jumb", _jumd(OTHER_UUID, "c2pa.actions") + _box(b"cbor", b"\xa1" + _cbor_text("actions")
                                                                         + b"\x81" + action))
    manifest = _box(b"jumb", _jumd(OTHER_UUID, "urn:uuid:6d2a0c5e-0000-4000-8000-000000000000") + boxes)
    return _box(b"jumb", _jumd(C2PA_UUID, "c2pa") + manifest)


def app11(store: bytes) -> bytes:
    """C2PA's JPEG carriage: APP11 with the JPEG-XT header (CI "JP", instance, sequence), then the JUMBF."""
    return segment(0xEB, b"JP" + b"\x00\x01" + b"\x00\x00\x00\x01" + store)


def png(path: Path, texts: dict | None = None, itxt: dict | None = None, ztxt: dict | None = None,
        chunks: tuple[tuple[bytes, bytes], ...] = (), exif: Image.Exif | None = None) -> Path:
    """A PNG from Pillow with tEXt / zTXt / iTXt chunks and any other chunks."""
    info = PngImagePlugin.PngInfo()
    for key, value in (texts or {}).items():
        info.add_text(key, value)
    for key, value in (ztxt or {}).items():
        info.add_text(key, value, zip=True)
    for key, value in (itxt or {}).items():
        info.add_itxt(key, value, zip=len(value) > 200)
    for kind, data in chunks:
        info.add(kind, data)
    _pixels().save(path, "PNG", pnginfo=info, **({"exif": exif} if exif is not None else {}))
    return path


def raw_png(path: Path, *chunks: tuple[bytes, bytes], crc=True) -> Path:
    """A PNG written chunk by chunk (for malformed chunks Pillow would refuse to write)."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) if crc else 0)

    ihdr = struct.pack(">IIBBBBB", 2, 2, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\x00" + b"\x80" * 6 + b"\x00" + b"\x80" * 6)
    body = b"".join(chunk(k, d) for k, d in chunks)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + body + chunk(b"IDAT", idat) + chunk(b"IEND", b""))
    return path


def check(meta: Metadata, summary: str) -> dict:
    """The summary is `summary` and the evidence is strict JSON (no NaN) with its fixed top-level keys."""
    assert isinstance(meta, Metadata)
    assert meta.summary == summary, meta.evidence
    json.dumps(meta.evidence, allow_nan=False)
    if summary:
        assert set(meta.evidence) == {"basis", "containers", "camera", "provenance", "generator", "editors",
                                      "text_fields", "problems"}
    return meta.evidence


# --- stripped and camera ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "WEBP", "BMP", "GIF", "TIFF"])
def test_a_plain_image_is_stripped(tmp_path, fmt):
    path = tmp_path / f"plain.{fmt.lower()}"
    _pixels().save(path, fmt)
    ev = check(read_metadata(path), "stripped")
    assert ev["camera"]["make"] is None and ev["provenance"]["c2pa_manifest"] is False
    assert ev["problems"] == [] and ev["generator"] == {"names": [], "parameters": {}}


def test_orientation_only_exif_is_still_stripped(tmp_path):
    exif = Image.Exif()
    exif[0x0112] = 6
    ev = check(read_metadata(jpeg(tmp_path / "o.jpg", exif)), "stripped")
    assert "exif" in ev["containers"]  # present, but says nothing about origin


def test_camera_exif(tmp_path):
    ev = check(read_metadata(jpeg(tmp_path / "c.jpg", camera_exif())), "camera")
    cam = ev["camera"]
    assert (cam["make"], cam["model"], cam["lens"], cam["captured"]) == ("Canon", "Canon EOS R5", "RF50mm F1.8 STM",
                                                                         "2024:05:01 09:30:00")
    assert cam["iso"] == 400 and cam["fnumber"] == pytest.approx(2.8) and cam["exposure_s"] == pytest.approx(1 / 250)
    assert cam["focal_mm"] == 50 and "Canon EOS R5" in ev["basis"]


@pytest.mark.parametrize("fmt", ["PNG", "WEBP"])
def test_camera_exif_in_png_and_webp(tmp_path, fmt):
    path = tmp_path / f"c.{fmt.lower()}"
    _pixels().save(path, fmt, exif=camera_exif())
    assert check(read_metadata(path), "camera")["camera"]["iso"] == 400


def test_camera_beats_edited_but_the_editor_is_in_the_evidence(tmp_path):
    ev = check(read_metadata(jpeg(tmp_path / "e.jpg", camera_exif(software="Adobe Photoshop Lightroom Classic 13.2"))),
               "camera")
    assert ev["editors"] == ["Adobe Lightroom", "Adobe Photoshop"]
    assert ev["camera"]["software"] == "Adobe Photoshop Lightroom Classic 13.2"


def test_camera_firmware_software_tag_is_still_camera(tmp_path):
    assert check(read_metadata(jpeg(tmp_path / "f.jpg", camera_exif(software="Ver.1.10"))), "camera")["editors"] == []


# --- edited --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("software, editors", [("GIMP 2.10.36", ["GIMP"]), ("Snapseed 2.0", ["Snapseed"]),
                                               ("ImageMagick 7.1", [])])
def test_software_without_camera_is_edited(tmp_path, software, editors):
    exif = camera_exif(make=None, model=None, software=software, exposure=False)
    ev = check(read_metadata(jpeg(tmp_path / "s.jpg", exif)), "edited")
    assert ev["editors"] == editors and ev["camera"]["software"] == software


def test_make_and_model_without_exposure_tags_is_edited(tmp_path):
    ev = check(read_metadata(jpeg(tmp_path / "m.jpg", camera_exif(exposure=False))), "edited")
    assert "no exposure tags" in ev["basis"]


def test_xmp_creator_tool_and_history_name_an_editor(tmp_path):
    history = ('<xmpMM:History><rdf:Seq><rdf:li stEvt:action="saved" stEvt:softwareAgent="Adobe Photoshop 25.0 '
               '(Macintosh)"/></rdf:Seq></xmpMM:History>')
    path = jpeg(tmp_path / "x.jpg", segments=(xmp_app1(xmp_packet(creator_tool("GIMP 2.10"), history)),))
    ev = check(read_metadata(path), "edited")
    assert ev["provenance"]["creator_tool"] == ["GIMP 2.10"]
    assert ev["provenance"]["history_software"] == ["Adobe Photoshop 25.0 (Macintosh)"]
    assert ev["editors"] == ["Adobe Photoshop", "GIMP"] and ev["problems"] == []


def test_human_edits_source_type_is_edited(tmp_path):
    uri = "http://cv.iptc.org/newscodes/digitalsourcetype/humanEdits"
    path = jpeg(tmp_path / "h.jpg", segments=(xmp_app1(xmp_packet(source_type(uri))),))
    assert check(read_metadata(path), "edited")["provenance"]["digital_source_type"] == ["humanEdits"]


def test_digital_capture_declaration_alone_proves_no_camera(tmp_path):
    path = jpeg(tmp_path / "d.jpg", segments=(xmp_app1(xmp_packet(source_type(CAPTURE_URI))),))
    assert check(read_metadata(path), "stripped")["provenance"]["digital_source_type"] == ["digitalCapture"]


# --- declared-ai ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("form", ["resource", "text", "attribute"])
@pytest.mark.parametrize("uri, code", [(AI_URI, "trainedAlgorithmicMedia"),
                                       (COMPOSITE_AI_URI, "compositeWithTrainedAlgorithmicMedia")])
def test_xmp_digital_source_type_in_jpeg_is_declared_ai(tmp_path, form, uri, code):
    path = jpeg(tmp_path / "ai.jpg", segments=(xmp_app1(xmp_packet(source_type(uri, form))),))
    ev = check(read_metadata(path), "declared-ai")
    assert ev["provenance"]["digital_source_type"] == [code] and ev["basis"] == f"XMP DigitalSourceType {code}"


def test_declared_ai_beats_camera_exif(tmp_path):
    path = jpeg(tmp_path / "ai.jpg", camera_exif(), (xmp_app1(xmp_packet(source_type(AI_URI))),))
    ev = check(read_metadata(path), "declared-ai")
    assert ev["camera"]["make"] == "Canon"  # the copied camera tags stay visible


def test_xmp_in_a_png_itxt_chunk(tmp_path):
    path = png(tmp_path / "ai.png", itxt={"XML:com.adobe.xmp": xmp_packet(source_type(AI_URI)).decode()})
    assert check(read_metadata(path), "declared-ai")["containers"] == ["xmp"]


def test_xmp_in_webp(tmp_path):
    path = tmp_path / "ai.webp"
    _pixels().save(path, "WEBP", xmp=xmp_packet(source_type(AI_URI)))
    assert check(read_metadata(path), "declared-ai")["containers"] == ["xmp"]


def test_xmp_found_anywhere_in_the_head_of_other_formats(tmp_path):
    path = tmp_path / "ai.tiff"
    _pixels().save(path, "TIFF")
    path.write_bytes(path.read_bytes() + xmp_packet(source_type(AI_URI)))
    assert check(read_metadata(path), "declared-ai")


def test_xmp_without_the_xmpmeta_wrapper(tmp_path):
    packet = xmp_packet(source_type(AI_URI)).decode()
    bare = packet[packet.index("<rdf:RDF"): packet.index("</x:xmpmeta>")].encode()
    path = jpeg(tmp_path / "bare.jpg", segments=(xmp_app1(bare),))
    assert check(read_metadata(path), "declared-ai")["problems"] == []


# --- C2PA ----------------------------------------------------------------------------------------------------------


# Signed manifests, valid and invalid, are in test_provenance.py; these stores are hand-made and unsigned.


def test_an_unsigned_c2pa_store_is_unreadable_and_its_claims_are_not_taken(tmp_path):
    store = c2pa_store("Adobe_Firefly c2pa-rs/0.25.2", source=AI_URI)
    ev = check(read_metadata(jpeg(tmp_path / "ff.jpg", segments=(app11(store),))), "edited")
    assert ev["basis"].startswith("C2PA manifest present but unreadable (")
    assert ev["provenance"]["c2pa_manifest"] is True and ev["provenance"]["c2pa"]["state"] == "unreadable"
    # The old byte scraping took "Adobe_Firefly" and trainedAlgorithmicMedia from such a store as if signed.
    assert ev["provenance"]["c2pa_claim_generator"] is None and ev["provenance"]["digital_source_type"] == []
    assert ev["generator"]["names"] == [] and "c2pa" in ev["containers"] and "app11" in ev["containers"]
    assert any(p.startswith("c2pa: ") for p in ev["problems"])


def test_an_unreadable_manifest_with_camera_exif_is_camera_and_says_so(tmp_path):
    path = jpeg(tmp_path / "leica.jpg", camera_exif("Leica Camera AG", "LEICA M11-P"), (app11(c2pa_store("Leica")),))
    ev = check(read_metadata(path), "camera")
    assert ev["provenance"]["c2pa_manifest"] is True and "; C2PA manifest present but unreadable" in ev["basis"]


def test_an_unsigned_store_in_a_png_cabx_chunk(tmp_path):
    path = png(tmp_path / "c.png", chunks=((b"caBX", c2pa_store("ChatGPT")),))
    ev = check(read_metadata(path), "edited")
    assert ev["provenance"]["c2pa"]["state"] == "unreadable" and ev["generator"]["names"] == []
    assert "png-caBX" in ev["containers"]


def test_xmp_naming_a_remote_manifest(tmp_path):
    url = "https://example.invalid/m.c2pa"
    packet = xmp_packet(f'<rdf:Description xmlns:dcterms="http://purl.org/dc/terms/" dcterms:provenance="{url}"/>')
    ev = check(read_metadata(jpeg(tmp_path / "r.jpg", segments=(xmp_app1(packet),))), "edited")
    assert ev["basis"] == "C2PA remote manifest referenced, not fetched"
    assert ev["provenance"]["c2pa"]["remote_url"] == url


def test_xmp_naming_an_embedded_manifest_that_is_gone(tmp_path):
    ref = "self#jumbf=/c2pa/urn:uuid:0/c2pa.claim"
    packet = xmp_packet(f'<rdf:Description xmlns:dcterms="http://purl.org/dc/terms/" dcterms:provenance="{ref}"/>')
    ev = check(read_metadata(jpeg(tmp_path / "s.jpg", segments=(xmp_app1(packet),))), "stripped")
    assert ev["provenance"]["c2pa"] is None and any("does not carry" in p for p in ev["problems"])


# --- generator metadata ----------------------------------------------------------------------------------------


def test_automatic1111_parameters_chunk(tmp_path):
    ev = check(read_metadata(png(tmp_path / "sd.png", texts={"parameters": A1111})), "generator-metadata")
    assert ev["generator"]["parameters"]["parameters"].startswith("portrait of a woman")
    assert ev["basis"] == "generation parameters in parameters" and ev["text_fields"] == ["parameters"]


def test_comfyui_prompt_and_workflow_chunks(tmp_path):
    prompt = json.dumps({"3": {"class_type": "KSampler", "inputs": {"seed": 1, "steps": 20}}})
    workflow = json.dumps({"nodes": [{"type": "CheckpointLoaderSimple"}] * 50})
    ev = check(read_metadata(png(tmp_path / "comfy.png", texts={"prompt": prompt}, itxt={"workflow": workflow})),
               "generator-metadata")
    assert sorted(ev["generator"]["parameters"]) == ["prompt", "workflow"]
    assert len(ev["generator"]["parameters"]["workflow"]) == metadata.EXCERPT_CHARS  # cut, with an ellipsis


def test_compressed_ztxt_parameters(tmp_path):
    path = png(tmp_path / "z.png", ztxt={"parameters": A1111})
    assert check(read_metadata(path), "generator-metadata")["generator"]["parameters"]


@pytest.mark.parametrize("software, name", [("NovelAI", "NovelAI"), ("Midjourney v6", "Midjourney"),
                                            ("Stable Diffusion XL", "Stable Diffusion")])
def test_png_software_naming_a_generator(tmp_path, software, name):
    ev = check(read_metadata(png(tmp_path / "g.png", texts={"Software": software})), "generator-metadata")
    assert ev["generator"]["names"] == [name]


def test_generator_software_beats_camera_exif(tmp_path):
    ev = check(read_metadata(jpeg(tmp_path / "g.jpg", camera_exif(software="ComfyUI"))), "generator-metadata")
    assert ev["generator"]["names"] == ["ComfyUI"] and ev["camera"]["make"] == "Canon"


@pytest.mark.parametrize("encoding, prefix", [("utf-16-be", b"UNICODE\x00"), ("ascii", b"ASCII\x00\x00\x00")])
def test_automatic1111_user_comment_in_jpeg_exif(tmp_path, encoding, prefix):
    exif = camera_exif(make=None, model=None, exposure=False, user_comment=prefix + A1111.encode(encoding))
    ev = check(read_metadata(jpeg(tmp_path / "a.jpg", exif)), "generator-metadata")
    assert ev["generator"]["parameters"]["exif:UserComment"] == A1111  # the whole comment, nothing after it


def test_parameters_in_a_jpeg_comment(tmp_path):
    path = jpeg(tmp_path / "com.jpg", segments=(segment(0xFE, A1111.encode()),))
    assert "comment" in check(read_metadata(path), "generator-metadata")["generator"]["parameters"]


def test_ordinary_text_chunks_are_not_generator_metadata(tmp_path):
    ev = check(read_metadata(png(tmp_path / "t.png", texts={"Title": "Holiday", "Author": "Ann"})), "stripped")
    assert ev["text_fields"] == ["Author", "Title"]


# --- malformed and hostile files: evidence degrades, nothing raises --------------------------------------------


def test_truncated_xmp_is_still_read_by_pattern(tmp_path):
    packet = xmp_packet(source_type(AI_URI, "text"), creator_tool("Photoshop"))
    cut = packet[: packet.index(b"</rdf:Description>")]
    ev = check(read_metadata(jpeg(tmp_path / "t.jpg", segments=(xmp_app1(cut),))), "declared-ai")
    assert ev["provenance"]["creator_tool"] == ["Photoshop"]
    assert any("pattern only" in p for p in ev["problems"])


def test_malformed_xmp_xml_falls_back_to_patterns(tmp_path):
    packet = xmp_packet(source_type(AI_URI, "attribute"), "<unclosed>&undefined;")
    ev = check(read_metadata(jpeg(tmp_path / "m.jpg", segments=(xmp_app1(packet),))), "declared-ai")
    assert any(p.startswith("xmp: malformed") for p in ev["problems"])


def test_xmp_external_entity_is_never_resolved(tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("Adobe Firefly")
    xxe = (f'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file://{secret}">]>'
           '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
           '<rdf:Description xmlns:xmp="http://ns.adobe.com/xap/1.0/"><xmp:CreatorTool>&e;</xmp:CreatorTool>'
           "</rdf:Description></rdf:RDF></x:xmpmeta>").encode()
    ev = check(read_metadata(jpeg(tmp_path / "xxe.jpg", segments=(xmp_app1(xxe),))), "edited")
    assert ev["provenance"]["creator_tool"] == ["&e;"] and ev["generator"]["names"] == []
    assert any(p.endswith("read by pattern only") for p in ev["problems"])  # the DTD is cut off, or refused


def test_iptc_digital_source_type_in_xmp_outside_c2pa(tmp_path):
    ev = check(read_metadata(jpeg(tmp_path / "i.jpg", segments=(xmp_app1(xmp_packet(source_type(AI_URI))),))),
               "declared-ai")
    assert ev["provenance"]["c2pa"] is None and ev["provenance"]["c2pa_manifest"] is False


def test_xmp_entity_bomb_is_never_expanded(tmp_path):
    entities = '<!ENTITY a "' + "a" * 50 + '">' + "".join(
        f'<!ENTITY {chr(98 + i)} "{("&" + chr(97 + i) + ";") * 20}">' for i in range(9))
    bomb = (f'<?xml version="1.0"?><!DOCTYPE x:xmpmeta [{entities}]><x:xmpmeta xmlns:x="adobe:ns:meta/">'
            '<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"><rdf:Description '
            'xmlns:xmp="http://ns.adobe.com/xap/1.0/"><xmp:CreatorTool>&j;</xmp:CreatorTool></rdf:Description>'
            "</rdf:RDF></x:xmpmeta>").encode()
    start = time.perf_counter()
    for path in (jpeg(tmp_path / "bomb.jpg", segments=(xmp_app1(bomb),)),
                 png(tmp_path / "bomb.png", itxt={"XML:com.adobe.xmp": bomb.decode()})):
        ev = check(read_metadata(path), "edited")
        assert ev["provenance"]["creator_tool"] == ["&j;"]  # the reference, not 20**9 characters
        assert ev["problems"]
    assert time.perf_counter() - start < 2


def test_oversized_xmp_packet_is_not_parsed_as_xml(tmp_path):
    padding = "<!-- " + "x" * (metadata.XMP_MAX_BYTES + 10) + " -->"
    packet = xmp_packet(source_type(AI_URI), padding)
    ev = check(read_metadata(png(tmp_path / "big.png", itxt={"XML:com.adobe.xmp": packet.decode()})), "declared-ai")
    assert any("pattern only" in p for p in ev["problems"])


def test_garbage_app11_is_no_manifest(tmp_path):
    path = jpeg(tmp_path / "g.jpg", segments=(segment(0xEB, bytes(random.Random(0).randbytes(500))),))
    ev = check(read_metadata(path), "stripped")
    assert ev["provenance"]["c2pa_manifest"] is False and "app11" in ev["containers"]
    assert any("without a C2PA manifest" in p for p in ev["problems"])


@pytest.mark.parametrize("damage", ["cut_claim", "bad_cbor_length", "no_generator"])
def test_damaged_c2pa_store_still_counts_as_present(tmp_path, damage):
    store = c2pa_store("Adobe Photoshop 25.0")
    if damage == "cut_claim":
        store = store[: store.index(b"claim_generator") + 18]
    elif damage == "bad_cbor_length":
        at = store.index(b"\x6fclaim_generator") + 16
        store = store[:at] + b"\x7b\xff\xff\xff\xff\xff\xff\xff\xff" + store[at + 1:]
    else:
        store = store.replace(b"claim_generator", b"claim_xenerator")
    ev = check(read_metadata(jpeg(tmp_path / "d.jpg", segments=(app11(store),))), "edited")
    assert ev["provenance"]["c2pa_manifest"] is True and ev["provenance"]["c2pa"]["state"] == "unreadable"
    assert ev["provenance"]["c2pa_claim_generator"] is None


def test_zero_length_and_empty_chunks(tmp_path):
    path = raw_png(tmp_path / "z.png", (b"tEXt", b""), (b"zTXt", b""), (b"iTXt", b""), (b"eXIf", b""),
                   (b"caBX", b""), (b"tEXt", b"parameters\x00"))
    ev = check(read_metadata(path), "generator-metadata")  # an empty "parameters" key is still that key
    assert ev["generator"]["parameters"] == {"parameters": ""}


def test_zero_length_jpeg_segments(tmp_path):
    data = jpeg(tmp_path / "j.jpg").read_bytes()
    for length in (b"\x00\x00", b"\x00\x01", b"\x00\x02"):
        path = tmp_path / f"len{length[1]}.jpg"
        path.write_bytes(data[:2] + b"\xff\xe1" + length + data[2:])
        check(read_metadata(path), "stripped")


def test_huge_text_chunk_is_cut(tmp_path):
    path = raw_png(tmp_path / "huge.png", (b"tEXt", b"parameters\x00" + b"Steps: 1, " * 300_000))
    ev = check(read_metadata(path), "generator-metadata")
    assert len(ev["generator"]["parameters"]["parameters"]) == metadata.EXCERPT_CHARS


def test_zlib_bomb_text_chunk_is_bounded(tmp_path):
    bomb = zlib.compress(b"A" * (200 * 1024 * 1024), 9)  # 200 MB of text in about 200 kB
    path = raw_png(tmp_path / "zbomb.png", (b"zTXt", b"Comment\x00\x00" + bomb),
                   (b"iTXt", b"parameters\x00\x01\x00\x00\x00" + bomb))
    ev = check(read_metadata(path), "generator-metadata")
    assert set(ev["text_fields"]) == {"Comment", "parameters"}


def test_damaged_compressed_text_is_a_problem_not_an_error(tmp_path):
    path = raw_png(tmp_path / "bad.png", (b"zTXt", b"parameters\x00\x00not zlib at all"))
    ev = check(read_metadata(path), "generator-metadata")
    assert any("compressed text" in p for p in ev["problems"])


def test_chunk_that_overruns_the_file(tmp_path):
    data = png(tmp_path / "p.png", texts={"Software": "GIMP 2.10"}).read_bytes()
    at = data.index(b"tEXt") - 4
    path = tmp_path / "overrun.png"
    path.write_bytes(data[:at] + struct.pack(">I", 0x7FFFFFFF) + data[at + 4:])
    ev = check(read_metadata(path), "edited")
    assert any("overruns" in p for p in ev["problems"])


@pytest.mark.parametrize("exif_bytes", [
    b"", b"MM\x00*", b"II*\x00\xff\xff\xff\xff", b"MM\x00*\x00\x00\x00\x08\xff\xff", b"XX" + bytes(range(256)) * 4,
    # IFD0 -> Exif IFD -> a UserComment whose offset points past the end
    (b"II*\x00\x08\x00\x00\x00\x01\x00\x69\x87\x04\x00\x01\x00\x00\x00\x1a\x00\x00\x00\x00\x00\x00\x00"
     b"\x01\x00\x86\x92\x07\x00\x00\x01\x00\x00\xff\xff\x00\x00"),
])
def test_corrupt_exif_blocks(tmp_path, exif_bytes):
    path = jpeg(tmp_path / "e.jpg", segments=(segment(0xE1, b"Exif\x00\x00" + exif_bytes),))
    assert check(read_metadata(path), "stripped")["camera"]["make"] is None


def test_exifread_raising_anything_is_caught(tmp_path, monkeypatch):
    def boom(*args, **kwargs):
        raise RecursionError("hostile IFD chain")

    monkeypatch.setattr(metadata.exifread, "process_file", boom)
    path = jpeg(tmp_path / "x.jpg", camera_exif(), (xmp_app1(xmp_packet(source_type(AI_URI))),))
    ev = check(read_metadata(path), "declared-ai")  # the XMP is still read
    assert ev["problems"] == ["exif: RecursionError: hostile IFD chain"]


def test_a_bug_in_the_reader_gives_an_empty_summary_not_an_exception(tmp_path, monkeypatch):
    monkeypatch.setattr(metadata, "_summarise", lambda found: 1 / 0)
    meta = check(read_metadata(jpeg(tmp_path / "x.jpg")), "")
    assert meta["problems"] == ["metadata not read (ZeroDivisionError: division by zero)"]


@pytest.mark.parametrize("content", [b"", b"\xff\xd8", b"\x89PNG\r\n\x1a\n", b"RIFF\x00\x00\x00\x00WEBP",
                                     b"RIFF\x10\x00\x00\x00WEBPXMP \xff\xff\xff\xff<x:xmpmeta", b"not an image\n",
                                     b"\xff\xd8\xff", b"\xff\xd8\xff\xe1"])
def test_tiny_and_non_image_files_are_stripped(tmp_path, content):
    path = tmp_path / "f.bin"
    path.write_bytes(content)
    check(read_metadata(path), "stripped")


def test_unopenable_paths_give_an_empty_summary(tmp_path):
    for path in (tmp_path / "missing.jpg", tmp_path, "bad\x00name.jpg"):
        meta = read_metadata(path)
        assert meta.summary == "" and meta.evidence["problems"][0].startswith("cannot open")


def test_only_the_head_of_a_file_is_read(tmp_path):
    assert HEAD_BYTES == 16 * 1024 * 1024
    data = jpeg(tmp_path / "h.jpg").read_bytes()
    path = tmp_path / "long.jpg"
    path.write_bytes(data + b"\x00" * HEAD_BYTES + xmp_packet(source_type(AI_URI)))  # past the first 16 MB
    assert check(read_metadata(path), "stripped")["containers"] == []


def test_random_damage_never_raises(tmp_path):
    rich = [
        jpeg(tmp_path / "a.jpg", camera_exif(software="GIMP", user_comment=b"UNICODE\x00" + A1111.encode("utf-16-be")),
             (xmp_app1(xmp_packet(source_type(AI_URI), creator_tool("x"))), app11(c2pa_store(source=AI_URI)))),
        png(tmp_path / "b.png", texts={"parameters": A1111}, itxt={"XML:com.adobe.xmp": xmp_packet().decode()},
            chunks=((b"caBX", c2pa_store()),), exif=camera_exif()),
    ]
    rng = random.Random(0)
    for source in rich:
        data = bytearray(source.read_bytes())
        for i in range(150):
            damaged = bytearray(data)
            for _ in range(rng.randint(1, 12)):
                damaged[rng.randrange(len(damaged))] = rng.randrange(256)
            if i % 3 == 0:
                damaged = damaged[: rng.randrange(len(damaged))]
            path = tmp_path / f"fuzz{source.suffix}"
            path.write_bytes(bytes(damaged))
            meta = read_metadata(path)
            assert meta.summary in SUMMARIES, meta.evidence
            json.dumps(meta.evidence, allow_nan=False)


def test_metadata_is_frozen_and_hashable():
    meta = Metadata("camera", {"basis": "x"})
    assert hash(meta) == hash(Metadata("camera", {"basis": "y"}))
    with pytest.raises(AttributeError):
        meta.summary = "stripped"
