"""Routing-tuned encoders: contrastive fine-tuning of the default encoder on routing labels
(``pip install 'cactus-router[tune]'``: PyTorch and onnx)."""

from .contrastive import MIN_ROWS, TuningReport, labels_of, supcon_loss, tune_encoder

__all__ = ["MIN_ROWS", "TuningReport", "labels_of", "supcon_loss", "tune_encoder"]
