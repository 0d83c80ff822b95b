"""Lazy, quiet, thread-limited TensorFlow/Keras, with fixed seeds.

Nothing imports TensorFlow at module level: call :func:`keras` inside the function that needs
it. The first call sets the log level and thread counts *before* TensorFlow loads, because
both are read only once, at import.
"""

from __future__ import annotations

import os
import random
from collections.abc import Callable
from functools import cache
from types import ModuleType
from typing import Any

DEFAULT_THREADS = 2


@cache
def keras() -> ModuleType:
    """Keras 3 on TensorFlow, configured once for this process."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")  # same numbers on every run
    import absl.logging
    import tensorflow as tf

    absl.logging.set_verbosity(absl.logging.ERROR)
    threads = int(os.environ.get("OTTC_TF_THREADS", DEFAULT_THREADS))
    try:
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(1)
    except RuntimeError:  # TensorFlow already initialised by someone else: keep its settings
        pass
    tf.get_logger().setLevel("ERROR")
    import keras as keras_module

    module: ModuleType = keras_module
    return module


def seed_everything(seed: int) -> None:
    """Fix Python, NumPy and TensorFlow seeds so that training is repeatable."""
    import numpy as np

    random.seed(seed)
    np.random.seed(seed)
    keras().utils.set_random_seed(seed)


def library_versions() -> dict[str, str]:
    import numpy as np
    import sklearn
    import tensorflow as tf

    return {
        "keras": keras().__version__,
        "tensorflow": tf.__version__,
        "numpy": np.__version__,
        "scikit-learn": sklearn.__version__,
    }


def inference_function(model: Any) -> Callable[..., Any]:
    """The model's forward pass as one traced graph (any batch size, no retracing).

    A plain eager call of a Keras model costs milliseconds of Python per layer; the scoring
    hook's micro-batches need the graph. Weights are read at each call, so fine-tuning the
    model in place needs no new function.
    """
    import tensorflow as tf

    signature = [tf.TensorSpec((None, *t.shape[1:]), t.dtype) for t in model.inputs]

    def forward(*inputs: Any) -> Any:
        return model(list(inputs) if len(inputs) > 1 else inputs[0], training=False)

    traced: Callable[..., Any] = tf.function(
        forward, input_signature=signature, reduce_retracing=True
    )
    return traced
