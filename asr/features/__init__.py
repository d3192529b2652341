"""Feature frontend: Kaldi-compatible filterbanks, CMVN, deltas, splicing, augmentation, storage."""
