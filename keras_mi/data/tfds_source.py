"""Texts of a TensorFlow Datasets dataset, read offline-friendly.

`tfds.load(..., download=False)` is used, so a dataset that has not been
prepared fails at once with instructions instead of trying the network.
"""

import tensorflow as tf

from keras_mi.validation import ArgumentError


def _tfds():
    import tensorflow_datasets as tfds

    return tfds


def _text_feature(info, name, text_feature):
    tfds = _tfds()
    features = info.features
    keys = list(features.keys()) if hasattr(features, "keys") else []
    if text_feature is not None:
        if text_feature not in keys:
            raise ValueError(
                f"Received an invalid value for argument `text_feature`: the "
                f"tfds dataset {name!r} has features {keys}, got "
                f"text_feature={text_feature!r}."
            )
        return text_feature
    texts = [k for k in keys if isinstance(features[k], tfds.features.Text)]
    if not texts:
        raise ValueError(
            f"The tfds dataset {name!r} has no text feature (features: {keys}); "
            "name one with `text_feature`."
        )
    return texts[0]


def tfds_documents(name, split, data_dir=None, text_feature=None):
    """A dataset of the texts (tf.string) of one split of a tfds dataset.

    Args:
        name: a tfds dataset name, such as `"tiny_shakespeare"`.
        split: a split name of that dataset.
        data_dir: where the prepared dataset lies (tfds' default if `None`).
        text_feature: the feature holding the text; by default the first
            `tfds.features.Text` feature.

    Raises:
        ValueError: unknown name, missing split, no text feature, or a dataset
            that is not prepared in `data_dir` (the message says how to
            prepare it).
    """
    tfds = _tfds()
    try:
        builder = tfds.builder(name, data_dir=data_dir)
    except (tfds.core.registered.DatasetNotFoundError, ValueError):
        # ValueError: a name tfds cannot parse, such as "" or "a b".
        raise ArgumentError(
            "dataset",
            f"{name!r} is not a TensorFlow Datasets name (see `tfds.list_builders()`) "
            f"nor a dataset prepared in data_dir={data_dir!r}.",
        ) from None
    try:
        splits = list(builder.info.splits.keys())
        if splits and split not in splits:
            raise ValueError(
                f"The tfds dataset {name!r} has no split {split!r}; its splits "
                f"are {splits}."
            )
        dataset = tfds.load(name, split=split, data_dir=data_dir, download=False)
    except ValueError:
        raise
    except Exception as error:  # tfds raises several types for "not prepared"
        raise ValueError(
            f"The tfds dataset {name!r} is not prepared in data_dir="
            f"{data_dir or tfds.core.constants.DATA_DIR!r} and this command "
            "never downloads. Prepare it on a machine with network access "
            f"(`tfds build {name} --data_dir DIR`, or "
            f"`tfds.builder({name!r}, data_dir=DIR).download_and_prepare()`), "
            "copy DIR here and pass it as data_dir. "
            f"({type(error).__name__}: {error})"
        ) from None
    feature = _text_feature(builder.info, name, text_feature)
    return dataset.map(lambda example: tf.reshape(example[feature], []))
