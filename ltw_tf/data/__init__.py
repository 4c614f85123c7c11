"""Data: sample index, meta-split and pairing, in-memory and tf.data batch sources."""
