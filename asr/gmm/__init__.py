"""Kaldi HMM-GMM systems on ``kaldi-hmm-gmm``: models in Kaldi's files, features, monophone
training, forced alignment and decoding through HCLG.

- :mod:`asr.gmm.model`: :class:`GmmModel` (topology, tree, transition model, diagonal GMMs) and
  its ``final.mdl`` / ``tree`` files;
- :mod:`asr.gmm.feats`: a data dir's features as Kaldi's GMM scripts feed them
  (``apply-cmvn`` with the speaker's statistics, ``add-deltas``);
- :mod:`asr.gmm.train`: flat start, equal alignment, EM with realignment and Gaussian splitting
  (``steps/train_mono.sh``), and alignment (``steps/align_si.sh``);
- :mod:`asr.gmm.decode`: lattice-decoder best paths over HCLG on an LM-weight grid.
"""
