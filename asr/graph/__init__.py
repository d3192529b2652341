"""Lang dirs and decoding graphs in Kaldi's layout (OpenFst files through ``kaldifst``).

- :mod:`asr.graph.lang`: a dict dir (``lexicon.txt``, silence and nonsilence phones) to a lang dir
  (``phones.txt``, ``words.txt``, ``topo``, ``L.fst``, ``L_disambig.fst``, ``phones/``), as
  Kaldi's ``utils/prepare_lang.sh``;
- :mod:`asr.graph.hclg`: an ARPA LM to ``G.fst`` (``utils/format_lm.sh``) and lang dir + HMM model
  to ``HCLG.fst`` (``utils/mkgraph.sh``).
"""
