"""MLDG (Li et al. 2018) adapted to forgery detection: meta-train/meta-test domain split, second order.

theta' = theta - alpha dF/dtheta; update with d(F(theta) + beta G(theta'))/dtheta. It is the LTW step with
p == 1, no ICC and unpaired meta batches drawn from the meta domains, and, as in Li et al.'s Alg. 1, a new random
meta-train / meta-test domain split every iteration (LTW splits once per epoch, as its paper says).
"""

from __future__ import annotations

from ltw_tf.methods.ltw import LTW


class MLDG(LTW):
    name = "mldg"
    paired_meta = False
    split_every = "step"
    revision = 2  # issue 17: the split was once per epoch
    use_weight_net = False
    use_icc = False
