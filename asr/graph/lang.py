"""A Kaldi dict dir to a lang dir, the way Kaldi's ``utils/prepare_lang.sh`` lays it out.

Input (``data/local/dict``): ``lexicon.txt`` (``WORD PH1 PH2 ...``) or ``lexiconp.txt``
(``WORD PROB PH1 ...``), ``silence_phones.txt`` and ``nonsilence_phones.txt`` (one phone, or
several sharing a tree root, per line), ``optional_silence.txt`` (one phone), and optionally
``extra_questions.txt``.

Output (``data/lang``):

- ``phones.txt``: ``<eps>`` 0, the silence phones, the nonsilence phones, then the disambiguation
  symbols ``#0 #1 ...``; ``words.txt``: ``<eps>`` 0, the words in sorted order, ``#0``, ``<s>``,
  ``</s>``;
- ``topo``: 3 left-to-right states per nonsilence phone, 5 per silence phone with Kaldi's
  ergodic middle states (the topology of ``utils/gen_topo.pl``);
- ``L.fst`` (phones -> words, optional silence between words with probability ``sil_prob``) and
  ``L_disambig.fst`` (the same with disambiguation symbols at pronunciation ends, ``#0:#0``
  self-loops for G's back-off, and the silence disambiguation symbol), OpenFst binary files that
  Kaldi's own tools read;
- ``phones/``: ``silence``, ``nonsilence``, ``optional_silence``, ``disambig``,
  ``context_indep``, ``roots``, ``sets``, ``extra_questions``, ``wdisambig_phones``,
  ``wdisambig_words``, ``align_lexicon`` as ``.txt`` (and ``.int``, ``.csl`` where Kaldi writes them);
  ``oov.txt``/``oov.int``.

Phones are position-independent (Kaldi's ``--position-dependent-phones false``): every phone is one
symbol wherever it falls in a word.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path

from asr.errors import AsrError
from asr.fileio import atomic_write


class LangError(AsrError):
    """A dict dir or lang dir that cannot be used; the message names the file and line."""


@dataclass
class DictDir:
    """The contents of a Kaldi dict dir.

    Attributes:
        lexicon: ``(word, probability, phones)`` in file order.
        silence: silence phone sets (each line of ``silence_phones.txt``).
        nonsilence: nonsilence phone sets (each line of ``nonsilence_phones.txt``).
        optional_silence: the phone that may appear between words.
        extra_questions: lines of ``extra_questions.txt`` (phone sets), may be empty.
    """

    lexicon: list[tuple[str, float, list[str]]]
    silence: list[list[str]]
    nonsilence: list[list[str]]
    optional_silence: str
    extra_questions: list[list[str]]

    @property
    def silence_phones(self) -> list[str]:
        return [p for s in self.silence for p in s]

    @property
    def nonsilence_phones(self) -> list[str]:
        return [p for s in self.nonsilence for p in s]


def _read_lines(path: Path, required: bool = True) -> list[tuple[int, list[str]]]:
    if not path.is_file():
        if required:
            raise LangError(f"{path}: no such file (a dict dir needs it)")
        return []
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise LangError(f"{path}: cannot read: {e}") from e
    return [(n, line.split()) for n, line in enumerate(text.splitlines(), 1) if line.strip()]


def read_dict_dir(path: str | os.PathLike) -> DictDir:
    """Read and check a Kaldi dict dir (see the module docstring).

    Raises:
        LangError: a missing file, a phone in the lexicon that no phone file lists, a phone listed
            twice, or a malformed line; the message names the file and line.
    """
    d = Path(path)
    silence = [f for _, f in _read_lines(d / "silence_phones.txt")]
    nonsilence = [f for _, f in _read_lines(d / "nonsilence_phones.txt")]
    opt = _read_lines(d / "optional_silence.txt")
    if len(opt) != 1 or len(opt[0][1]) != 1:
        raise LangError(f"{d / 'optional_silence.txt'}: must hold exactly one phone")
    optional = opt[0][1][0]
    phones = [p for s in silence + nonsilence for p in s]
    seen: set[str] = set()
    for p in phones:
        if p in seen:
            raise LangError(f"{d}: phone {p!r} is listed twice in silence_phones.txt/nonsilence_phones.txt")
        if p.startswith("#") or p == "<eps>":
            raise LangError(f"{d}: {p!r} cannot be a phone (reserved for disambiguation symbols / epsilon)")
        seen.add(p)
    if optional not in {p for s in silence for p in s}:
        raise LangError(f"{d / 'optional_silence.txt'}: {optional!r} is not in silence_phones.txt")
    lexp = d / "lexiconp.txt"
    lex_path = lexp if lexp.is_file() else d / "lexicon.txt"
    lexicon: list[tuple[str, float, list[str]]] = []
    for n, f in _read_lines(lex_path):
        word, rest = f[0], f[1:]
        prob = 1.0
        if lex_path == lexp:
            try:
                prob = float(rest[0])
            except (IndexError, ValueError):
                raise LangError(f"{lex_path}:{n}: expected WORD PROB PHONES...") from None
            rest = rest[1:]
            if not 0.0 < prob <= 1.0:
                raise LangError(f"{lex_path}:{n}: pronunciation probability {prob} is not in (0, 1]")
        if not rest:
            raise LangError(f"{lex_path}:{n}: word {word!r} has no phones")
        if word in ("<eps>", "#0", "<s>", "</s>"):
            raise LangError(f"{lex_path}:{n}: {word!r} is reserved and cannot be a word")
        for p in rest:
            if p not in seen:
                raise LangError(f"{lex_path}:{n}: phone {p!r} of {word!r} is in neither silence_phones.txt "
                                f"nor nonsilence_phones.txt")
        lexicon.append((word, prob, rest))
    if not lexicon:
        raise LangError(f"{lex_path}: no pronunciations")
    extra = [f for _, f in _read_lines(d / "extra_questions.txt", required=False)]
    for q in extra:
        for p in q:
            if p not in seen:
                raise LangError(f"{d / 'extra_questions.txt'}: unknown phone {p!r}")
    return DictDir(lexicon, silence, nonsilence, optional, extra)


def add_lex_disambig(lexicon: list[tuple[str, float, list[str]]]) -> tuple[list[list[str]], int]:
    """Disambiguation symbols at the ends of pronunciations (Kaldi's ``add_lex_disambig.pl``).

    A pronunciation that is another's proper prefix, or that several words share, gets ``#1``,
    ``#2``, ... (a new number for each repeat of that phone sequence), so that L composed with G
    determinizes.

    Returns:
        (the pronunciations with their symbols appended, in lexicon order; the largest number used).
    """
    count: dict[tuple[str, ...], int] = {}
    prefixes: set[tuple[str, ...]] = set()
    for _, _, phones in lexicon:
        t = tuple(phones)
        count[t] = count.get(t, 0) + 1
        for i in range(1, len(t)):
            prefixes.add(t[:i])
    last: dict[tuple[str, ...], int] = {}
    out: list[list[str]] = []
    biggest = 0
    for _, _, phones in lexicon:
        t = tuple(phones)
        if count[t] == 1 and t not in prefixes:
            out.append(list(phones))
            continue
        k = last.get(t, 0) + 1
        last[t] = k
        biggest = max(biggest, k)
        out.append([*phones, f"#{k}"])
    return out, biggest


def gen_topo(nonsil_ids: list[int], sil_ids: list[int], num_nonsil_states: int = 3,
             num_sil_states: int = 5) -> str:
    """Kaldi's HMM topology text (``utils/gen_topo.pl``'s).

    Nonsilence phones: ``num_nonsil_states`` left-to-right states, self-loop 0.75 and forward 0.25.
    Silence phones: ``num_sil_states`` states; the first goes to each of the first
    ``num_sil_states - 1`` states, the middle ones among states 1 .. ``num_sil_states - 1``, the last
    has a self-loop 0.75 and leaves with 0.25.
    """
    lines = ["<Topology>", "<TopologyEntry>", "<ForPhones>", " ".join(map(str, nonsil_ids)), "</ForPhones>"]
    for s in range(num_nonsil_states):
        lines.append(f"<State> {s} <PdfClass> {s} <Transition> {s} 0.75 <Transition> {s + 1} 0.25 </State>")
    lines += [f"<State> {num_nonsil_states} </State>", "</TopologyEntry>"]
    if sil_ids:
        lines += ["<TopologyEntry>", "<ForPhones>", " ".join(map(str, sil_ids)), "</ForPhones>"]
        n = num_sil_states
        if n == 1:
            lines.append("<State> 0 <PdfClass> 0 <Transition> 0 0.75 <Transition> 1 0.25 </State>")
        else:
            p = 1.0 / (n - 1)
            lines.append("<State> 0 <PdfClass> 0 " + " ".join(f"<Transition> {t} {p:g}" for t in range(n - 1))
                         + " </State>")
            for s in range(1, n - 1):
                lines.append(f"<State> {s} <PdfClass> {s} "
                             + " ".join(f"<Transition> {t} {p:g}" for t in range(1, n)) + " </State>")
            lines.append(f"<State> {n - 1} <PdfClass> {n - 1} <Transition> {n - 1} 0.75 "
                         f"<Transition> {n} 0.25 </State>")
        lines += [f"<State> {n if n > 1 else 1} </State>", "</TopologyEntry>"]
    lines.append("</Topology>")
    return "\n".join(lines) + "\n"


def lexicon_fst(lexicon: list[tuple[str, float, list[str]]], prons: list[list[str]], phone_ids: dict[str, int],
                word_ids: dict[str, int], sil_phone: str, sil_prob: float, sil_disambig: str | None = None,
                wdisambig: bool = False):
    """The lexicon transducer L (phones in, words out) with optional silence between words.

    States: 0 start, 1 loop (final), 2 silence. Start -> loop (no silence, cost -log(1 - p)) or
    -> silence (cost -log p); the silence state emits ``sil_phone`` back to the loop. Each
    pronunciation leaves the loop, outputs its word on the first phone, and returns to the loop
    (no silence after it) or to the silence state, with the same costs plus -log(pronunciation
    probability). ``sil_disambig`` (for L_disambig) puts that symbol after the optional silence;
    ``wdisambig`` adds ``#0:#0`` self-loops where words leave and at the final state.
    ``sil_prob`` 0 gives a lexicon without optional silence.

    Returns:
        a ``kaldifst.StdVectorFst``, output-label sorted.
    """
    import kaldifst

    fst = kaldifst.StdVectorFst()
    start, loop = fst.add_state(), fst.add_state()
    fst.start = start
    fst.set_final(loop, 0.0)
    eps = 0
    if sil_prob > 0:
        sil = fst.add_state()
        sil_cost, nosil_cost = -math.log(sil_prob), -math.log(1.0 - sil_prob)
        fst.add_arc(start, kaldifst.StdArc(eps, eps, nosil_cost, loop))
        fst.add_arc(start, kaldifst.StdArc(eps, eps, sil_cost, sil))
        if sil_disambig is None:
            fst.add_arc(sil, kaldifst.StdArc(phone_ids[sil_phone], eps, 0.0, loop))
        else:
            dis = fst.add_state()
            fst.add_arc(sil, kaldifst.StdArc(phone_ids[sil_phone], eps, 0.0, dis))
            fst.add_arc(dis, kaldifst.StdArc(phone_ids[sil_disambig], eps, 0.0, loop))
    else:
        fst.add_arc(start, kaldifst.StdArc(eps, eps, 0.0, loop))
    for (word, prob, _), pron in zip(lexicon, prons):
        pron_cost = -math.log(prob)
        s = loop
        out = word_ids[word]
        for i, p in enumerate(pron):
            last = i == len(pron) - 1
            if not last:
                n = fst.add_state()
                fst.add_arc(s, kaldifst.StdArc(phone_ids[p], out, pron_cost if i == 0 else 0.0, n))
                s = n
            elif sil_prob > 0:
                c = pron_cost if i == 0 else 0.0
                fst.add_arc(s, kaldifst.StdArc(phone_ids[p], out, c + nosil_cost, loop))
                fst.add_arc(s, kaldifst.StdArc(phone_ids[p], out, c + sil_cost, sil))
            else:
                fst.add_arc(s, kaldifst.StdArc(phone_ids[p], out, pron_cost if i == 0 else 0.0, loop))
            out = eps
    if wdisambig:
        # Kaldi's fstaddselfloops: every state that is final or that has an arc with a word on it
        starts = {loop}
        for s in kaldifst.StateIterator(fst):
            if any(a.olabel != eps for a in kaldifst.ArcIterator(fst, s)):
                starts.add(s)
        for s in sorted(starts):
            fst.add_arc(s, kaldifst.StdArc(phone_ids["#0"], word_ids["#0"], 0.0, s))
    kaldifst.arcsort(fst, sort_type="olabel")
    return fst


def _write(path: Path, lines: list[str]) -> None:
    with atomic_write(path) as f:
        f.write("".join(f"{x}\n" for x in lines))


def _write_phone_list(phones_dir: Path, name: str, phones: list[str], ids: dict[str, int], csl: bool = True) -> None:
    _write(phones_dir / f"{name}.txt", phones)
    _write(phones_dir / f"{name}.int", [str(ids[p]) for p in phones])
    if csl:
        _write(phones_dir / f"{name}.csl", [":".join(str(ids[p]) for p in phones)])


def _write_sets(phones_dir: Path, name: str, sets: list[list[str]], ids: dict[str, int], prefix: str = "") -> None:
    _write(phones_dir / f"{name}.txt", [prefix + " ".join(s) for s in sets])
    _write(phones_dir / f"{name}.int", [prefix + " ".join(str(ids[p]) for p in s) for s in sets])


def prepare_lang(dict_dir: str | os.PathLike, oov_word: str, lang_dir: str | os.PathLike,
                 sil_prob: float = 0.5, num_nonsil_states: int = 3, num_sil_states: int = 5,
                 share_silence_phones: bool = False) -> Path:
    """Write a Kaldi lang dir from a dict dir (see the module docstring).

    Args:
        dict_dir: Kaldi dict dir.
        oov_word: the word that stands for unknown words (must be in the lexicon, e.g. ``<UNK>``).
        lang_dir: output directory (created).
        sil_prob: probability of the optional silence between words (0: no optional silence).
        num_nonsil_states, num_sil_states: HMM states per nonsilence / silence phone.
        share_silence_phones: all silence phones share one tree root (Kaldi's option of that name).

    Returns:
        the lang dir.

    Raises:
        LangError: a bad dict dir (file and line), or an OOV word missing from the lexicon.
    """
    if not 0.0 <= sil_prob < 1.0:
        raise LangError(f"--sil-prob must be in [0, 1), got {sil_prob}")
    d = read_dict_dir(dict_dir)
    if oov_word not in {w for w, _, _ in d.lexicon}:
        raise LangError(f"{dict_dir}: the OOV word {oov_word!r} is not in the lexicon (add a line for it, "
                        f"e.g. '{oov_word} {d.optional_silence}')")
    out = Path(lang_dir)
    phones_dir = out / "phones"
    phones_dir.mkdir(parents=True, exist_ok=True)

    prons, max_disambig = add_lex_disambig(d.lexicon)
    sil_disambig = f"#{max_disambig + 1}" if sil_prob > 0 else None
    n_disambig = max_disambig + (2 if sil_prob > 0 else 1)  # #0 .. #max, and the silence one
    disambig = [f"#{i}" for i in range(n_disambig)]
    phone_list = ["<eps>", *d.silence_phones, *d.nonsilence_phones, *disambig]
    phone_ids = {p: i for i, p in enumerate(phone_list)}
    words = sorted({w for w, _, _ in d.lexicon})
    word_list = ["<eps>", *words, "#0", "<s>", "</s>"]
    word_ids = {w: i for i, w in enumerate(word_list)}
    _write(out / "phones.txt", [f"{p} {i}" for i, p in enumerate(phone_list)])
    _write(out / "words.txt", [f"{w} {i}" for i, w in enumerate(word_list)])
    _write(out / "oov.txt", [oov_word])
    _write(out / "oov.int", [str(word_ids[oov_word])])

    _write_phone_list(phones_dir, "silence", d.silence_phones, phone_ids)
    _write_phone_list(phones_dir, "nonsilence", d.nonsilence_phones, phone_ids)
    _write_phone_list(phones_dir, "optional_silence", [d.optional_silence], phone_ids)
    _write_phone_list(phones_dir, "disambig", disambig, phone_ids)
    _write_phone_list(phones_dir, "context_indep", d.silence_phones, phone_ids)
    _write_phone_list(phones_dir, "wdisambig_phones", ["#0"], phone_ids, csl=False)
    _write(phones_dir / "wdisambig.txt", ["#0"])
    _write(phones_dir / "wdisambig_words.int", [str(word_ids["#0"])])
    silence_sets = [d.silence_phones] if share_silence_phones else d.silence
    sets = silence_sets + d.nonsilence
    _write_sets(phones_dir, "sets", sets, phone_ids)
    # roots (Kaldi's): each line's phones share a tree root whose pdfs are shared between HMM states
    # and split by context; with share_silence_phones the silence root is neither
    sil_kind = "not-shared not-split " if share_silence_phones else "shared split "
    roots = [(sil_kind, s) for s in silence_sets] + [("shared split ", s) for s in d.nonsilence]
    _write(phones_dir / "roots.txt", [k + " ".join(s) for k, s in roots])
    _write(phones_dir / "roots.int", [k + " ".join(str(phone_ids[p]) for p in s) for k, s in roots])
    _write_sets(phones_dir, "extra_questions", [d.silence_phones, d.nonsilence_phones] + d.extra_questions,
                phone_ids)
    # Kaldi's align_lexicon: "word word phones..." (for word alignments), with <eps> for optional silence
    align = [(w, list(ph)) for w, _, ph in d.lexicon] + [("<eps>", [d.optional_silence])]
    _write(phones_dir / "align_lexicon.txt", [f"{w} {w} {' '.join(ph)}" for w, ph in align])
    _write(phones_dir / "align_lexicon.int",
           [f"{word_ids[w]} {word_ids[w]} {' '.join(str(phone_ids[x]) for x in ph)}" for w, ph in align])

    nonsil_ids = [phone_ids[p] for p in d.nonsilence_phones]
    sil_ids = [phone_ids[p] for p in d.silence_phones]
    with atomic_write(out / "topo") as f:
        f.write(gen_topo(nonsil_ids, sil_ids, num_nonsil_states, num_sil_states))

    plain = [list(p) for _, _, p in d.lexicon]
    L = lexicon_fst(d.lexicon, plain, phone_ids, word_ids, d.optional_silence, sil_prob)
    Ld = lexicon_fst(d.lexicon, prons, phone_ids, word_ids, d.optional_silence, sil_prob,
                     sil_disambig=sil_disambig, wdisambig=True)
    for name, fst in (("L.fst", L), ("L_disambig.fst", Ld)):
        tmp = out / f".{name}.tmp"
        fst.write(str(tmp))
        os.replace(tmp, out / name)
    return out


def read_symbols(path: str | os.PathLike) -> dict[str, int]:
    """A symbol table (``phones.txt``, ``words.txt``): ``{symbol: id}``.

    Raises:
        LangError: missing file or a line that is not ``SYMBOL ID`` (names file and line).
    """
    p = Path(path)
    table: dict[str, int] = {}
    for n, f in _read_lines(p):
        if len(f) != 2 or not f[1].isdigit():
            raise LangError(f"{p}:{n}: expected 'SYMBOL ID'")
        table[f[0]] = int(f[1])
    return table


def read_int_list(path: str | os.PathLike) -> list[int]:
    """The integers of a ``phones/*.int`` file (one or more per line)."""
    return [int(x) for _, f in _read_lines(Path(path)) for x in f]


def read_align_lexicon(dir: str | os.PathLike) -> tuple[dict[str, list[list[int]]], set[int]]:
    """The pronunciations (word -> phone-id sequences) of ``phones/align_lexicon.txt`` and the
    silence phone ids of ``phones/silence.int``, in a lang dir or a graph dir of ``mkgraph.sh``.

    Raises:
        LangError: a missing file, or a phone that ``phones.txt`` does not list (names the line).
    """
    d = Path(dir)
    phone_ids = read_symbols(d / "phones.txt")
    prons: dict[str, list[list[int]]] = {}
    path = d / "phones" / "align_lexicon.txt"
    for n, f in _read_lines(path):
        if len(f) < 2 or any(p not in phone_ids for p in f[2:]):
            raise LangError(f"{path}:{n}: expected 'WORD WORD PHONE ...' with phones of {d / 'phones.txt'}")
        prons.setdefault(f[0], []).append([phone_ids[p] for p in f[2:]])
    return prons, set(read_int_list(d / "phones" / "silence.int"))
