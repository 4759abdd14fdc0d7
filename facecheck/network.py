"""The bare feature-extractor network (plain torch): a compact residual CNN and its pretext heads."""

from __future__ import annotations

import torch
from torch import nn

N_EXIF_TAGS = 4


class _Block(nn.Module):
    """Basic residual block: two 3x3 convolutions, projection shortcut when the shape changes."""

    def __init__(self, c_in: int, c_out: int, stride: int):
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.shortcut = nn.Identity()
        if stride != 1 or c_in != c_out:
            self.shortcut = nn.Sequential(nn.Conv2d(c_in, c_out, 1, stride, bias=False), nn.BatchNorm2d(c_out))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = torch.relu(self.bn1(self.conv1(x)))
        return torch.relu(self.bn2(self.conv2(out)) + self.shortcut(x))


class FaceNet(nn.Module):
    """Residual CNN mapping face crops to an embedding, with EXIF-ranking and manipulation heads.

    Unlike ImageNet ResNets the stem keeps full resolution for one convolution and never
    max-pools, so the high-frequency traces a camera leaves survive into the first stage.
    The embedding pools each final channel by its mean and its standard deviation (texture
    and noise level), then projects to `embed_dim`.

    Parameters
    ----------
    widths : channels of the four stages.
    blocks : residual blocks per stage.
    embed_dim : size of the embedding the GMM models.
    """

    def __init__(
        self,
        widths: tuple[int, ...] = (32, 64, 128, 256),
        blocks: tuple[int, ...] = (1, 2, 2, 2),
        embed_dim: int = 256,
    ):
        super().__init__()
        self.widths, self.blocks, self.embed_dim = tuple(widths), tuple(blocks), int(embed_dim)
        stem_width = max(8, widths[0] // 2)
        self.stem = nn.Sequential(
            nn.Conv2d(3, stem_width, 3, 1, 1, bias=False),
            nn.BatchNorm2d(stem_width),
            nn.ReLU(inplace=True),
            nn.Conv2d(stem_width, widths[0], 3, 2, 1, bias=False),
            nn.BatchNorm2d(widths[0]),
            nn.ReLU(inplace=True),
        )
        layers, c_in = [], widths[0]
        for i, (width, n_blocks) in enumerate(zip(widths, blocks)):
            for j in range(n_blocks):
                layers.append(_Block(c_in, width, 2 if (j == 0 and i > 0) else 1))
                c_in = width
        self.stages = nn.Sequential(*layers)
        self.project = nn.Sequential(nn.Linear(2 * c_in, embed_dim), nn.BatchNorm1d(embed_dim))
        self.exif_head = nn.Linear(embed_dim, N_EXIF_TAGS)
        self.manipulation_head = nn.Linear(embed_dim, 1)

    def config(self) -> dict:
        """Constructor arguments, stored in a bundle's manifest to rebuild the network."""
        return {"widths": list(self.widths), "blocks": list(self.blocks), "embed_dim": self.embed_dim}

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """Map normalised images (N, 3, S, S) to embeddings (N, embed_dim)."""
        maps = self.stages(self.stem(x)).flatten(2)
        pooled = torch.cat([maps.mean(dim=2), maps.std(dim=2, unbiased=False)], dim=1)
        return self.project(pooled)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Return (embedding, EXIF scores (N, 4), manipulation logit (N,))."""
        z = self.embed(x)
        return z, self.exif_head(torch.relu(z)), self.manipulation_head(torch.relu(z)).squeeze(1)
