"""Free text → bag-of-words / TF-IDF vectors, or padded token ids."""

from __future__ import annotations

from collections import Counter
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse
import torch

from fusion_core.data.types import Dataset, ModalitySpec, PreparedModality
from fusion_core.errors import ConfigError, DataError
from fusion_core.modalities.base import FEATURES_HELP, MODALITIES, FeatureMatrix, ModalityType, column_values

PAD, UNKNOWN = 0, 1
MAX_AUTO_LENGTH = 128
TOKEN_PATTERN = r"(?u)\S+"  # words are already normalised; every run of non-space is a token
BASELINE_VOCAB = 20_000
"""Word 1-2-grams the sk: baselines keep. They stay sparse, so a large vocabulary costs little; a
network's ``features`` input is dense and keeps ``max_vocab`` instead."""


@MODALITIES.register("text")
class TextModality(ModalityType):
    """Free text, normalised, split into words and turned into numbers.

    1. **Normalise.** Lower-casing makes "Good" and "good" one word; removing
       punctuation makes "good!" and "good" one word. Both shrink the
       vocabulary, which matters when there are few training texts.
    2. **Tokenise.** The text is split on white space into words (tokens).
    3. **Vocabulary.** Only words seen in the **training split** count: the
       ``max_vocab`` most frequent ones that appear in at least ``min_freq``
       training texts. A word the model has never been trained on would carry
       no learned meaning anyway; building the vocabulary from test texts would
       leak them into training.
    4. **Represent.**

       - *bow* (bag of words, the default): one column per vocabulary word,
         holding how often the word occurs. Word order is lost, but on small
         data sets it is fast, hard to beat, and a small MLP reads it well.
       - *tfidf*: the same counts, weighted down for words that occur in
         nearly every text ("the", "and") and then scaled to unit length, so
         long and short texts are comparable.
       - *tokens*: each word becomes its vocabulary id (0 pads, 1 is an unknown
         word) in a fixed-length row of ``max_length`` ids. Word order is kept,
         for sequence encoders (GRU, LSTM, 1-D CNN, transformer) that learn
         word embeddings from scratch. They need more data to beat *bow*.

    A sample with no text (or only white space) is marked absent.

    **Feature vector** (``features``, and the sk: baselines): TF-IDF of word
    1- and 2-grams with sub-linear term counts (1 + log count), from the
    training texts only; words in fewer than two training texts are dropped
    when that leaves any. It stays sparse for the baselines
    (up to 20,000 n-grams); as a network input it keeps ``max_vocab``.
    """

    title = "Text"
    shown_as = "text"
    forms = ("vector", "tokens")
    summary = "Normalise, split into words, build a training vocabulary; bag-of-words, TF-IDF or token ids."
    features_summary = "TF-IDF of word 1-2-grams (sub-linear counts), sparse"
    features_measured = (
        "Default: bag of words. The neural only:<text> baseline (bench/bench_features.py, 2 seeds) scored "
        "0.355 on bag of words against 0.359 on TF-IDF 1-2-grams on shapes-captions (+0.004) and 0.562 "
        "against 0.550 on support-tickets (-0.012): a tie, so the simpler default stays."
    )

    option_help = {
        "representation": (
            "bow: word counts (fast, strong on small data). tfidf: counts weighted by rarity, unit length. "
            "tokens: word ids in order, for sequence encoders."
        ),
        "lowercase": "Treat upper- and lower-case letters as the same.",
        "strip_punctuation": "Remove punctuation so 'good!' and 'good' are the same word.",
        "max_vocab": "Keep at most this many of the most frequent training words.",
        "min_freq": "A word must appear in at least this many training texts to enter the vocabulary.",
        "max_length": (
            "tokens only: number of word ids kept per text (longer texts are cut, shorter ones padded), "
            f"or 'auto' for the 95th-percentile training length, at most {MAX_AUTO_LENGTH}."
        ),
        "bigrams": "bow/tfidf only: also count pairs of neighbouring words ('not good').",
        "features": FEATURES_HELP + " For text: TF-IDF of word 1-2-grams (overrides representation).",
    }
    option_choices = {"representation": ("bow", "tfidf", "tokens")}

    def __init__(
        self,
        *,
        representation: str = "bow",
        lowercase: bool = True,
        strip_punctuation: bool = True,
        max_vocab: int = 5000,
        min_freq: int = 1,
        max_length: str = "auto",
        bigrams: bool = False,
        features: bool = False,
    ) -> None:
        if int(max_vocab) < 1:
            raise ConfigError(f"text option max_vocab must be at least 1, got {max_vocab}")
        if int(min_freq) < 1:
            raise ConfigError(f"text option min_freq must be at least 1, got {min_freq}")
        self.representation = representation
        self.lowercase = bool(lowercase)
        self.strip_punctuation = bool(strip_punctuation)
        self.max_vocab = int(max_vocab)
        self.min_freq = int(min_freq)
        self.max_length = _parse_length(max_length)
        self.bigrams = bool(bigrams)
        self.features = bool(features)

    def normalise(self, texts: pd.Series) -> pd.Series:
        """Apply the lower-casing and punctuation options to a column of strings."""
        texts = texts.astype(str)
        if self.lowercase:
            texts = texts.str.lower()
        if self.strip_punctuation:
            texts = texts.str.replace(r"[^\w\s]|_", " ", regex=True)
        return texts

    def fit(self, dataset: Dataset, spec: ModalitySpec, train_rows: np.ndarray) -> dict[str, Any]:
        texts, present = self._texts(dataset, spec)
        train = texts.iloc[train_rows[present[train_rows]]]
        if train.str.strip().eq("").all():
            raise DataError(
                f"text modality {spec.name!r} has no words in the training split; "
                "check the column or turn off strip_punctuation"
            )
        if self.representation == "tokens":
            return self._fit_tokens(train, spec.name)
        from sklearn.feature_extraction.text import (  # slow import: on first use
            CountVectorizer,
            TfidfVectorizer,
        )

        vectorizer_class = TfidfVectorizer if self.representation == "tfidf" else CountVectorizer
        vectorizer = vectorizer_class(
            **self._vectorizer_options(), min_df=self.min_freq, max_features=self.max_vocab
        )
        try:
            vectorizer.fit(train)
        except ValueError:
            raise DataError(
                f"text modality {spec.name!r}: no training word appears in {self.min_freq} or more texts; "
                "lower min_freq"
            ) from None
        vocabulary = sorted(vectorizer.vocabulary_, key=vectorizer.vocabulary_.get)
        state: dict[str, Any] = {"representation": self.representation, "vocabulary": vocabulary}
        if self.representation == "tfidf":
            state["idf"] = vectorizer.idf_.tolist()
        return state

    def _fit_tokens(self, train: pd.Series, modality: str) -> dict[str, Any]:
        words = train.str.split()
        document_frequency = Counter(word for doc in words for word in set(doc))
        ranked = sorted(
            (item for item in document_frequency.items() if item[1] >= self.min_freq),
            key=lambda item: (-item[1], item[0]),
        )
        vocabulary = [word for word, _ in ranked[: self.max_vocab]]
        if not vocabulary:
            raise DataError(
                f"text modality {modality!r}: no training word appears in {self.min_freq} or more texts; "
                "lower min_freq"
            )
        max_length = self.max_length
        if max_length == "auto":
            lengths = words.str.len().to_numpy()
            max_length = int(np.clip(np.ceil(np.percentile(lengths, 95)), 1, MAX_AUTO_LENGTH))
        return {"representation": "tokens", "vocabulary": vocabulary, "max_length": max_length}

    def transform(self, dataset: Dataset, spec: ModalitySpec, state: dict[str, Any]) -> PreparedModality:
        texts, present = self._texts(dataset, spec)
        vocabulary = state["vocabulary"]
        if state["representation"] == "tokens":
            values = _token_ids(texts, vocabulary, state["max_length"])
            vocab_size, form, names = len(vocabulary) + 2, "tokens", None
        else:
            from sklearn.feature_extraction.text import CountVectorizer

            counts = CountVectorizer(
                **self._vectorizer_options(), vocabulary={word: i for i, word in enumerate(vocabulary)}
            ).transform(texts)
            if state["representation"] == "tfidf":
                counts = _tfidf(counts, np.asarray(state["idf"]))
            values = torch.from_numpy(np.ascontiguousarray(counts.toarray(), dtype=np.float32))
            vocab_size, form, names = None, "vector", list(vocabulary)
        mask = torch.from_numpy(present)
        values[~mask] = 0
        return PreparedModality(
            name=spec.name,
            type=self.name,
            form=form,
            values=values.contiguous(),
            present=mask,
            vocab_size=vocab_size,
            feature_names=names,
        )

    def fit_extractor(self, dataset: Dataset, spec: ModalitySpec, train_rows: np.ndarray) -> dict[str, Any]:
        from sklearn.feature_extraction.text import TfidfVectorizer

        texts, present = self._texts(dataset, spec)
        train = texts.iloc[train_rows[present[train_rows]]]
        options = {"lowercase": False, "token_pattern": TOKEN_PATTERN, "ngram_range": (1, 2)}
        limit = self.max_vocab if self.features else BASELINE_VOCAB
        for min_df in (2, 1):  # rare n-grams are noise, unless nothing else is left
            vectorizer = TfidfVectorizer(**options, min_df=min_df, max_features=limit, sublinear_tf=True)
            try:
                vectorizer.fit(train)
                break
            except ValueError:
                continue
        else:
            raise DataError(
                f"text modality {spec.name!r} has no words in the training split; check the column"
            )
        vocabulary = sorted(vectorizer.vocabulary_, key=vectorizer.vocabulary_.get)
        return {"vocabulary": vocabulary, "idf": vectorizer.idf_.tolist()}

    def extract(self, dataset: Dataset, spec: ModalitySpec, learned: dict[str, Any]) -> FeatureMatrix:
        from sklearn.feature_extraction.text import CountVectorizer

        texts, present = self._texts(dataset, spec)
        vocabulary = learned["vocabulary"]
        counts = CountVectorizer(
            lowercase=False,
            token_pattern=TOKEN_PATTERN,
            ngram_range=(1, 2),
            vocabulary={word: i for i, word in enumerate(vocabulary)},
        ).transform(texts)
        counts = scipy.sparse.csr_matrix(counts, dtype=np.float64)
        counts.data = 1.0 + np.log(counts.data)  # sub-linear term frequency
        return FeatureMatrix(_tfidf(counts, np.asarray(learned["idf"])), present, list(vocabulary))

    def _texts(self, dataset: Dataset, spec: ModalitySpec) -> tuple[pd.Series, np.ndarray]:
        present = np.zeros(len(dataset), dtype=bool)
        parts = []
        for column in spec.columns:
            values, has_value = column_values(dataset, column)
            parts.append(pd.Series(values))
            present |= has_value
        joined = parts[0]
        for part in parts[1:]:
            joined = joined + " " + part
        return self.normalise(joined), present

    def _vectorizer_options(self) -> dict[str, Any]:
        return {
            "lowercase": False,
            "token_pattern": TOKEN_PATTERN,
            "ngram_range": (1, 2) if self.bigrams else (1, 1),
        }


def _token_ids(texts: pd.Series, vocabulary: list[str], max_length: int) -> torch.Tensor:
    """Token ids (N, max_length) int64, built from one flat array of all words."""
    words = texts.str.split()
    lengths = np.minimum(words.str.len().to_numpy(dtype=np.int64), max_length)
    kept = [doc[:max_length] for doc in words]
    flat = np.array([word for doc in kept for word in doc], dtype=object)
    ids = pd.Index(vocabulary).get_indexer(flat) if flat.size else np.zeros(0, dtype=np.int64)
    ids = np.where(ids < 0, UNKNOWN, ids + 2)
    out = np.zeros((len(texts), max_length), dtype=np.int64)
    rows = np.repeat(np.arange(len(texts)), lengths)
    positions = np.arange(flat.size) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    out[rows, positions] = ids
    return torch.from_numpy(out)


def _tfidf(counts: scipy.sparse.csr_matrix, idf: np.ndarray) -> scipy.sparse.csr_matrix:
    """Counts × idf, each row scaled to unit length: what scikit-learn's TfidfVectorizer gives."""
    weighted = scipy.sparse.csr_matrix(counts.multiply(idf[None, :]), dtype=np.float64)
    norms = np.sqrt(np.asarray(weighted.multiply(weighted).sum(axis=1))).ravel()
    norms[norms == 0] = 1.0
    return scipy.sparse.csr_matrix(weighted.multiply(1.0 / norms[:, None]))


def _parse_length(value: Any) -> str | int:
    if isinstance(value, str) and value.strip().lower() == "auto":
        return "auto"
    try:
        length = int(str(value).strip()) if not isinstance(value, int) else value
    except ValueError:
        length = None
    if length is None or isinstance(value, bool) or not 1 <= length <= 4096:
        raise ConfigError(
            f"text option max_length must be 'auto' or a whole number from 1 to 4096, got {value!r}"
        )
    return length
