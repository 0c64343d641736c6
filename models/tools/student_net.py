"""The student network and its training (build venv only; called by ``distil_student.py``).

Architecture: a per-band input standardization, one strided 3x3 conv, depthwise-separable
blocks that halve time and frequency four times (MobileNet style), global mean + max pooling
over the remaining time x frequency grid and one shared dense layer feeding three heads:
MSD tags [50] (sigmoid), the MSD embedding [200] (linear) and MTT tags [50] (sigmoid).

Loss: binary cross-entropy on the teachers' soft tags plus a small MSE on their logits
(clipped to +-8, so the small probabilities the fixed calm mappings sum over are followed in
log space too), and MSE on the embedding standardized per dimension (the de-standardization
is folded into the last layer before conversion). Light augmentation: gain (+-3 dB in the
power domain) and, for a third of each batch, mixing another patch in at 10-30 % power with
the targets mixed likewise. Seeded; single-threaded ops for repeatable runs.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np

WIDTHS = (16, 48, 96, 192)
BLOCKS = (1, 1, 2, 2)
"""Depthwise-separable blocks per stage (the first of each halves time and frequency)."""
DENSE = 384
EPOCHS = 18
BATCH = 64
LR = 2e-3
VAL_TRACK_SHARE = 0.1
LOGIT_CLIP = 8.0


def build(band_mean: np.ndarray, band_std: np.ndarray):
    import tensorflow as tf

    lay = tf.keras.layers
    x_in = tf.keras.Input((187, 96), name="patch")
    x = lay.Reshape((187, 96, 1))(x_in)
    mean = tf.constant(band_mean.reshape(1, 1, 96, 1), tf.float32)
    inv = tf.constant(1.0 / band_std.reshape(1, 1, 96, 1), tf.float32)
    x = lay.Lambda(lambda t: (t - mean) * inv, name="standardize")(x)
    x = lay.Conv2D(WIDTHS[0], 3, strides=2, padding="same", use_bias=False)(x)
    x = lay.ReLU()(lay.BatchNormalization()(x))
    for width, blocks in zip((*WIDTHS[1:], WIDTHS[-1]), BLOCKS, strict=True):
        for b in range(blocks):
            x = lay.DepthwiseConv2D(3, strides=2 if b == 0 else 1, padding="same", use_bias=False)(
                x
            )
            x = lay.ReLU()(lay.BatchNormalization()(x))
            x = lay.Conv2D(width, 1, use_bias=False)(x)
            x = lay.ReLU()(lay.BatchNormalization()(x))
    x = lay.Concatenate()([lay.GlobalAveragePooling2D()(x), lay.GlobalMaxPooling2D()(x)])
    h = lay.Dense(DENSE, activation="relu")(x)
    h = lay.Dropout(0.1)(h)
    msd = lay.Dense(50, name="msd_logits")(h)
    emb = lay.Dense(200, name="emb_std")(h)
    mtt = lay.Dense(50, name="mtt_logits")(h)
    return tf.keras.Model(x_in, [msd, emb, mtt])


def _load(out: Path) -> dict[str, np.ndarray]:
    parts = [np.load(p) for p in sorted(out.glob("dump-*.npz"))]
    if not parts:
        raise SystemExit(f"no dump-*.npz in {out}: run the dump stage first")
    data: dict[str, np.ndarray] = {}
    for key in ("x", "msd", "emb", "mtt"):
        data[key] = np.concatenate([p[key] for p in parts])
    tracks = []
    for p in parts:
        tracks.append(p["tracks"][p["patch_clip"]])
    data["track"] = np.concatenate(tracks)
    return data


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, 1e-6, 1 - 1e-6)
    return np.clip(np.log(p / (1 - p)), -LOGIT_CLIP, LOGIT_CLIP).astype(np.float32)


def train_and_convert(out: Path, seed: int) -> None:
    """Fit the student on the dumps in ``out``; write student.keras, .tflite and references."""
    import tensorflow as tf

    tf.keras.utils.set_random_seed(seed)
    data = _load(out)
    rng = np.random.default_rng(seed)
    tracks = np.array(sorted(set(data["track"].tolist())))
    val_tracks = rng.choice(tracks, int(len(tracks) * VAL_TRACK_SHARE), replace=False)
    is_val = np.isin(data["track"], val_tracks)
    tr, va = np.flatnonzero(~is_val), np.flatnonzero(is_val)
    x = data["x"].astype(np.float32)
    emb_mean, emb_std = data["emb"][tr].mean(0), data["emb"][tr].std(0) + 1e-6
    band_mean = x[tr].mean(axis=(0, 1))
    band_std = x[tr].std(axis=(0, 1)) + 1e-3
    y_emb = ((data["emb"] - emb_mean) / emb_std).astype(np.float32)
    print(f"student: {len(tr)} training patches, {len(va)} validation ({len(val_tracks)} tracks)")

    model = build(band_mean, band_std)
    steps = EPOCHS * (len(tr) // BATCH)
    opt = tf.keras.optimizers.Adam(tf.keras.optimizers.schedules.CosineDecay(LR, steps))
    bce = tf.keras.losses.BinaryCrossentropy(from_logits=True)

    @tf.function
    def step(xb, msd, emb, mtt):
        with tf.GradientTape() as tape:
            pm, pe, pt = model(xb, training=True)
            loss = (
                bce(msd, pm)
                + bce(mtt, pt)
                + 0.02 * tf.reduce_mean(tf.square(tf.clip_by_value(pm, -8, 8) - _tf_logit(msd)))
                + 0.02 * tf.reduce_mean(tf.square(tf.clip_by_value(pt, -8, 8) - _tf_logit(mtt)))
                + 0.5 * tf.reduce_mean(tf.square(pe - emb))
            )
        grads = tape.gradient(loss, model.trainable_variables)
        opt.apply_gradients(zip(grads, model.trainable_variables, strict=True))
        return loss

    for epoch in range(EPOCHS):
        t0 = time.time()
        order = rng.permutation(tr)
        losses = []
        for s in range(0, len(order) - BATCH + 1, BATCH):
            idx = np.sort(order[s : s + BATCH])
            xb, msd, emb, mtt = _augment(
                rng, x[idx], data["msd"][idx], y_emb[idx], data["mtt"][idx]
            )
            losses.append(float(step(xb, msd, emb, mtt)))
        val = _val_report(model, x[va], data, va, y_emb[va])
        print(
            f"  epoch {epoch + 1}/{EPOCHS}: loss {np.mean(losses):.4f}  val {val}"
            f"  ({time.time() - t0:.0f} s)",
            flush=True,
        )
    _export(model, out, emb_mean, emb_std, x[va[:64]])


def _tf_logit(p):
    import tensorflow as tf

    p = tf.clip_by_value(p, 1e-6, 1 - 1e-6)
    return tf.clip_by_value(tf.math.log(p / (1 - p)), -LOGIT_CLIP, LOGIT_CLIP)


def _augment(rng, x, msd, emb, mtt):
    """Gain +-3 dB; mix another patch of the batch into a third of them (power domain)."""
    power = (np.power(10.0, x) - 1.0) / 1e4
    gain = np.power(10.0, rng.uniform(-0.3, 0.3, (len(x), 1, 1)))
    power *= gain
    mix = rng.random(len(x)) < 1 / 3
    partner = rng.permutation(len(x))
    w = rng.uniform(0.1, 0.3, len(x)) * mix
    power = (1 - w)[:, None, None] * power + w[:, None, None] * power[partner]
    xm = np.log10(1e4 * np.maximum(power, 0) + 1).astype(np.float32)

    def blend(t: np.ndarray) -> np.ndarray:
        return ((1 - w)[:, None] * t + w[:, None] * t[partner]).astype(np.float32)

    return xm, blend(msd), blend(emb), blend(mtt)


def _predict(model, x: np.ndarray) -> list[np.ndarray]:
    outs = [model(x[s : s + 256], training=False) for s in range(0, len(x), 256)]
    return [np.concatenate([np.asarray(o[k]) for o in outs]) for k in range(3)]


def _val_report(model, xv, data, va, y_emb_v) -> str:
    pm, pe, pt = _predict(model, xv)
    msd_mae = np.abs(1 / (1 + np.exp(-pm)) - data["msd"][va]).mean()
    mtt_mae = np.abs(1 / (1 + np.exp(-pt)) - data["mtt"][va]).mean()
    emb_r2 = 1 - ((pe - y_emb_v) ** 2).mean() / y_emb_v.var()
    return f"msd MAE {msd_mae:.4f} mtt MAE {mtt_mae:.4f} emb R2 {emb_r2:.3f}"


def _export(model, out: Path, emb_mean, emb_std, ref_x: np.ndarray) -> None:
    """Sigmoid the tag heads, fold the embedding scale in, convert; keep TF references."""
    import tensorflow as tf

    model.save(out / "student.keras")
    emb_layer = model.get_layer("emb_std")
    w, b = emb_layer.get_weights()
    emb_layer.set_weights([w * emb_std[None, :], b * emb_std + emb_mean])
    pm, pe, pt = model.outputs
    serving = tf.keras.Model(
        model.inputs,
        [tf.keras.layers.Activation("sigmoid")(pm), pe, tf.keras.layers.Activation("sigmoid")(pt)],
    )
    ref = [np.asarray(o) for o in serving(ref_x, training=False)]
    for name, kinds in (("student_f32.tflite", None), ("student_f16.tflite", [tf.float16])):
        conv = tf.lite.TFLiteConverter.from_keras_model(serving)
        if kinds:
            conv.optimizations = [tf.lite.Optimize.DEFAULT]
            conv.target_spec.supported_types = kinds
        (out / name).write_bytes(conv.convert())
    np.savez(out / "student_reference.npz", x=ref_x, msd=ref[0], emb=ref[1], mtt=ref[2])
    (out / "student_recipe.json").write_text(
        json.dumps(
            {
                "widths": WIDTHS,
                "blocks": BLOCKS,
                "dense": DENSE,
                "epochs": EPOCHS,
                "batch": BATCH,
                "lr": LR,
                "params": int(model.count_params()),
            },
            indent=1,
        )
    )
    print(f"wrote {out}/student_f32.tflite, student_f16.tflite, student_reference.npz")
