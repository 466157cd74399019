"""Which preprocessing wins per modality type: the usual tensor or the feature vector?

For every bundled sample and every modality that offers a ``features`` option,
train the neural unimodal baseline ``only:<modality>`` twice on the same split
and seed, once on the type's usual tensor (image grid, spectrogram, padded
series, bag of words) and once on its feature vector read by an MLP, and print
macro-F1 and time for both with their ratio. Images also compare the three
``feature_set`` choices with ``sk:logreg:only:<modality>``.

    python bench/bench_features.py [--seeds N] [--samples a,b]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from fusion_core.config import DataConfig, ExperimentConfig, ModelConfig, TrainConfig
from fusion_core.data import load_dataset
from fusion_core.experiment import run_experiment
from fusion_core.modalities import MODALITIES, prepare
from fusion_core.options import describe_options
from fusion_core.samples import list_samples


def has_features_option(type_name: str) -> bool:
    return any(info.name == "features" for info in describe_options(MODALITIES.get(type_name)))


def neural(dataset, source: str, modality: str, options: dict, seeds: int) -> tuple[float, float]:
    data = DataConfig(source=source, preprocessing={modality: options} if options else {})
    prepared = prepare(dataset, data)
    scores, seconds = [], []
    for seed in range(seeds):
        config = ExperimentConfig(
            data=data, model=ModelConfig(fusion=f"only:{modality}"), train=TrainConfig(seed=seed)
        )
        started = time.perf_counter()
        result = run_experiment(config, prepared=prepared)
        seconds.append(time.perf_counter() - started)
        scores.append(result.metrics["macro_f1"])
    return float(np.mean(scores)), float(np.mean(seconds))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument("--samples", default=",".join(s.name for s in list_samples()))
    args = parser.parse_args()

    print("neural only:<modality>: usual tensor against feature vector (macro-F1, train seconds)")
    print(
        f"{'sample':18} {'modality':14} {'type':7} {'usual':>7} {'features':>9} {'F1 diff':>8} {'time ratio':>10}"
    )
    image_rows = []
    for source in args.samples.split(","):
        dataset = load_dataset(source)
        for name, spec in dataset.modalities.items():
            if spec.type == "image":
                for feature_set in ("pixels", "gradients", "both"):
                    config = ExperimentConfig(
                        data=DataConfig(source=source, preprocessing={name: {"feature_set": feature_set}}),
                        model=ModelConfig(fusion=f"sk:logreg:only:{name}"),
                    )
                    f1 = run_experiment(config, dataset=dataset).metrics["macro_f1"]
                    image_rows.append((source, name, feature_set, f1))
            if not has_features_option(spec.type):
                continue
            usual, usual_s = neural(dataset, source, name, {}, args.seeds)
            feats, feats_s = neural(dataset, source, name, {"features": True}, args.seeds)
            print(
                f"{source:18} {name:14} {spec.type:7} {usual:7.3f} {feats:9.3f} {feats - usual:+8.3f} "
                f"{feats_s / usual_s:10.2f}",
                flush=True,
            )
    print()
    print("image feature_set with sk:logreg:only:<image> (macro-F1)")
    for source, name, feature_set, f1 in image_rows:
        print(f"{source:18} {name:10} {feature_set:10} {f1:.3f}")


if __name__ == "__main__":
    main()
