"""Plain step-by-step reference cells (the equations of Levy et al. 2018, one frame at a time).

Used only by the tests: each takes a :class:`asr.models.RecurrentLayer`'s
parameters and one unpadded utterance, so it is independent of the fused
kernels, the batching, the padding and the per-utterance reversal.
"""

from __future__ import annotations

import torch

from asr.models import RecurrentLayer


def _direction_params(layer: RecurrentLayer, d: int) -> dict[str, torch.Tensor | None]:
    """This direction's parameters in the layout (i, f, [o], candidate) of the fused layer."""
    H = layer.hidden
    if layer.use_nn_lstm:
        sfx = "_reverse" if d else ""
        lstm = layer.lstm
        w_ih = getattr(lstm, f"weight_ih_l0{sfx}")
        w_hh = getattr(lstm, f"weight_hh_l0{sfx}")
        b = getattr(lstm, f"bias_ih_l0{sfx}") + getattr(lstm, f"bias_hh_l0{sfx}")
        order = torch.cat([torch.arange(0, 2 * H), torch.arange(3 * H, 4 * H), torch.arange(2 * H, 3 * H)])
        proj = getattr(lstm, f"weight_hr_l0{sfx}") if layer.proj else None
        return {"w_ih": w_ih[order], "b": b[order], "w_hh": w_hh[order], "proj": proj, "nonrec": None}
    G = layer.weight_ih.shape[0] // layer.num_directions
    return {
        "w_ih": layer.weight_ih[d * G:(d + 1) * G],
        "b": layer.bias[d * G:(d + 1) * G],
        "w_hh": layer.weight_hh[d] if layer.weight_hh is not None else None,
        "proj": layer.weight_proj[d] if layer.weight_proj is not None else None,
        "nonrec": layer.weight_nonrec[d] if layer.weight_nonrec is not None else None,
    }


def reference_direction(cell: str, x: torch.Tensor, prm: dict[str, torch.Tensor | None], H: int
                        ) -> torch.Tensor:
    """One direction over one utterance x (T, F), frame by frame -> (T, R [+ P])."""
    w_ih, b, w_hh, proj, nonrec = prm["w_ih"], prm["b"], prm["w_hh"], prm["proj"], prm["nonrec"]
    sig = torch.sigmoid
    R = proj.shape[0] if proj is not None else H
    r = x.new_zeros(R)  # recurrent input (h_{t-1} or its projection r_{t-1})
    c = x.new_zeros(H)
    outs = []
    for t in range(x.shape[0]):
        wx = w_ih @ x[t] + b
        if cell == "lstm":
            z = wx + w_hh @ r
            i, f, o, g = sig(z[:H]), sig(z[H:2 * H]), sig(z[2 * H:3 * H]), torch.tanh(z[3 * H:])
            c = i * g + f * c
            m = o * torch.tanh(c)
        elif cell == "lstm-srnn":
            z = wx[:3 * H] + w_hh @ r
            i, f, o = sig(z[:H]), sig(z[H:2 * H]), sig(z[2 * H:3 * H])
            x_tilde = wx[3 * H:]  # linear content layer, input only
            c = i * x_tilde + f * c
            m = o * torch.tanh(c)
        elif cell == "lstm-srnn-out":
            z = wx[:2 * H] + w_hh @ r
            i, f = sig(z[:H]), sig(z[H:])
            c = i * wx[2 * H:] + f * c
            m = torch.tanh(c)
        elif cell == "lstm-srnn-hidden":
            i, f = sig(wx[:H]), sig(wx[H:2 * H])
            c = i * wx[2 * H:] + f * c
            m = torch.tanh(c)
        elif cell == "lstm-gates":
            m = torch.tanh(wx + w_hh @ r)
        else:
            raise ValueError(cell)
        r_t = proj @ m if proj is not None else m
        if cell != "lstm-srnn-hidden":
            r = r_t
        out = [r_t]
        if nonrec is not None:
            out.append(nonrec @ m)
        outs.append(torch.cat(out))
    return torch.stack(outs)


def reference_layer(layer: RecurrentLayer, x: torch.Tensor) -> torch.Tensor:
    """The layer over one unpadded utterance x (T, F) -> (T, output_size)."""
    ys = []
    for d in range(layer.num_directions):
        prm = _direction_params(layer, d)
        xin = x.flip(0) if d else x
        y = reference_direction(layer.cell, xin, prm, layer.hidden)
        ys.append(y.flip(0) if d else y)
    return torch.cat(ys, -1)
