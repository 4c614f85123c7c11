"""Second-order-friendly swish for the meta step.

``tf.nn.silu`` (Keras' swish/silu on TensorFlow) is a ``custom_gradient`` whose backward recomputes the sigmoid
behind a control dependency and always builds the gradient of a scalar beta (a full-tensor reduce_sum). That
saves memory in first-order training, but LTW differentiates that backward graph once more (Eq. 4), and the
extra ops sit on every activation of EfficientNet. ``swish`` here is the plain ``x * sigmoid(x)``: the same
forward values, the same first derivative, and autodiff of autodiff is a handful of elementwise ops.
"""

from __future__ import annotations

import keras

_STOCK = {keras.activations.silu, keras.activations.swish}


@keras.saving.register_keras_serializable(package="ltw_tf")
def swish(x):
    """x * sigmoid(x), differentiated by plain autodiff (see the module docstring)."""
    return x * keras.ops.sigmoid(x)


def use_plain_swish(model: keras.Model) -> keras.Model:
    """Swap Keras' silu/swish for ``swish`` in every layer of ``model`` (nested models included)."""
    for layer in model._flatten_layers(include_self=False, recursive=True):
        if getattr(layer, "activation", None) in _STOCK:
            layer.activation = swish
    return model
