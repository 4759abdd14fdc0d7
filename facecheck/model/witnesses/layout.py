"""FaceNet's architecture in numbers: its blocks, widths and state shapes, shared by the numpy network that
scans (`appearance.py`) and the torch network that trains (`facenet.py`)."""

from __future__ import annotations

# More residual blocks than any sane FaceNet: refused before anything is built.
MAX_BLOCKS = 64
MAX_WIDTH = 4096
BN_KEYS = ("weight", "bias", "running_mean", "running_var", "num_batches_tracked")


def stem_width(widths: tuple[int, ...]) -> int:
    """Channels of FaceNet's first (full-resolution) convolution."""
    return max(8, widths[0] // 2)


def block_layout(widths: tuple[int, ...], blocks: tuple[int, ...]) -> list[tuple[int, int, int]]:
    """(c_in, c_out, stride) of each of FaceNet's residual blocks, in order: the first block of every stage
    after the first halves the resolution; a block whose stride or width changes has a projection shortcut."""
    out, c_in = [], widths[0]
    for stage, (width, n) in enumerate(zip(widths, blocks)):
        for j in range(n):
            out.append((c_in, width, 2 if (j == 0 and stage > 0) else 1))
            c_in = width
    return out


def state_shapes(widths: tuple[int, ...], blocks: tuple[int, ...], embed_dim: int, n_tags: int = 4) -> dict[str, tuple]:
    """The state_dict FaceNet(widths, blocks, embed_dim) has: {key: shape}, computed without torch."""
    shapes: dict[str, tuple] = {}

    def conv(key: str, c_in: int, c_out: int, k: int) -> None:
        shapes[f"{key}.weight"] = (c_out, c_in, k, k)

    def bn(key: str, c: int) -> None:
        shapes.update({f"{key}.{p}": (c,) for p in BN_KEYS[:4]} | {f"{key}.num_batches_tracked": ()})

    stem = stem_width(widths)
    conv("stem.0", 3, stem, 3), bn("stem.1", stem), conv("stem.3", stem, widths[0], 3), bn("stem.4", widths[0])
    layout = block_layout(widths, blocks)
    for i, (c_in, width, stride) in enumerate(layout):
        p = f"stages.{i}"
        conv(f"{p}.conv1", c_in, width, 3), bn(f"{p}.bn1", width), conv(f"{p}.conv2", width, width, 3), bn(f"{p}.bn2", width)
        if stride != 1 or c_in != width:
            conv(f"{p}.shortcut.0", c_in, width, 1), bn(f"{p}.shortcut.1", width)
    c_out = layout[-1][1] if layout else widths[0]
    shapes["project.0.weight"], shapes["project.0.bias"] = (embed_dim, 2 * c_out), (embed_dim,)
    bn("project.1", embed_dim)
    shapes["exif_head.weight"], shapes["exif_head.bias"] = (n_tags, embed_dim), (n_tags,)
    shapes["manipulation_head.weight"], shapes["manipulation_head.bias"] = (1, embed_dim), (1,)
    return shapes
