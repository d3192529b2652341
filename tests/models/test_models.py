"""Tests for asr.models: fused cells against step-by-step references, padding invariance, model API.

The references are plain step-by-step cells (the equations of Levy et al. 2018,
one frame at a time) that read a RecurrentLayer's parameters and process one
unpadded utterance, so they are independent of the fused kernels, the
batching, the padding and the per-utterance reversal.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import pytest
import torch

from asr.config import ConfigError, from_dict
from asr.models import CELL_TYPES, AcousticModel, Encoder, EncoderConfig, RecurrentLayer, build_model, reverse_padded


# ---- step-by-step references ----
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


# ---- tests ----
@pytest.fixture(autouse=True, scope="module")
def _one_thread() -> Iterator[None]:
    """Tiny tensors: one thread is faster, and steadier on a shared machine."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


DTYPE = torch.float64  # exact comparisons; the fused kernels are dtype-generic


def _batch(lens: list[int], F: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(max(lens), len(lens), F, generator=g, dtype=DTYPE)
    x_lens = torch.tensor(lens)
    for b, n in enumerate(lens):
        x[n:, b] = 0.0
    return x, x_lens


CONFIGS = [(cell, bi, proj, nonrec) for cell in CELL_TYPES for bi in (False, True)
           for proj, nonrec in ((0, 0), (5, 0), (5, 3))]


@pytest.mark.parametrize("cell,bi,proj,nonrec", CONFIGS)
def test_layer_matches_reference_and_is_padding_invariant(cell: str, bi: bool, proj: int, nonrec: int) -> None:
    torch.manual_seed(0)
    layer = RecurrentLayer(cell, 4, 7, proj=proj, nonrec_proj=nonrec, bidirectional=bi).to(DTYPE)
    lens = [9, 4, 1, 6]
    x, x_lens = _batch(lens, 4)
    x.requires_grad_(True)
    y = layer(x, x_lens)  # (T, B, O)
    assert y.shape == (9, 4, layer.output_size)
    assert layer.output_size == (2 if bi else 1) * ((proj or 7) + nonrec)
    w = torch.randn_like(y)
    (y * w).sum().backward()
    grads = {n: p.grad.clone() for n, p in layer.named_parameters()}
    gx = x.grad.clone()
    layer.zero_grad()
    for b, n in enumerate(lens):
        xb = x.detach()[:n, b].clone().requires_grad_(True)
        ref = reference_layer(layer, xb)
        torch.testing.assert_close(y[:n, b], ref)  # batched == alone, == reference
        assert torch.all(y[n:, b] == 0)
        (ref * w[:n, b]).sum().backward()
        torch.testing.assert_close(gx[:n, b], xb.grad)
    for name, p in layer.named_parameters():
        torch.testing.assert_close(grads[name], p.grad, msg=name)


@pytest.mark.parametrize("cell", CELL_TYPES)
def test_gradcheck_fused(cell: str) -> None:
    """Numerical gradients of the hand-written backward pass (bidirectional, both projections)."""
    torch.manual_seed(1)
    layer = RecurrentLayer(cell, 2, 3, proj=2, nonrec_proj=1, bidirectional=True).to(DTYPE)
    x, x_lens = _batch([4, 2], 2)
    names = [n for n, _ in layer.named_parameters()]

    def f(x: torch.Tensor, *ps: torch.Tensor) -> torch.Tensor:
        return torch.func.functional_call(layer, dict(zip(names, ps)), (x, x_lens))

    assert torch.autograd.gradcheck(f, (x.requires_grad_(True), *layer.parameters()))


def test_forget_bias_init() -> None:
    for cell in CELL_TYPES:
        layer = RecurrentLayer(cell, 3, 4, forget_bias=2.5)
        if layer.use_nn_lstm:
            b = layer.lstm.bias_ih_l0 + layer.lstm.bias_hh_l0
        else:
            b = layer.bias
        if cell == "lstm-gates":
            assert not torch.all(b == 2.5)
        else:
            assert torch.all(b[4:8] == 2.5), cell


def test_reverse_padded_is_involution() -> None:
    x = torch.arange(12.0).reshape(4, 3, 1)
    lens = torch.tensor([4, 2, 1])
    y = reverse_padded(x, lens)
    assert y[:, 0, 0].tolist() == [9.0, 6.0, 3.0, 0.0]
    assert y[:, 1, 0].tolist() == [4.0, 1.0, 7.0, 10.0]
    assert torch.equal(reverse_padded(y, lens), x)


@pytest.mark.parametrize("cell", CELL_TYPES)
@pytest.mark.parametrize("bi", [False, True])
def test_model_padding_invariance_with_stacking(cell: str, bi: bool) -> None:
    torch.manual_seed(0)
    cfg = EncoderConfig(cell=cell, hidden=8, proj=4, layers=2, bidirectional=bi, stack=3, subsample=2,
                        delay=0 if bi else 2)
    model = build_model(cfg, 5, 6).to(DTYPE).eval()
    lens = [13, 7, 2]
    x = torch.randn(3, 13, 5, dtype=DTYPE)
    for b, n in enumerate(lens):
        x[b, n:] = 0
    logits, out_lens = model(x, torch.tensor(lens))
    assert logits.shape == (3, 7, 6)
    assert out_lens.tolist() == [7, 4, 1]
    for b, n in enumerate(lens):
        alone, alone_lens = model(x[b:b + 1, :n], torch.tensor([n]))
        assert alone_lens.item() == out_lens[b]
        torch.testing.assert_close(logits[b, :out_lens[b]], alone[0])


def test_delay_shifts_outputs() -> None:
    torch.manual_seed(0)
    base = EncoderConfig(cell="lstm-srnn", hidden=8, layers=1)
    m0 = build_model(base, 3, 4).to(DTYPE)
    m2 = build_model(dataclasses.replace(base, delay=2), 3, 4).to(DTYPE)
    m2.load_state_dict(m0.state_dict())
    x = torch.randn(1, 6, 3, dtype=DTYPE)
    y0, _ = m0(x, torch.tensor([6]))
    y2, lens = m2(x, torch.tensor([6]))
    assert lens.tolist() == [6]
    # output t of the delayed model is output t + 2 of the plain one...
    torch.testing.assert_close(y2[0, :4], y0[0, 2:])
    # ...and the last outputs see the last frame repeated
    x_ext = torch.cat([x, x[:, -1:].expand(1, 2, 3)], 1)
    y_ext, _ = m0(x_ext, torch.tensor([8]))
    torch.testing.assert_close(y2[0], y_ext[0, 2:])
    # output t does not depend on frames after t + 2
    x_late = x.clone()
    x_late[0, 5] += 1.0
    y_late, _ = m2(x_late, torch.tensor([6]))
    torch.testing.assert_close(y_late[0, :3], y2[0, :3])
    assert not torch.allclose(y_late[0, 3], y2[0, 3])


def test_model_api_and_parameter_count() -> None:
    cfg = EncoderConfig(hidden=16, proj=8, layers=2, bidirectional=True, lstm_impl="fused")
    model = build_model(cfg, 10, 5)
    assert isinstance(model, AcousticModel)
    assert model.subsample == 1
    expected = 0
    for k in range(2):
        F = 10 if k == 0 else 16
        expected += 2 * (4 * 16 * F + 4 * 16 * 8 + 4 * 16 + 8 * 16)  # ih, hh, bias, proj (fused layout)
    expected += 16 * 5 + 5
    assert model.num_parameters() == expected
    # torch.nn.LSTM keeps two bias vectors per gate block
    on_torch = build_model(dataclasses.replace(cfg, lstm_impl="torch"), 10, 5)
    assert on_torch.num_parameters() == expected + 2 * 2 * 4 * 16
    custom = build_model(dataclasses.replace(cfg, cell="lstm-srnn-hidden"), 10, 5)
    expected = sum(2 * (3 * 16 * F + 3 * 16 + 8 * 16) for F in (10, 16)) + 16 * 5 + 5
    assert custom.num_parameters() == expected


def test_dropout_between_layers_only_in_training() -> None:
    model = build_model(EncoderConfig(cell="lstm-gates", hidden=8, layers=3, dropout=0.5), 3, 4)
    x, lens = torch.randn(2, 5, 3), torch.tensor([5, 4])
    model.eval()
    torch.testing.assert_close(model(x, lens)[0], model(x, lens)[0])
    model.train()
    assert not torch.allclose(model(x, lens)[0], model(x, lens)[0])


def test_config_validation() -> None:
    with pytest.raises(ValueError, match="cell"):
        EncoderConfig(cell="gru")
    with pytest.raises(ValueError, match="delay"):
        EncoderConfig(bidirectional=True, delay=1)
    with pytest.raises(ValueError, match="proj"):
        EncoderConfig(hidden=8, proj=8)
    with pytest.raises(ConfigError, match="cell"):
        from_dict(EncoderConfig, {"cell": "lstm-foo"})
    cfg = from_dict(EncoderConfig, {"cell": "lstm-srnn-out", "proj": "64", "bidirectional": "true"})
    assert cfg.proj == 64 and cfg.bidirectional


def test_cell_types_train() -> None:
    """A few optimiser steps lower the loss for every cell type (the gradients are usable)."""
    torch.manual_seed(0)
    x, lens = torch.randn(4, 8, 5), torch.tensor([8, 7, 6, 5])
    target = torch.randint(0, 3, (4, 8))
    for cell in CELL_TYPES:
        model = build_model(EncoderConfig(cell=cell, hidden=8, proj=4, layers=2), 5, 3)
        opt = torch.optim.Adam(model.parameters(), lr=0.05)
        losses = []
        for _ in range(8):
            logits, _ = model(x, lens)
            loss = torch.nn.functional.cross_entropy(logits.reshape(-1, 3), target.reshape(-1))
            opt.zero_grad()
            loss.backward()
            opt.step()
            losses.append(loss.item())
        assert losses[-1] < losses[0] * 0.9, cell


@pytest.mark.gpu
@pytest.mark.parametrize("cell", CELL_TYPES)
def test_cuda_matches_cpu(cell: str) -> None:
    torch.manual_seed(0)
    model = build_model(EncoderConfig(cell=cell, hidden=16, proj=8, layers=2, bidirectional=True), 5, 4)
    x, lens = torch.randn(3, 9, 5), torch.tensor([9, 6, 2])
    y_cpu, _ = model(x, lens)
    y_cpu.sum().backward()
    g_cpu = [p.grad.clone() for p in model.parameters()]
    model.zero_grad()
    model.cuda()
    y_gpu, _ = model(x.cuda(), lens.cuda())
    y_gpu.sum().backward()
    for b, n in enumerate(lens.tolist()):
        torch.testing.assert_close(y_gpu[b, :n].cpu(), y_cpu[b, :n], atol=1e-4, rtol=1e-4)
    for p, g in zip(model.parameters(), g_cpu):
        torch.testing.assert_close(p.grad.cpu(), g, atol=1e-3, rtol=1e-3)


# ---- recurrent state in and out ----


STATE_CONFIGS = [(cell, proj, nonrec, layers, "auto") for cell in CELL_TYPES for proj in (0, 5)
                 for nonrec in (0, 3) for layers in (1, 3)] + [("lstm", 5, 0, 3, "torch"), ("lstm", 0, 0, 3, "fused")]


def _chunked(enc, x: torch.Tensor, bounds: list[int]):
    """Run ``enc`` chunk by chunk over (T, B, F) input, carrying the state; returns the outputs and the state."""
    state, outs = None, []
    for a, b in zip(bounds[:-1], bounds[1:]):
        y, state = enc.forward_state(x[a:b], torch.full((x.shape[1],), b - a), state)
        outs.append(y)
    return torch.cat(outs), state


@pytest.mark.parametrize("cell,proj,nonrec,layers,impl", STATE_CONFIGS)
def test_state_carried_over_chunks_equals_the_whole_utterance(cell: str, proj: int, nonrec: int,
                                                              layers: int, impl: str) -> None:
    """4 chunks with carried state == one call over the whole utterance, on both code paths."""
    torch.manual_seed(2)
    cfg = EncoderConfig(cell=cell, hidden=7, proj=proj, nonrec_proj=nonrec, layers=layers, lstm_impl=impl)
    enc = Encoder(cfg, 4).to(DTYPE).eval()
    on_torch = cell == "lstm" and nonrec == 0 and (impl == "torch" or (impl == "auto" and proj == 0))  # uni
    assert enc.layers[0].use_nn_lstm == on_torch  # both code paths are covered
    T = 17
    x = torch.randn(T, 2, 4, dtype=DTYPE)
    full_lens = torch.tensor([T, T])
    whole, whole_state = enc.forward_state(x, full_lens)
    chunked, state = _chunked(enc, x, [0, 3, 8, 12, T])
    torch.testing.assert_close(chunked, whole)
    for (h1, c1), (h2, c2) in zip(state, whole_state):
        torch.testing.assert_close(h1, h2)
        torch.testing.assert_close(c1, c2)
    # The state of a shorter utterance in a padded batch is taken at its own last frame.
    n = 11
    _, alone = enc.forward_state(x[:n, :1], torch.tensor([n]))
    _, batched = enc.forward_state(x, torch.tensor([n, T]))
    for (h1, c1), (h2, c2) in zip(alone, batched):
        torch.testing.assert_close(h1[:, 0], h2[:, 0])
        if cell != "lstm-gates":  # an Elman layer has no cell state
            torch.testing.assert_close(c1[:, 0], c2[:, 0])


@pytest.mark.parametrize("cell", CELL_TYPES)
def test_gradcheck_fused_with_initial_state(cell: str) -> None:
    """Gradients of the hand-written backward pass flow into the initial state and out of the final one."""
    torch.manual_seed(3)
    layer = RecurrentLayer(cell, 2, 3, proj=2, nonrec_proj=1).to(DTYPE)
    x, x_lens = _batch([4, 2], 2)
    R = 2 if cell != "lstm-srnn-hidden" else 3
    h0 = torch.randn(1, 2, R, dtype=DTYPE, requires_grad=True)
    c0 = torch.randn(1, 2, 3, dtype=DTYPE, requires_grad=True)

    def f(x: torch.Tensor, h0: torch.Tensor, c0: torch.Tensor) -> tuple[torch.Tensor, ...]:
        y, (h, c) = layer.forward_state(x, x_lens, (h0, c0))
        return y, h, c

    assert torch.autograd.gradcheck(f, (x.requires_grad_(True), h0, c0))


def test_model_state_api() -> None:
    torch.manual_seed(4)
    model = build_model(EncoderConfig(hidden=6, layers=2), 4, 5).eval()
    x = torch.randn(2, 10, 4)
    lens = torch.tensor([10, 10])
    logits, out_lens, state = model.forward_state(x, lens)
    a, _, state_a = model.forward_state(x[:, :6], torch.tensor([6, 6]))
    b, _, _ = model.forward_state(x[:, 6:], torch.tensor([4, 4]), state_a)
    torch.testing.assert_close(torch.cat([a, b], 1), logits)
    delayed = build_model(EncoderConfig(hidden=6, layers=1, delay=2), 4, 5)
    with pytest.raises(ValueError, match="delay"):
        delayed.forward_state(x, lens, delayed.forward_state(x, lens)[2])


@pytest.mark.parametrize("bi", [False, True])
@pytest.mark.parametrize("proj", [0, 6])
def test_torch_lstm_weights_load_into_the_fused_layout(bi, proj):
    """A model saved on torch.nn.LSTM (lstm_impl=torch, or an LSTMP of before) loads into the fused layers."""
    torch.manual_seed(0)
    cfg = EncoderConfig(cell="lstm", hidden=10, proj=proj, layers=3, bidirectional=bi, lstm_impl="torch")
    ref = build_model(cfg, 7, 5).eval()
    fused = build_model(dataclasses.replace(cfg, lstm_impl="fused"), 7, 5).eval()
    assert ref.encoder.layers[0].use_nn_lstm and not fused.encoder.layers[0].use_nn_lstm
    fused.load_state_dict(ref.state_dict())
    x, lens = torch.randn(3, 9, 7), torch.tensor([9, 4, 1])
    want, _ = ref(x, lens)
    got, _ = fused(x, lens)
    for b, n in enumerate(lens.tolist()):
        torch.testing.assert_close(got[b, :n], want[b, :n], atol=1e-5, rtol=1e-5)


def test_lstmp_runs_fused_by_default():
    assert not build_model(EncoderConfig(cell="lstm", hidden=8, proj=4, layers=1), 3, 2).encoder.layers[0].use_nn_lstm
    bi = EncoderConfig(cell="lstm", hidden=8, proj=4, layers=1, bidirectional=True)
    assert build_model(bi, 3, 2).encoder.layers[0].use_nn_lstm  # torch's bidirectional LSTMP is the faster
    assert not build_model(dataclasses.replace(bi, gate_norm=True), 3, 2).encoder.layers[0].use_nn_lstm
    assert build_model(EncoderConfig(cell="lstm", hidden=8, layers=1), 3, 2).encoder.layers[0].use_nn_lstm
    with pytest.raises(ValueError, match="lstm_impl"):
        EncoderConfig(cell="lstm-srnn", lstm_impl="torch")
    with pytest.raises(ValueError, match="lstm_impl"):
        EncoderConfig(lstm_impl="cudnn")


def _reference_lstmp(layer: RecurrentLayer, x: torch.Tensor, cell_clip: float, grad_clip: float,
                     proj_clip: float = 0.0) -> torch.Tensor:
    """A step-by-step autograd LSTMP (one direction) with cell clipping, recurrent-derivative clipping and
    clipping of the projection's output."""
    H = layer.hidden
    U, P = layer.weight_hh[0], layer.weight_proj[0]
    gx = x @ layer.weight_ih.t() + layer.bias
    r = x.new_zeros(x.shape[1], P.shape[0])
    c = x.new_zeros(x.shape[1], H)
    outs = []

    def clip(g: torch.Tensor) -> torch.Tensor:
        return g * (grad_clip / g.norm(dim=-1, keepdim=True).clamp(min=1e-30)).clamp(max=1.0)

    for t in range(x.shape[0]):
        r_in = r.clone()
        if grad_clip > 0 and r_in.requires_grad:
            r_in.register_hook(clip)
        a = gx[t] + r_in @ U.t()
        i, f, o, g = a[:, :H].sigmoid(), a[:, H:2 * H].sigmoid(), a[:, 2 * H:3 * H].sigmoid(), a[:, 3 * H:].tanh()
        c = f * c + i * g
        if cell_clip > 0:
            c = c.clamp(-cell_clip, cell_clip)
        r = (o * c.tanh()) @ P.t()
        if proj_clip > 0:
            r = r.clamp(-proj_clip, proj_clip)
        outs.append(r)
    return torch.stack(outs)


def _assert_same_function(layer: RecurrentLayer, x: torch.Tensor, y: torch.Tensor, ref: torch.Tensor
                          ) -> tuple[tuple[torch.Tensor, ...], torch.Tensor]:
    """``y`` (the layer's output) equals ``ref`` in value and in the gradients of x and every parameter
    under a random weighting ``w`` of the outputs; returns the layer's gradients (x first) and ``w``."""
    torch.testing.assert_close(y, ref)
    w = torch.randn_like(y)
    got = torch.autograd.grad((y * w).sum(), [x, *layer.parameters()], retain_graph=True)
    want = torch.autograd.grad((ref * w).sum(), [x, *layer.parameters()])
    for a, b in zip(got, want):
        torch.testing.assert_close(a, b)
    return got, w


@pytest.mark.parametrize("cell_clip,grad_clip", [(0.0, 0.0), (0.4, 0.0), (0.0, 0.05), (0.4, 0.05)])
def test_cell_and_recurrent_gradient_clipping_match_a_reference(cell_clip, grad_clip):
    torch.manual_seed(4)
    layer = RecurrentLayer("lstm", 3, 6, proj=4, cell_clip=cell_clip, grad_clip=grad_clip).to(DTYPE)
    with torch.no_grad():
        layer.weight_ih.mul_(3.0)  # big enough pre-activations that some cells clip
    x = torch.randn(12, 2, 3, dtype=DTYPE, requires_grad=True)
    lens = torch.tensor([12, 12])
    y = layer(x, lens)
    ref = _reference_lstmp(layer, x, cell_clip, grad_clip)
    got, w = _assert_same_function(layer, x, y, ref)
    if cell_clip:  # the clip is reached, so the test covers it
        free = RecurrentLayer("lstm", 3, 6, proj=4).to(DTYPE)
        free.load_state_dict(layer.state_dict())
        assert not torch.allclose(free(x, lens), y)
    if grad_clip:  # and the clipped gradient differs from the exact one
        exact = RecurrentLayer("lstm", 3, 6, proj=4, cell_clip=cell_clip).to(DTYPE)
        exact.load_state_dict(layer.state_dict())
        g_exact = torch.autograd.grad((exact(x, lens) * w).sum(), x)[0]
        assert not torch.allclose(g_exact, got[0])


@pytest.mark.parametrize("grad_clip", [0.0, 0.05])
def test_projection_clipping_matches_a_reference(grad_clip):
    """proj_clip (TensorFlow's LSTMCell proj_clip): r_t clipped before it is fed back and output; no gradient
    through a clipped value. Values and gradients equal a step-by-step autograd LSTMP."""
    torch.manual_seed(6)
    layer = RecurrentLayer("lstm", 3, 6, proj=4, grad_clip=grad_clip, proj_clip=0.1).to(DTYPE)
    x = torch.randn(12, 2, 3, dtype=DTYPE, requires_grad=True)
    lens = torch.tensor([12, 12])
    y = layer(x, lens)
    assert y.abs().max() <= 0.1 and (y.abs() == 0.1).float().mean() > 0.05  # the clip is reached
    ref = _reference_lstmp(layer, x, 0.0, grad_clip, proj_clip=0.1)
    got, w = _assert_same_function(layer, x, y, ref)
    free = RecurrentLayer("lstm", 3, 6, proj=4, grad_clip=grad_clip).to(DTYPE)
    free.load_state_dict(layer.state_dict())
    assert not torch.allclose(free(x, lens), y)


def test_stabiliser_options_are_checked():
    with pytest.raises(ValueError, match="cell_clip"):
        EncoderConfig(cell="lstm-gates", cell_clip=5.0)
    with pytest.raises(ValueError, match="fused"):
        EncoderConfig(cell_clip=5.0, lstm_impl="torch")
    with pytest.raises(ValueError):
        EncoderConfig(rec_grad_clip=-1.0)
    for bad in (dict(proj_clip=1.0), dict(proj=4, proj_clip=-1.0), dict(cell="lstm-srnn-hidden", proj=4, proj_clip=1.0),
                dict(proj=4, proj_clip=1.0, lstm_impl="torch")):
        with pytest.raises(ValueError, match="proj_clip"):
            EncoderConfig(**bad)
    assert not build_model(EncoderConfig(hidden=8, proj=4, layers=1, bidirectional=True, proj_clip=1.0), 3, 2
                           ).encoder.layers[0].use_nn_lstm  # a BLSTMP with it runs fused
    model = build_model(EncoderConfig(hidden=8, layers=2, cell_clip=3.0, rec_grad_clip=30.0), 3, 2)
    assert not model.encoder.layers[0].use_nn_lstm and model.encoder.layers[1].grad_clip == 30.0


@pytest.mark.parametrize("cell", ["lstm", "lstm-srnn", "lstm-srnn-out", "lstm-gates"])
def test_folded_projection_is_the_same_function(cell):
    """fused_recurrence with the projection folded into U (U P on m_{t-1}) == the unfolded loop, values and grads."""
    from asr.models.cells import MODE, NUM_BLOCKS, NUM_RECURRENT, fused_recurrence

    torch.manual_seed(5)
    T, D, B, H, R = 7, 2, 3, 6, 4
    mode = MODE[cell]
    gx = torch.randn(T, D, B, NUM_BLOCKS[mode] * H, dtype=DTYPE, requires_grad=True)
    u = (0.5 * torch.randn(D, NUM_RECURRENT[mode] * H, R, dtype=DTYPE)).requires_grad_()
    p = (0.5 * torch.randn(D, R, H, dtype=DTYPE)).requires_grad_()
    s0 = torch.randn(D, B, R, dtype=DTYPE, requires_grad=True)
    c0 = torch.randn(D, B, H, dtype=DTYPE, requires_grad=True) if cell != "lstm-gates" else None
    inputs = [t for t in (gx, u, p, s0, c0) if t is not None]
    outs = {}
    for fold in (False, True):
        s, m, c = fused_recurrence(gx, u, p, mode, H, s0, c0, fold=fold)
        w = torch.linspace(-1, 1, s.numel(), dtype=DTYPE).reshape(s.shape)
        loss = (s * w).sum() + m.pow(2).sum() + c[-1].sum()
        outs[fold] = (s.detach(), m.detach(), torch.autograd.grad(loss, inputs))
    torch.testing.assert_close(outs[True][0], outs[False][0])
    torch.testing.assert_close(outs[True][1], outs[False][1])
    for a, b in zip(outs[True][2], outs[False][2]):
        torch.testing.assert_close(a, b)
    with pytest.raises(ValueError, match="grad_clip"):
        fused_recurrence(gx, u, p, mode, H, fold=True, grad_clip=1.0)


@pytest.mark.parametrize("impl", ["fused", "torch"])
def test_projection_max_norm_constraint(impl):
    model = build_model(EncoderConfig(cell="lstm", hidden=8, proj=4, layers=2, bidirectional=True,
                                      lstm_impl=impl, proj_max_norm=0.5), 3, 2)
    from asr.models.encoder import _projections

    mats = [w for layer in model.encoder.layers for w in _projections(layer)]
    assert sum(w.numel() for w in mats) == 2 * 2 * 4 * 8  # 2 layers x 2 directions x (4 x 8)
    with torch.no_grad():
        for w in mats:
            w.mul_(10.0)
        mats[0].view(-1, 8)[0].zero_()  # a row already within the bound is left as it is
    model.apply_constraints()
    rows = torch.cat([w.detach().reshape(-1, 8) for w in mats])
    assert float(rows.norm(dim=-1).max()) <= 0.5 + 1e-6
    assert float(rows[0].abs().max()) == 0.0
    assert float(rows[1:].norm(dim=-1).min()) > 0.5 - 1e-6  # rows above the bound end on it


def test_gate_norm_makes_the_layer_blind_to_the_input_scale():
    """With gate_norm, scaling the input (e.g. a growing projection below) leaves the gates' input side unchanged."""
    torch.manual_seed(6)
    layer = RecurrentLayer("lstm", 5, 6, proj=3, gate_norm=True).to(DTYPE)
    x = torch.randn(9, 2, 5, dtype=DTYPE)
    lens = torch.tensor([9, 5])
    torch.testing.assert_close(layer(10.0 * x, lens), layer(x, lens), atol=1e-4, rtol=1e-4)  # up to LN eps
    plain = RecurrentLayer("lstm", 5, 6, proj=3).to(DTYPE)
    assert not torch.allclose(plain(10.0 * x, lens), plain(x, lens))
    assert layer.gate_gain.shape == (1, 4, 6)
    y = layer(x, lens)
    y.sum().backward()
    assert layer.gate_gain.grad is not None and float(layer.gate_gain.grad.abs().sum()) > 0
    with pytest.raises(ValueError, match="gate_norm"):
        EncoderConfig(gate_norm=True, lstm_impl="torch")
    assert not build_model(EncoderConfig(hidden=8, layers=1, gate_norm=True), 3, 2).encoder.layers[0].use_nn_lstm
