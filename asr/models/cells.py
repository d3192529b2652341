"""Fused recurrences for the LSTM and its ablations (Levy et al., 2018).

Levy, Lee, FitzGerald & Zettlemoyer (2018), "Long Short-Term Memory as a
Dynamically Computed Element-wise Weighted Sum", write the LSTM as an
embedded simple RNN (the *content layer*) whose output is mixed into the
memory cell by gates:

    c~_t = tanh(W_cx x_t + W_ch h_{t-1} + b_c)          content layer (an S-RNN)
    i_t  = sigmoid(W_ix x_t + W_ih h_{t-1} + b_i)        input gate
    f_t  = sigmoid(W_fx x_t + W_fh h_{t-1} + b_f)        forget gate
    o_t  = sigmoid(W_ox x_t + W_oh h_{t-1} + b_o)        output gate
    c_t  = i_t * c~_t + f_t * c_{t-1}
    h_t  = o_t * tanh(c_t)

Unrolled, ``c_t`` is a sum over past inputs of the content vectors weighted
element-wise by products of gates. The paper then removes parts one at a time;
the cell types of this module (``cell=`` in :class:`asr.models.EncoderConfig`) are:

``lstm``
    The full LSTM above.
``lstm-srnn``
    The content layer loses its recurrence and its non-linearity: it becomes a
    linear function of the current input only, ``x~_t = W_cx x_t + b_c``; the gates
    still see ``h_{t-1}``. The cell is then a gated, element-wise weighted sum
    of context-independent input vectors.
``lstm-srnn-out``
    As ``lstm-srnn`` and also without the output gate: ``h_t = tanh(c_t)``.
``lstm-srnn-hidden``
    As ``lstm-srnn-out`` and also without ``h_{t-1}`` in the gates:
    ``i_t = sigmoid(W_ix x_t + b_i)``, ``f_t = sigmoid(W_fx x_t + b_f)``. Every matrix
    product depends on ``x`` only and runs over all frames at once; what remains
    recurrent is the element-wise scan ``c_t = f_t * c_{t-1} + i_t * x~_t``.
``lstm-gates``
    The other way round: the gates are removed and the embedded S-RNN is all
    that is left, ``h_t = tanh(W x_t + U h_{t-1} + b)`` (Elman network).

With an LSTMP projection (Sak, Senior & Beaufays, 2014) the cell output
``m_t`` (the ``h_t`` above) is projected, ``r_t = W_rm m_t``, and ``r_t`` replaces
``h_{t-1}`` as the recurrent input and is the layer output. For
``lstm-srnn-hidden``, which has no recurrent input, the projection only maps the
output.

Implementation: all input-side products are hoisted out of the time loop by
the caller (one matmul over every frame). :class:`FusedRecurrence` then runs
the remaining recurrence step by step without autograd bookkeeping and
back-propagates through it with a hand-written backward loop; the gradients
of the recurrent and projection matrices are accumulated after the loop as
one batched matmul over all frames. Both directions of a bidirectional layer
run in the same loop (a leading direction axis ``D`` and batched matmuls).
"""

from __future__ import annotations

import torch

# Cell types and their layout. "gates" is the number of pre-activation blocks
# (each `hidden` wide) computed from the input; "rec" how many of them (a prefix)
# also receive the recurrent input.
CELL_TYPES = ("lstm", "lstm-srnn", "lstm-srnn-out", "lstm-srnn-hidden", "lstm-gates")
MODE = {name: k for k, name in enumerate(CELL_TYPES)}
LSTM, SRNN, SRNN_OUT, SRNN_HIDDEN, GATES = range(5)
NUM_BLOCKS = {LSTM: 4, SRNN: 4, SRNN_OUT: 3, SRNN_HIDDEN: 3, GATES: 1}
NUM_RECURRENT = {LSTM: 4, SRNN: 3, SRNN_OUT: 2, SRNN_HIDDEN: 0, GATES: 1}
# Block order: input gate, forget gate, [output gate], candidate (content layer) last,
# so that the blocks fed by the recurrence are a prefix.
FORGET_BLOCK = 1


def _linear_scan(f: torch.Tensor, v: torch.Tensor, reverse: bool = False) -> torch.Tensor:
    """Element-wise linear recurrence ``y_t = f_t * y_{t-1} + v_t`` (y_{-1} = 0) over dim 0.

    With ``reverse`` it runs backwards: ``y_t = f_{t+1} * y_{t+1} + v_t``, f given
    already shifted by the caller (``f_t`` multiplies ``y_{t+1}``). One fused
    multiply-add per step; f, v: (T, ...) -> y (T, ...).
    """
    y = torch.empty_like(v)
    fs, vs, ys = f.unbind(0), v.unbind(0), y.unbind(0)
    steps = range(v.shape[0] - 1, -1, -1) if reverse else range(v.shape[0])
    prev = None
    for t in steps:
        if prev is None:
            ys[t].copy_(vs[t])
        else:
            torch.addcmul(vs[t], fs[t], prev, out=ys[t])
        prev = ys[t]
    return y


def _has_output_gate(mode: int) -> bool:
    return mode in (LSTM, SRNN)


def _recurrence_forward(gx: torch.Tensor, u: torch.Tensor | None, p: torch.Tensor | None,
                        mode: int, h: int, s0: torch.Tensor | None = None,
                        c0: torch.Tensor | None = None, cell_clip: float = 0.0,
                        proj_clip: float = 0.0) -> tuple[torch.Tensor, ...]:
    """Forward pass, no autograd. Returns (s, m, acts, c, tc), each (T, D, B, *).

    ``acts`` holds the activated blocks (gates after the sigmoid, candidate after
    its non-linearity, if any); for ``lstm-gates`` acts, c and tc are all ``m``.
    ``s0`` (D, B, R) and ``c0`` (D, B, H) are the state before frame 0 (None: zeros).
    ``cell_clip`` > 0 clips each cell value to [-cell_clip, cell_clip] (not for
    ``lstm-srnn-hidden`` or ``lstm-gates``). ``proj_clip`` > 0 clips each value of the recurrent
    projection's output ``r_t`` to [-proj_clip, proj_clip] (with ``p`` only).
    """
    T, D, B, G = gx.shape
    acts = gx.clone()  # pre-activations, activated in place step by step
    if mode == SRNN_HIDDEN:  # nothing recurrent but the element-wise scan
        acts[..., :2 * h].sigmoid_()
        i, f, xt = acts[..., :h], acts[..., h:2 * h], acts[..., 2 * h:]
        v = i * xt
        if c0 is not None:
            v[0].addcmul_(f[0], c0)
        c = _linear_scan(f, v)
        tc = torch.tanh(c)
        return tc, tc, acts, c, tc
    assert u is not None
    nrec = u.shape[1]
    ut = u.transpose(1, 2)  # (D, R, G_rec)
    pt = p.transpose(1, 2) if p is not None else None  # (D, H, R)
    r = p.shape[1] if p is not None else h
    a_ts = acts.unbind(0)
    a_rec = acts[..., :nrec].unbind(0) if nrec < G else a_ts
    if mode == GATES:
        m_all = acts
        c_all = tc_all = acts
    else:
        nsig = 3 * h if _has_output_gate(mode) else 2 * h
        sig_ts = acts[..., :nsig].unbind(0)
        i_ts, f_ts, g_ts = acts[..., :h].unbind(0), acts[..., h:2 * h].unbind(0), acts[..., -h:].unbind(0)
        o_ts = acts[..., 2 * h:3 * h].unbind(0)
        c_all = gx.new_empty(T, D, B, h)
        tc_all = gx.new_empty(T, D, B, h)
        m_all = gx.new_empty(T, D, B, h) if _has_output_gate(mode) else tc_all
    s_all = gx.new_empty(T, D, B, r) if pt is not None else m_all
    c_ts, tc_ts, m_ts, s_ts = c_all.unbind(0), tc_all.unbind(0), m_all.unbind(0), s_all.unbind(0)
    s_prev: torch.Tensor | None = s0
    for t in range(T):
        if s_prev is not None:
            a_rec[t].baddbmm_(s_prev, ut)
        if mode == GATES:
            a_ts[t].tanh_()
        else:
            sig_ts[t].sigmoid_()
            if mode == LSTM:
                g_ts[t].tanh_()
            c = c_ts[t]
            torch.mul(i_ts[t], g_ts[t], out=c)
            if t > 0:
                c.addcmul_(f_ts[t], c_ts[t - 1])
            elif c0 is not None:
                c.addcmul_(f_ts[0], c0)
            if cell_clip > 0:
                c.clamp_(-cell_clip, cell_clip)
            torch.tanh(c, out=tc_ts[t])
            if _has_output_gate(mode):
                torch.mul(o_ts[t], tc_ts[t], out=m_ts[t])
        if pt is not None:
            torch.bmm(m_ts[t], pt, out=s_ts[t])
            if proj_clip > 0:
                s_ts[t].clamp_(-proj_clip, proj_clip)
        s_prev = s_ts[t]
    return s_all, m_all, acts, c_all, tc_all


def _recurrence_backward(d_s: torch.Tensor, d_m: torch.Tensor, d_c: torch.Tensor, acts: torch.Tensor,
                         c: torch.Tensor, tc: torch.Tensor, u: torch.Tensor | None, p: torch.Tensor | None,
                         mode: int, h: int, c0: torch.Tensor | None = None, cell_clip: float = 0.0,
                         grad_clip: float = 0.0, proj_clip: float = 0.0, s: torch.Tensor | None = None
                         ) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor | None]:
    """Backward pass, no autograd.

    Everything that does not depend on the backward recurrence (the gate
    derivatives and the coefficients multiplying ``dc_t``) is computed for all
    frames at once before the loop; the loop only carries ``dr_t`` and ``dc_t``.
    ``d_c`` holds the incoming grads of the cell states (nonzero where a final state was used).
    ``cell_clip``: the forward's; no gradient passes a clipped cell value. ``grad_clip`` > 0
    scales the derivative that goes back through the recurrent input (from frame t + 1 to
    the recurrent output of frame t) down to a 2-norm of at most ``grad_clip`` for each
    utterance and direction: Kaldi's BackpropTruncationComponent ``clipping-threshold``. The
    result is then not the exact gradient. ``proj_clip``: the forward's, with ``s`` its recurrent
    outputs; no gradient passes a clipped value of ``r_t``.

    Returns:
        (d_a (T, D, B, G) pre-activation grads, d_s_total (T, D, B, R) the total
        grads of the recurrent outputs, only with a recurrent projection, d_c0 (D, B, H)
        the grad of the initial cell state, None for ``lstm-gates``).
    """
    T, D, B, G = acts.shape
    nb = G // h
    zero = acts.new_zeros(1, D, B, h)
    first = c0[None] if c0 is not None else zero
    if mode == SRNN_HIDDEN:
        i, f, xt = acts[..., :h], acts[..., h:2 * h], acts[..., 2 * h:]
        dm = d_s + d_m
        f_next = torch.cat([f[1:], zero])
        dc = _linear_scan(f_next, dm * (1 - tc * tc) + d_c, reverse=True)
        c_prev = torch.cat([first, c[:-1]])
        d_a = torch.cat([dc * xt * i * (1 - i), dc * c_prev * f * (1 - f), dc * i], -1)
        return d_a, None, dc[0] * f[0]
    assert u is not None
    nrec = u.shape[1]
    d_a = torch.empty_like(acts)
    d_a_ts = d_a.unbind(0)
    d_a_rec = d_a[..., :nrec].unbind(0) if nrec < G else d_a_ts
    if mode == GATES:
        coef = (1 - acts * acts).unbind(0)  # tanh'
        d_m = d_m + d_c  # the "cell state" of an Elman layer is its output
    else:
        i, f, g = acts[..., :h], acts[..., h:2 * h], acts[..., -h:]
        d_c_ts = d_c.unbind(0)
        c_prev = torch.cat([first, c[:-1]])
        # d a_t = A_t * dc_t (+ the output gate's d m_t term), per block
        A = torch.zeros(T, D, B, nb, h, dtype=acts.dtype, device=acts.device)
        A[..., 0, :] = g * i * (1 - i)
        A[..., 1, :] = c_prev * f * (1 - f)
        A[..., -1, :] = i * (1 - g * g) if mode == LSTM else i
        A_ts = A.unbind(0)
        dtanh = 1 - tc * tc
        keep = (c.abs() < cell_clip).to(c.dtype).unbind(0) if cell_clip > 0 else None
        if _has_output_gate(mode):
            o = acts[..., 2 * h:3 * h]
            k_dc = (o * dtanh).unbind(0)  # dc_t += dm_t * o_t * tanh'(c_t)
            k_o = (tc * o * (1 - o)).unbind(0)  # d a_o = dm_t * tanh(c_t) * sigmoid'
            d_a_o = d_a[..., 2 * h:3 * h].unbind(0)
        else:
            k_dc = dtanh.unbind(0)
        f_ts = f.unbind(0)
    d_s_ts, d_m_ts = d_s.unbind(0), d_m.unbind(0)
    if p is None:  # s_t is m_t: their incoming grads add up, for all frames at once
        d_sm_ts = (d_s + d_m).unbind(0)
    d_s_tot = acts.new_empty(T, D, B, p.shape[1]) if p is not None else None
    keep_r = (s.abs() < proj_clip).to(acts.dtype).unbind(0) if proj_clip > 0 else None  # (fused_recurrence: with p)
    dc_carry: torch.Tensor | None = None

    def recurrent(t: int) -> torch.Tensor:
        """The derivative of the recurrent output of frame t through frame t + 1's recurrent input."""
        rec = torch.bmm(d_a_rec[t + 1], u)
        if grad_clip > 0:
            rec *= (grad_clip / rec.norm(dim=-1, keepdim=True).clamp(min=1e-30)).clamp(max=1.0)
        return rec

    for t in range(T - 1, -1, -1):
        if p is not None:
            assert d_s_tot is not None
            ds = d_s_tot[t]
            if t < T - 1:
                if grad_clip > 0:
                    torch.add(d_s_ts[t], recurrent(t), out=ds)
                else:
                    torch.baddbmm(d_s_ts[t], d_a_rec[t + 1], u, out=ds)
            else:
                ds.copy_(d_s_ts[t])
            if keep_r is not None:
                ds *= keep_r[t]  # the derivative of the projection's output before its clip
            dm = torch.baddbmm(d_m_ts[t], ds, p)
        else:
            dm = d_sm_ts[t]
            if t < T - 1:
                dm = dm + recurrent(t) if grad_clip > 0 else torch.baddbmm(dm, d_a_rec[t + 1], u)
        if mode == GATES:
            torch.mul(dm, coef[t], out=d_a_ts[t])
            continue
        dc = dm * k_dc[t] + d_c_ts[t]
        if dc_carry is not None:
            dc += dc_carry
        if keep is not None:
            dc *= keep[t]
        torch.mul(A_ts[t], dc.unsqueeze(-2), out=d_a_ts[t].view(D, B, nb, h))
        if _has_output_gate(mode):
            torch.mul(dm, k_o[t], out=d_a_o[t])
        dc_carry = dc * f_ts[t]
    return d_a, d_s_tot, dc_carry if mode != GATES else None


class FusedRecurrence(torch.autograd.Function):
    """Recurrent part of a layer, with a hand-written backward pass.

    Inputs: ``gx`` (T, D, B, G) input-side pre-activations (biases included),
    ``u`` (D, G_rec, R) recurrent matrices or None, ``p`` (D, R, H) recurrent
    projections or None, ``s0`` (D, B, R) and ``c0`` (D, B, H) the state before
    frame 0 or None (zeros). Outputs: ``s`` (T, D, B, R) recurrent states (``r_t``,
    or ``m_t`` without projection), ``m`` (T, D, B, H) cell outputs and ``c``
    (T, D, B, H) cell states (for ``lstm-gates``, which has none, a copy of ``m``).
    """

    @staticmethod
    def forward(ctx, gx: torch.Tensor, u: torch.Tensor | None, p: torch.Tensor | None,  # type: ignore[override]
                s0: torch.Tensor | None, c0: torch.Tensor | None, mode: int, h: int,
                cell_clip: float = 0.0, grad_clip: float = 0.0, proj_clip: float = 0.0
                ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        dtype = gx.dtype
        u_ = u.to(dtype) if u is not None else None
        p_ = p.to(dtype) if p is not None else None
        s0_ = s0.to(dtype) if s0 is not None else None
        c0_ = c0.to(dtype) if c0 is not None and mode != GATES else None
        with torch.no_grad():
            s, m, acts, c, tc = _recurrence_forward(gx, u_, p_, mode, h, s0_, c0_, cell_clip, proj_clip)
        ctx.save_for_backward(s, m, acts, c, tc, u_, p_, s0_, c0_)
        ctx.mode, ctx.h, ctx.clips = mode, h, (cell_clip, grad_clip, proj_clip)
        ctx.dtypes = tuple(t.dtype if t is not None else None for t in (u, p, s0, c0))
        if s is m:
            s = s.clone()  # distinct outputs for autograd
        c_out = c.clone() if c is m or c is s else c
        return s, m, c_out

    @staticmethod
    def backward(ctx, d_s: torch.Tensor, d_m: torch.Tensor, d_c: torch.Tensor  # type: ignore[override]
                 ) -> tuple[torch.Tensor | None, ...]:
        s, m, acts, c, tc, u, p, s0, c0 = ctx.saved_tensors
        mode, h = ctx.mode, ctx.h
        u_dtype, p_dtype, s0_dtype, c0_dtype = ctx.dtypes
        dt = acts.dtype
        with torch.no_grad():
            d_a, d_s_tot, d_c0 = _recurrence_backward(d_s.to(dt), d_m.to(dt), d_c.to(dt), acts, c, tc, u, p,
                                                      mode, h, c0, *ctx.clips, s=s)
            T, D, B, _ = d_a.shape
            d_u = d_p = d_s0 = None
            if u is not None and (ctx.needs_input_grad[1] or ctx.needs_input_grad[3]):
                nrec = u.shape[1]
                first = s0[None] if s0 is not None else s.new_zeros(1, D, B, s.shape[-1])
                s_prev = torch.cat([first, s[:-1]])  # (T, D, B, R)
                # sum_t d_a[t]^T s_{t-1}, per direction, as one matmul over all frames
                d_u = torch.bmm(d_a[..., :nrec].permute(1, 3, 0, 2).reshape(D, nrec, T * B),
                                s_prev.permute(1, 0, 2, 3).reshape(D, T * B, -1)).to(u_dtype)
                if ctx.needs_input_grad[3]:
                    d_s0 = torch.bmm(d_a[0, ..., :nrec], u).to(s0_dtype)  # (D, B, R)
            if p is not None and ctx.needs_input_grad[2]:
                assert d_s_tot is not None
                d_p = torch.bmm(d_s_tot.permute(1, 3, 0, 2).reshape(D, -1, T * B),
                                m.permute(1, 0, 2, 3).reshape(D, T * B, h)).to(p_dtype)
            if not ctx.needs_input_grad[4] or d_c0 is None:
                d_c0 = None
            else:
                d_c0 = d_c0.to(c0_dtype)
        return d_a, d_u, d_p, d_s0, d_c0, None, None, None, None, None


def fused_recurrence(gx: torch.Tensor, u: torch.Tensor | None, p: torch.Tensor | None,
                     mode: int, hidden: int, s0: torch.Tensor | None = None, c0: torch.Tensor | None = None,
                     cell_clip: float = 0.0, grad_clip: float = 0.0, fold: bool = False,
                     proj_clip: float = 0.0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Run a cell's recurrence over padded, time-major sequences.

    Args:
        gx: (T, D, B, G) input-side pre-activations, ``G = NUM_BLOCKS[mode] * hidden``,
            blocks ordered input gate, forget gate, [output gate], candidate.
        u: (D, NUM_RECURRENT[mode] * hidden, R) recurrent weights (None for
            ``lstm-srnn-hidden``).
        p: (D, R, hidden) recurrent projection ``W_rm`` or None (then R = hidden).
        mode: cell index, ``MODE[cell]``.
        hidden: cell width H.
        s0: (D, B, R) recurrent state before frame 0 (default None: zeros; unused by
            ``lstm-srnn-hidden``, which has no recurrent input).
        c0: (D, B, H) cell state before frame 0 (default None: zeros; unused by ``lstm-gates``).
        cell_clip: > 0 clips cell values to [-cell_clip, cell_clip] (cells with a cell state
            and a recurrence: not ``lstm-srnn-hidden``, ``lstm-gates``); default 0: off.
        grad_clip: > 0 clips the derivative going back through the recurrence, per frame,
            utterance and direction, to this 2-norm (Kaldi's ``clipping-threshold``, 30 in
            its LSTMP recipes); default 0: exact gradients.
        proj_clip: > 0 clips each value of the projection's output ``r_t`` to [-proj_clip, proj_clip]
            before it is fed back and output (TensorFlow's ``LSTMCell(proj_clip=...)``); with ``p``
            and a recurrent cell only; default 0: off.
        fold: with a projection, run the loop on ``U P`` applied to ``m_{t-1}`` (one matrix
            product per step instead of two, a larger one) and compute every ``r_t`` after it;
            not with ``grad_clip``. The same function either way. Off by default: on one idle
            CPU thread (2 layers, 16 x 200 frames, 128 cells, projection 64) it was 0.85x
            (uni) and 0.93x (bi) the speed of the unfolded loop.

    Returns:
        ``(s, m, c)``: s (T, D, B, R) the recurrent outputs ``r_t`` (``m_t`` without
        projection); m (T, D, B, H) the cell outputs ``m_t``; c (T, D, B, H) the cell
        states (``m_t`` again for ``lstm-gates``). Sequences run from t = 0 upwards;
        reverse each utterance beforehand for a backward direction. Gradients flow
        into ``s0`` and ``c0`` too.
    """
    if cell_clip < 0 or grad_clip < 0:
        raise ValueError(f"cell_clip ({cell_clip}) and grad_clip ({grad_clip}) must be >= 0")
    if cell_clip > 0 and mode in (SRNN_HIDDEN, GATES):
        raise ValueError(f"cell_clip is for cells with a recurrent cell state, not {CELL_TYPES[mode]}")
    if proj_clip < 0 or (proj_clip > 0 and (p is None or mode == SRNN_HIDDEN)):
        raise ValueError(f"proj_clip ({proj_clip}) must be >= 0, and > 0 only with a recurrent projection")
    if fold and p is not None and u is not None and mode != SRNN_HIDDEN:
        if grad_clip > 0 or proj_clip > 0:
            raise ValueError("grad_clip and proj_clip act on r_t, which a folded projection does not form")
        # r_{t-1} = P m_{t-1} feeds U: the loop runs with U P on m_{t-1} (one product per step instead
        # of two) and r_t = P m_t is computed for all frames at once afterwards. Autograd composes the
        # gradients of U and P from those of U P and of the outputs.
        nrec = u.shape[1]
        if s0 is not None:  # frame 0's recurrent input is the given r_{-1}, through U alone
            first = gx[:1, ..., :nrec] + torch.bmm(s0.to(gx.dtype), u.transpose(1, 2).to(gx.dtype))[None]
            gx = torch.cat([torch.cat([first, gx[:1, ..., nrec:]], -1), gx[1:]])
        m_, m, c = FusedRecurrence.apply(gx, torch.bmm(u, p), None, None, c0, mode, hidden, float(cell_clip), 0.0)
        return torch.einsum("tdbh,drh->tdbr", m, p.to(m.dtype)), m, c
    return FusedRecurrence.apply(gx, u, p, s0, c0, mode, hidden, float(cell_clip), float(grad_clip), float(proj_clip))


def reverse_padded(x: torch.Tensor, x_lens: torch.Tensor) -> torch.Tensor:
    """Reverse each sequence within its own length; padding stays at the end.

    Args:
        x: (T, B, ...) time-major padded batch.
        x_lens: (B,) lengths.

    Returns:
        (T, B, ...) with ``y[t, b] = x[len_b - 1 - t, b]`` for t < len_b and
        ``y[t, b] = x[t, b]`` otherwise. The map is its own inverse.
    """
    T, B = x.shape[:2]
    idx = reversal_index(T, x_lens.to(x.device))
    idx = idx.reshape(T, B, *([1] * (x.dim() - 2))).expand_as(x)
    return torch.gather(x, 0, idx)


def reversal_index(T: int, x_lens: torch.Tensor) -> torch.Tensor:
    """(T, B) time indices that reverse each sequence within its length (see :func:`reverse_padded`)."""
    t = torch.arange(T, device=x_lens.device)[:, None]
    rev = x_lens[None, :] - 1 - t
    return torch.where(rev >= 0, rev, t)
