"""Hand-made CTC posteriors and a small corpus, shared by the lexicon and TLG decoder tests."""

from __future__ import annotations

import torch

from asr.text import BLANK, WORD_SEP

SENTENCES = ["THE CAT SAT", "THE CAT SAT ON THE MAT", "A CAT SAT", "THE CAT", "THE HAT", "IN TO", "INTO THE HAT",
             "GO IN", "GO TO THE MAT", "THAT CAT SAT", "THE CATS SAT"]
CHARS = "ABCEGHIMNOPSTU"


def posteriors(tok, frames: list, p: float = 0.9) -> torch.Tensor:
    """(T, V) log-posteriors: a frame is a unit name (probability p) or {unit: probability};
    the remaining mass is spread evenly over the other units."""
    V = tok.vocab_size
    rows = []
    for fr in frames:
        probs = {fr: p} if isinstance(fr, str) else dict(fr)
        rest = (1.0 - sum(probs.values())) / (V - len(probs))
        row = torch.full((V,), rest, dtype=torch.float64)
        for unit, q in probs.items():
            row[tok.tokens.index(unit)] = q
        rows.append(row.log())
    return torch.stack(rows).float()


def spell(units: list[str]) -> list[str]:
    """Each unit for one frame followed by a blank frame."""
    out = []
    for u in units:
        out += [u, BLANK]
    return out


def chars(text: str) -> list[str]:
    return list(text.replace(" ", WORD_SEP))
