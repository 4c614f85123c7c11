"""Pieces of the synthff generator: identities and motion tracks, the face renderer, the four forgery families
and the video writer. The public entry point is ``ltw_tf.data.synthetic.generate``."""
