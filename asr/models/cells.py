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


def _cell_step(a: torch.Tensor, c_prev: torch.Tensor, mode: int, h: int
               ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """One element-wise step. a: (D, B, G) pre-activations -> (acts, c, tanh(c), m)."""
    if mode == GATES:
        m = torch.tanh(a)
        return m, c_prev, m, m
    if mode == LSTM:
        acts = torch.cat([torch.sigmoid(a[..., :3 * h]), torch.tanh(a[..., 3 * h:])], -1)
    elif mode == SRNN:
        acts = torch.cat([torch.sigmoid(a[..., :3 * h]), a[..., 3 * h:]], -1)
    else:  # SRNN_OUT, SRNN_HIDDEN: i, f, x~
        acts = torch.cat([torch.sigmoid(a[..., :2 * h]), a[..., 2 * h:]], -1)
    i, f = acts[..., :h], acts[..., h:2 * h]
    g = acts[..., -h:]
    c = torch.addcmul(i * g, f, c_prev)
    tc = torch.tanh(c)
    m = acts[..., 2 * h:3 * h] * tc if mode in (LSTM, SRNN) else tc
    return acts, c, tc, m


def _recurrence_forward(gx: torch.Tensor, u: torch.Tensor | None, p: torch.Tensor | None,
                        mode: int, h: int) -> tuple[torch.Tensor, ...]:
    """Forward loop. Returns (s, m, acts, c, tc), each stacked over time (T, D, B, *)."""
    T, D, B, _ = gx.shape
    nrec = NUM_RECURRENT[mode] * h
    r = p.shape[1] if p is not None else h
    s_prev = gx.new_zeros(D, B, r)
    c_prev = gx.new_zeros(D, B, h)
    ut = u.transpose(1, 2) if u is not None else None  # (D, R, Grec)
    pt = p.transpose(1, 2) if p is not None else None  # (D, H, R)
    ss, ms, actss, cs, tcs = [], [], [], [], []
    for t in range(T):
        a = gx[t]
        if ut is not None:
            if nrec == a.shape[-1]:
                a = torch.baddbmm(a, s_prev, ut)
            else:
                a = torch.cat([torch.baddbmm(a[..., :nrec], s_prev, ut), a[..., nrec:]], -1)
        acts, c_prev, tc, m = _cell_step(a, c_prev, mode, h)
        s_prev = torch.bmm(m, pt) if pt is not None else m
        ss.append(s_prev)
        ms.append(m)
        actss.append(acts)
        cs.append(c_prev)
        tcs.append(tc)
    if mode == GATES:  # acts, c and tanh(c) are all m: store nothing twice
        m_all = torch.stack(ms)
        s_all = torch.stack(ss) if pt is not None else m_all
        return s_all, m_all, m_all, m_all, m_all
    m_all = torch.stack(ms)
    s_all = torch.stack(ss) if pt is not None else m_all
    return s_all, m_all, torch.stack(actss), torch.stack(cs), torch.stack(tcs)


def _recurrence_backward(d_s: torch.Tensor | None, d_m: torch.Tensor | None, acts: torch.Tensor,
                         c: torch.Tensor, tc: torch.Tensor, u: torch.Tensor | None,
                         p: torch.Tensor | None, mode: int, h: int
                         ) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Backward loop. Returns (d_a (T, D, B, G) pre-activation grads, d_s_total (T, D, B, R) or None)."""
    T, D, B, _ = acts.shape
    g_width = NUM_BLOCKS[mode] * h
    nrec = NUM_RECURRENT[mode] * h
    r = p.shape[1] if p is not None else h
    d_a = acts.new_empty(T, D, B, g_width)
    d_s_tot = acts.new_empty(T, D, B, r) if p is not None else None
    ds_rec = acts.new_zeros(D, B, r)
    dc_next = acts.new_zeros(D, B, h)
    zero_c = acts.new_zeros(D, B, h)
    for t in range(T - 1, -1, -1):
        ds = ds_rec
        if d_s is not None:
            ds = ds + d_s[t]
        if p is not None:
            assert d_s_tot is not None
            d_s_tot[t] = ds
            dm = torch.bmm(ds, p)
        else:
            dm = ds
        if d_m is not None:
            dm = dm + d_m[t]
        if mode == GATES:
            m = acts[t]
            d_a[t] = dm * (1 - m * m)
        else:
            a_t = acts[t]
            i, f, g = a_t[..., :h], a_t[..., h:2 * h], a_t[..., -h:]
            tc_t = tc[t]
            c_prev = c[t - 1] if t > 0 else zero_c
            da = d_a[t]
            if mode in (LSTM, SRNN):
                o = a_t[..., 2 * h:3 * h]
                dc = torch.addcmul(dc_next, dm * o, 1 - tc_t * tc_t)
                # d(o) through the sigmoid
                torch.mul(dm * tc_t, o * (1 - o), out=da[..., 2 * h:3 * h])
            else:
                dc = torch.addcmul(dc_next, dm, 1 - tc_t * tc_t)
            torch.mul(dc * g, i * (1 - i), out=da[..., :h])
            torch.mul(dc * c_prev, f * (1 - f), out=da[..., h:2 * h])
            if mode == LSTM:
                torch.mul(dc * i, 1 - g * g, out=da[..., -h:])
            else:
                torch.mul(dc, i, out=da[..., -h:])
            dc_next = dc * f
        if u is not None:
            ds_rec = torch.bmm(d_a[t, ..., :nrec], u)
    return d_a, d_s_tot


class FusedRecurrence(torch.autograd.Function):
    """Recurrent part of a layer, with a hand-written backward pass.

    Inputs: ``gx`` (T, D, B, G) input-side pre-activations (biases included),
    ``u`` (D, G_rec, R) recurrent matrices or None, ``p`` (D, R, H) recurrent
    projections or None. Outputs: ``s`` (T, D, B, R) recurrent states (``r_t``,
    or ``m_t`` without projection) and ``m`` (T, D, B, H) cell outputs.
    Initial states are zero.
    """

    @staticmethod
    def forward(ctx, gx: torch.Tensor, u: torch.Tensor | None, p: torch.Tensor | None,  # type: ignore[override]
                mode: int, h: int) -> tuple[torch.Tensor, torch.Tensor]:
        dtype = gx.dtype
        u_ = u.to(dtype) if u is not None else None
        p_ = p.to(dtype) if p is not None else None
        with torch.no_grad():
            s, m, acts, c, tc = _recurrence_forward(gx, u_, p_, mode, h)
        ctx.save_for_backward(s, m, acts, c, tc, u_, p_)
        ctx.mode, ctx.h = mode, h
        ctx.u_dtype = u.dtype if u is not None else None
        ctx.p_dtype = p.dtype if p is not None else None
        if s is m:
            s = s.clone()  # two distinct outputs for autograd
        return s, m

    @staticmethod
    def backward(ctx, d_s: torch.Tensor | None, d_m: torch.Tensor | None  # type: ignore[override]
                 ) -> tuple[torch.Tensor | None, ...]:
        s, m, acts, c, tc, u, p = ctx.saved_tensors
        mode, h = ctx.mode, ctx.h
        with torch.no_grad():
            d_a, d_s_tot = _recurrence_backward(d_s, d_m, acts, c, tc, u, p, mode, h)
            T, D, B, _ = d_a.shape
            d_u = d_p = None
            if u is not None and ctx.needs_input_grad[1]:
                nrec = u.shape[1]
                s_prev = torch.cat([s.new_zeros(1, D, B, s.shape[-1]), s[:-1]])  # (T, D, B, R)
                # sum_t d_a[t]^T s_{t-1}, per direction, as one matmul over all frames
                d_u = torch.bmm(d_a[..., :nrec].permute(1, 3, 0, 2).reshape(D, nrec, T * B),
                                s_prev.permute(1, 0, 2, 3).reshape(D, T * B, -1)).to(ctx.u_dtype)
            if p is not None and ctx.needs_input_grad[2]:
                assert d_s_tot is not None
                d_p = torch.bmm(d_s_tot.permute(1, 3, 0, 2).reshape(D, -1, T * B),
                                m.permute(1, 0, 2, 3).reshape(D, T * B, h)).to(ctx.p_dtype)
        return d_a, d_u, d_p, None, None


def fused_recurrence(gx: torch.Tensor, u: torch.Tensor | None, p: torch.Tensor | None,
                     mode: int, hidden: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Run a cell's recurrence over padded, time-major sequences (zero initial state).

    Args:
        gx: (T, D, B, G) input-side pre-activations, ``G = NUM_BLOCKS[mode] * hidden``,
            blocks ordered input gate, forget gate, [output gate], candidate.
        u: (D, NUM_RECURRENT[mode] * hidden, R) recurrent weights (None for
            ``lstm-srnn-hidden``).
        p: (D, R, hidden) recurrent projection ``W_rm`` or None (then R = hidden).
        mode: cell index, ``MODE[cell]``.
        hidden: cell width H.

    Returns:
        ``(s, m)``: s (T, D, B, R) the recurrent outputs ``r_t`` (``m_t`` without
        projection); m (T, D, B, H) the cell outputs ``m_t``. Sequences run from
        t = 0 upwards; reverse each utterance beforehand for a backward direction.
    """
    return FusedRecurrence.apply(gx, u, p, mode, hidden)


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
