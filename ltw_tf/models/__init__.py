"""Models: backbone registry, the detector f(theta) and the weight-aware network p(w)."""

from ltw_tf.models.backbones import BACKBONES, backbone_spec, build_backbone
from ltw_tf.models.detector import build_detector
from ltw_tf.models.weight_net import build_weight_net

__all__ = ["BACKBONES", "backbone_spec", "build_backbone", "build_detector", "build_weight_net"]
