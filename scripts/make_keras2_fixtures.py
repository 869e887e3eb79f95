"""Write the Keras 2 model files ``tests/fixtures/keras2/*.h5`` with real Keras 2 (``tf_keras``).

Each model of ``tests/keras2_specs.py`` is built with ``tf_keras`` (Keras 2.x, the API of
TensorFlow 2.x's ``tf.keras``), given seeded weights and saved with ``model.save('<name>.h5')``
(Keras 2's HDF5 layout). Beside it, ``<name>.npz`` holds what the tests compare with: ``x`` (fixed
inputs), ``y`` (tf_keras' float outputs on ``x``) and ``weight_0`` … (``model.get_weights()``).
Two more files are refused by rnnrtl: ``lambda.h5`` (a ``Lambda`` layer whose code writes the file
named by ``$RNNRTL_LAMBDA_MARKER`` when run) and ``hard_sigmoid.h5`` (Keras 2's ``hard_sigmoid``
is not Keras 3's). The tests do not need tf_keras; rerun this only to change the fixtures:

    pip install "tf-keras==2.21.*"    # the line of the installed tensorflow
    python scripts/make_keras2_fixtures.py [NAME ...]   # default: every model and refused file
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
OUT = ROOT / "tests" / "fixtures" / "keras2"

import keras2_specs  # noqa: E402


def main():
    import tf_keras
    OUT.mkdir(parents=True, exist_ok=True)
    only = sys.argv[1:]          # names of specs to (re)write; default every one
    for name in [n for n in keras2_specs.SPECS if not only or n in only]:
        tf_keras.utils.set_random_seed(0)
        model = keras2_specs.seed_weights(keras2_specs.build(tf_keras, name, keras2=True))
        model.save(OUT / f"{name}.h5")
        x = keras2_specs.inputs(name)
        y = model.predict(x, verbose=0)
        np.savez(OUT / f"{name}.npz", x=x, y=y,
                 **{f"weight_{k}": w for k, w in enumerate(model.get_weights())})
        print(f"{name}.h5: {model.count_params()} weights, outputs {y.shape}")
    if only:
        return
    # Refused files.
    marker = "lambda t: (open(__import__('os').environ['RNNRTL_LAMBDA_MARKER'], 'w').write('ran'), t)[1]"
    inp = tf_keras.Input((8, 3), name="x")
    h = tf_keras.layers.Lambda(eval(marker), name="sneaky")(inp)
    h = tf_keras.layers.LSTM(4, name="lstm")(h)
    tf_keras.Model(inp, tf_keras.layers.Dense(2, name="out")(h), name="k2_lambda").save(OUT / "lambda.h5")
    tf_keras.Sequential([tf_keras.Input((8, 3)),
                         tf_keras.layers.LSTM(4, recurrent_activation="hard_sigmoid", name="lstm"),
                         tf_keras.layers.Dense(2, name="out")], name="k2_hard_sigmoid").save(
        OUT / "hard_sigmoid.h5")
    print("lambda.h5, hard_sigmoid.h5: refused by rnnrtl")


if __name__ == "__main__":
    main()
