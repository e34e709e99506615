"""ScaleKD's cross-attention projector (CAP), Fan et al., NeurIPS 2024, arXiv 2411.06786, Sec. 3.1.

Why: a CNN student computes local features on its own grid, a ViT teacher computes global token features on
another grid and width. The CAP turns the student's map into teacher-style tokens: the student map goes through
conv3x3-BN-ReLU and gets a learnable position embedding (keys/values); one query per teacher token position
(a learnable table of the teacher's grid size, or tokens handed in, see ``queries``) goes through a linear
layer + ReLU; queries attend to the student tokens with multi-head attention, then LayerNorm and a 4x FFN
(with a residual) give tokens of the teacher's width on the teacher's grid.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class CrossAttention(nn.Module):
    """Multi-head attention of ``queries`` (B, Nq, D) over ``context`` (B, Nk, D), projected to ``out_dim``."""

    def __init__(self, dim: int, num_heads: int, out_dim: int) -> None:
        super().__init__()
        if dim % num_heads:
            raise ValueError(f"projector width {dim} is not divisible by num_heads={num_heads}")
        self.num_heads = num_heads
        self.q = nn.Linear(dim, dim)
        self.kv = nn.Linear(dim, 2 * dim)
        self.out = nn.Linear(dim, out_dim)

    def forward(self, queries: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
        b, nq, d = queries.shape
        heads = self.num_heads
        q = self.q(queries).reshape(b, nq, heads, d // heads).transpose(1, 2)
        k, v = self.kv(context).reshape(b, context.shape[1], 2, heads, d // heads).permute(2, 0, 3, 1, 4)
        attended = F.scaled_dot_product_attention(q, k, v)
        return self.out(attended.transpose(1, 2).reshape(b, nq, d))


class CrossAttentionProjector(nn.Module):
    """Student map (B, C_s, H_s, W_s) -> teacher-style tokens (B, H_t*W_t, C_t), row-major over the grid.

    ``width`` is the attention width (the paper uses the teacher's width). ``learned_queries=False`` builds no
    query table: the caller then passes ``queries`` (B, H_t*W_t, C_t) to :meth:`forward` (ScaleKD's stage-4
    projectors take the teacher-parameter-perception path's outputs as queries).
    """

    def __init__(
        self,
        student_channels: int,
        student_grid: tuple[int, int],
        teacher_channels: int,
        teacher_grid: tuple[int, int],
        width: int,
        num_heads: int,
        learned_queries: bool = True,
    ) -> None:
        super().__init__()
        self.teacher_tokens = teacher_grid[0] * teacher_grid[1]
        self.teacher_channels = teacher_channels
        self.student = nn.Sequential(
            nn.Conv2d(student_channels, width, 3, padding=1, bias=False), nn.BatchNorm2d(width), nn.ReLU(inplace=True)
        )
        self.pos_embed = nn.Parameter(torch.zeros(1, student_grid[0] * student_grid[1], width))
        nn.init.trunc_normal_(self.pos_embed, std=0.02)
        self.query_table = nn.Embedding(self.teacher_tokens, teacher_channels) if learned_queries else None
        self.query = nn.Sequential(nn.Linear(teacher_channels, width), nn.ReLU(inplace=True))
        self.attention = CrossAttention(width, num_heads, teacher_channels)
        self.norm = nn.LayerNorm(teacher_channels)
        self.ffn = nn.Sequential(
            nn.Linear(teacher_channels, 4 * teacher_channels),
            nn.GELU(),
            nn.Linear(4 * teacher_channels, teacher_channels),
        )

    def forward(self, student_map: torch.Tensor, queries: torch.Tensor | None = None) -> torch.Tensor:
        context = self.student(student_map).flatten(2).transpose(1, 2) + self.pos_embed
        if queries is None:
            if self.query_table is None:
                raise ValueError("this projector has no query table: pass queries")
            queries = self.query_table.weight.expand(student_map.shape[0], -1, -1)
        if queries.shape[1:] != (self.teacher_tokens, self.teacher_channels):
            raise ValueError(
                f"queries of shape {tuple(queries.shape[1:])}, expected {(self.teacher_tokens, self.teacher_channels)}"
            )
        tokens = self.norm(self.attention(self.query(queries), context))
        return tokens + self.ffn(tokens)
