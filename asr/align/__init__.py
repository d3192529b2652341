"""Frame labels from forced alignments: the targets of frame-level (cross-entropy) training."""

from asr.align.labels import FrameLabels, load_frame_labels, pdf_counts

__all__ = ["FrameLabels", "load_frame_labels", "pdf_counts"]
