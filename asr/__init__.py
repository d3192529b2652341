"""asr: deep LSTM acoustic models with Kaldi conventions."""

__version__ = "0.1.0"
