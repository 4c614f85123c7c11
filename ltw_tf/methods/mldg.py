"""MLDG (Li et al. 2018) adapted to forgery detection: meta-train/meta-test domain split, second order.

theta' = theta - alpha dF/dtheta; update with d(F(theta) + beta G(theta'))/dtheta. It is the LTW step with
p == 1, no ICC and unpaired meta batches drawn from the meta domains.
"""

from __future__ import annotations

from ltw_tf.methods.ltw import LTW


class MLDG(LTW):
    name = "mldg"
    paired_meta = False
    use_weight_net = False
    use_icc = False
