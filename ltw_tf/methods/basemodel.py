"""Basemodel (paper Tables 2-4): the ImageNet backbone with a fresh head, never trained on the source domains."""

from __future__ import annotations

from ltw_tf.methods.base import Method, Phase


class Basemodel(Method):
    """Trains nothing: no phases, so the run is the detector as built (backbone weights + the seeded fresh head).

    The trainer saves that model once as the run's checkpoint and its ``best/`` (there is nothing to select among).
    """

    name = "basemodel"

    @classmethod
    def phases(cls, config) -> tuple[Phase, ...]:
        return ()

    def _train_step(self, batch, meta_batch):
        raise RuntimeError("basemodel has no training step")  # pragma: no cover - it has no phases
