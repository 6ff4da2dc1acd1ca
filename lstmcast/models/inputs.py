"""What the columns of a window are, and how they reach the LSTMs. A window x [B, T, C] holds, in order: the
values (target and past covariates), the future-known calendar features of each step's date and of its next H dates
(K per date), and one integer code per static covariate (the series id, a sector). The encoder reads the values and
the calendar as they are and each static code through a learned embedding; a seq2seq decoder reads, at forecast
step k, the calendar of that step's date (from the window's last row) and the same embeddings."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from lstmcast.config import RunConfig


@dataclass(frozen=True)
class InputLayout:
    """`plain` columns fed as they are (the last known * (horizon + 1) of them the calendar), then one code column per
    entry of `categories` (how many values that static covariate takes)."""

    plain: int
    known: int = 0
    categories: tuple[int, ...] = ()
    embedding: int = 4

    @classmethod
    def of(cls, config: RunConfig, categories: tuple[int, ...] = ()) -> "InputLayout":
        """The layout of a config's windows; `categories` from the panel the model is trained on (or was)."""
        data, known = config.data, len(config.data.known_columns)
        return cls(plain=len(data.columns) + known * (data.horizon + 1), known=known, categories=tuple(categories),
                   embedding=config.model.embedding_size)

    @property
    def columns(self) -> int:
        return self.plain + len(self.categories)

    @property
    def embedded(self) -> int:
        return len(self.categories) * self.embedding


class ModelInputs(nn.Module):
    """The encoder's input from a window, and the decoder's extra input per forecast step. With neither calendar nor
    static covariates both are the identity and nothing: old runs' models are unchanged, weights included."""

    def __init__(self, layout: InputLayout, horizon: int) -> None:
        super().__init__()
        self.layout, self.horizon = layout, horizon
        self.embeddings = nn.ModuleList(nn.Embedding(count, layout.embedding) for count in layout.categories)

    @property
    def encoder_size(self) -> int:
        return self.layout.plain + self.layout.embedded

    @property
    def decoder_extra(self) -> int:
        return self.layout.known + self.layout.embedded

    def encoder(self, x: Tensor) -> Tensor:
        """x [B, T, C] -> the encoder's input [B, T, plain + embedded]."""
        if not self.layout.categories:
            return x
        plain = self.layout.plain
        codes = x[..., plain:].long()
        parts = [embed(codes[..., i]) for i, embed in enumerate(self.embeddings)]
        return torch.cat([x[..., :plain], *(part.to(x.dtype) for part in parts)], dim=-1)

    def decoder(self, last: Tensor, steps: int) -> Tensor | None:
        """From each window's last row [B, C]: the decoder's extra input per step [B, steps, known + embedded] (the
        calendar of step k's date, then the static embeddings), or None when there is none."""
        layout = self.layout
        if not self.decoder_extra:
            return None
        if layout.known and steps > self.horizon:
            raise ValueError(f"the calendar covariates reach {self.horizon} steps ahead; forecast at most that many")
        parts = []
        if layout.known:
            leads = last[:, layout.plain - layout.known * self.horizon : layout.plain]
            parts.append(leads.unflatten(-1, (self.horizon, layout.known))[:, :steps])
        if layout.categories:
            codes = last[:, layout.plain:].long()
            embedded = torch.cat([embed(codes[:, i]) for i, embed in enumerate(self.embeddings)], dim=-1)
            parts.append(embedded.to(last.dtype)[:, None].expand(-1, steps, -1))
        return torch.cat(parts, dim=-1)
