"""Input encodings (strategy.encoding): Arrow record batches -> model input tensors.

The strategy kind that decides what the first block reads. Each scheme is a small `Encoding`
subclass registered in `ENCODINGS`; the `Encoder` runs one (strand flips, masking, targets),
vectorized through the sequence-to-code kernels of `prixfixe_blocks.data.read.encode`. Published:
- "autosome": 5' plasmid padding to 150 bp, one-hot (N = 0.25) + is_reverse + is_singleton;
- "bhi": 110 bp, one-hot (N = 0), random vector padding (beyond the adapters) at training time;
- "unlockdna": adapters dropped, centred in 100 N-padded positions, sequence + reverse
  complement = 200 tokens.
A dataset without a plasmid (e.g. DeepSTARR) uses its longest sequence as the length and pads
with N. The parameters are an `EncodingParams`, stored in a model directory so that prediction
needs nothing else.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import torch

from prixfixe_blocks.data.read import encode
from prixfixe_blocks.shapes import FEATURES, TOKENS, Shape
from prixfixe_blocks.strategies.components import Registry
from prixfixe_blocks.strategies.rc import RC_MODES
from prixfixe_blocks.strategies.strategy_spec import StrategySpec

MASK_CODE = 5
N_CODE = 4
IGNORE_INDEX = -100
LEFT_ADAPTER_LEN = 17
RIGHT_ADAPTER_LEN = 13
_N_FLANK_MIN = 200


@dataclass(frozen=True)
class EncodingParams:
    """Everything an Encoder needs (JSON-ready; stored in the model directory's meta)."""

    encoding: str
    length: int
    strip_left: int = 0
    strip_right: int = 0
    left_flank: str = ""
    right_flank: str = ""
    rc: str = "augment"
    mask_fraction: float = 0.0
    targets: tuple[str, ...] = ()
    has_singleton: bool = False

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["targets"] = list(self.targets)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> EncodingParams:
        return cls(**{**data, "targets": tuple(data.get("targets", ()))})


class Encoding:
    """Base of an encoding scheme: sequences -> codes (B, L) -> features or tokens.

    dream_length: the published length in bp on DREAM data; strip_left / strip_right: adapter
    bases dropped there (none on other data).
    """

    kind: str = FEATURES
    channels: int = 4
    dream_length: int = 110
    strip_left: int = 0
    strip_right: int = 0

    def shape(self, length: int) -> Shape:
        """The Shape this scheme makes from sequences encoded to `length`."""
        return Shape(self.kind, self.channels, length)

    def codes(self, seqs: pa.Array, p: EncodingParams, rng: np.random.Generator | None
              ) -> np.ndarray:
        """Forward-strand codes (B, length), N-padded on the right."""
        return encode.to_codes(seqs, p.length)

    def flip(self, codes: np.ndarray, p: EncodingParams) -> np.ndarray:
        """All rows reverse-complemented."""
        return encode.reverse_complement(codes)

    def features(self, codes: np.ndarray, flip: np.ndarray, singleton: np.ndarray | None
                 ) -> np.ndarray:
        """float32 (B, channels, L) model input (one-hot, N = 0)."""
        return encode.one_hot(codes, n_value=0.0)


ENCODINGS: Registry[type[Encoding]] = Registry("encoding")


@ENCODINGS.register("autosome")
class AutosomeEncoding(Encoding):
    """5' plasmid padding to 150 bp, one-hot (N = 0.25) + is_reverse + is_singleton."""

    channels, dream_length, strip_left = 6, 150, LEFT_ADAPTER_LEN

    def codes(self, seqs: pa.Array, p: EncodingParams, rng: np.random.Generator | None
              ) -> np.ndarray:
        return encode.plasmid_pad(seqs, p.left_flank, length=p.length, strip_left=p.strip_left)

    def features(self, codes: np.ndarray, flip: np.ndarray, singleton: np.ndarray | None
                 ) -> np.ndarray:
        single = np.zeros(len(codes), np.float32) if singleton is None else singleton
        return encode.with_constant_channels(
            encode.one_hot(codes, n_value=0.25), flip.astype(np.float32),
            np.asarray(single, np.float32))


@ENCODINGS.register("bhi")
class BHIEncoding(Encoding):
    """110 bp, one-hot (N = 0), random vector padding at training time.

    Sequences keep their adapters, so the padding is the vector beyond them: the left flank
    without its last 17 bases, the right flank without its first 13 (BHI's vector sequences).
    """

    def codes(self, seqs: pa.Array, p: EncodingParams, rng: np.random.Generator | None
              ) -> np.ndarray:
        left = p.left_flank[: len(p.left_flank) - LEFT_ADAPTER_LEN]
        return encode.vector_pad(seqs, left, p.right_flank[RIGHT_ADAPTER_LEN:],
                                 length=p.length, rng=rng)


@ENCODINGS.register("unlockdna")
class UnlockEncoding(Encoding):
    """Adapters dropped, centred in 100 N-padded positions, + reverse complement = 200 tokens."""

    kind, channels, dream_length = TOKENS, 6, 100
    strip_left, strip_right = LEFT_ADAPTER_LEN, RIGHT_ADAPTER_LEN

    def shape(self, length: int) -> Shape:
        return Shape(self.kind, self.channels, 2 * length)

    def codes(self, seqs: pa.Array, p: EncodingParams, rng: np.random.Generator | None
              ) -> np.ndarray:
        return encode.unlock_tokens(seqs, strip_left=p.strip_left, strip_right=p.strip_right,
                                    length=p.length)

    def flip(self, codes: np.ndarray, p: EncodingParams) -> np.ndarray:
        """The two strands' halves swapped."""
        return np.concatenate([codes[:, p.length:], codes[:, :p.length]], axis=1)


def _seq_max(meta: Any) -> int:
    return int(meta.seq_len["max"])


def encoding_params(strategy: StrategySpec, meta: Any | None) -> EncodingParams:
    """Encoding parameters for a strategy on a dataset (None = DREAM defaults, N flanks)."""
    name = strategy.encoding
    scheme = ENCODINGS.get(name)
    plasmid = getattr(meta, "plasmid", None) if meta is not None else None
    dream = meta is None or plasmid is not None
    if dream:
        length = scheme.dream_length
        left = plasmid["left_flank"] if plasmid else "N" * _N_FLANK_MIN
        right = plasmid["right_flank"] if plasmid else "N" * _N_FLANK_MIN
        strip_left, strip_right = scheme.strip_left, scheme.strip_right
    else:
        length = _seq_max(meta)
        left = right = "N" * max(length, _N_FLANK_MIN)
        strip_left = strip_right = 0
    targets = tuple(meta.targets) if meta is not None else ("expression",)
    has_singleton = meta is not None and "is_singleton" in meta.columns
    return EncodingParams(
        encoding=name, length=length, strip_left=strip_left, strip_right=strip_right,
        left_flank=left, right_flank=right, rc=strategy.rc,
        mask_fraction=float(strategy.mask_fraction), targets=targets,
        has_singleton=has_singleton,
    )


def input_shape(params: EncodingParams) -> Shape:
    """What an encoding with these parameters feeds the first block."""
    return ENCODINGS.get(params.encoding)().shape(params.length)


def default_input_shape(encoding: str) -> Shape:
    """What an encoding feeds the first block on DREAM data (no dataset metadata needed)."""
    scheme = ENCODINGS.get(encoding)()
    return scheme.shape(scheme.dream_length)


def _as_array(seqs: pa.Array | pa.ChunkedArray | list[str]) -> pa.Array:
    if isinstance(seqs, pa.ChunkedArray):
        return seqs.combine_chunks()
    if isinstance(seqs, pa.Array):
        return seqs
    return pa.array(list(seqs), type=pa.string())


class Encoder:
    """Turns sequences (and targets) into the batch dict a PrixFixeModel consumes."""

    def __init__(self, params: EncodingParams) -> None:
        self.params = params
        self.scheme = ENCODINGS.get(params.encoding)()
        self.rc = RC_MODES.get(params.rc)()
        self.shape = self.scheme.shape(params.length)

    def _flip(self, codes: np.ndarray, flip: np.ndarray) -> np.ndarray:
        """Reverse-complement the rows where `flip` is set."""
        if not flip.any():
            return codes
        return np.where(flip[:, None], self.scheme.flip(codes, self.params), codes)

    def _mask(self, tokens: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """Replace `mask_fraction` of the non-N tokens by M; labels hold the originals."""
        chosen = (tokens < N_CODE) & (rng.random(tokens.shape) < self.params.mask_fraction)
        labels = np.where(chosen, tokens.astype(np.int64), IGNORE_INDEX)
        return np.where(chosen, np.uint8(MASK_CODE), tokens), labels

    def _strands(self, n: int, train: bool, rng: np.random.Generator | None,
                 reverse: bool | None) -> np.ndarray:
        if reverse is not None:
            return np.full(n, bool(reverse))
        if train:
            return self.rc.training_flips(n, rng)
        return np.zeros(n, bool)

    def encode_sequences(self, seqs: pa.Array | pa.ChunkedArray | list[str], *,
                         train: bool = False, rng: np.random.Generator | None = None,
                         reverse: bool | None = None, both: bool = False,
                         singleton: np.ndarray | None = None) -> dict[str, torch.Tensor]:
        """Sequences -> {"x"[, "mlm_labels"]}; is_singleton is 0 unless given (training).

        both: the forward rows then the same rows reverse-complemented (2B rows, one padding).
        """
        seqs = _as_array(seqs)
        n = len(seqs)
        codes = self.scheme.codes(seqs, self.params, rng if train else None)
        if both:
            codes = np.concatenate([codes, codes])
            flip = np.repeat(np.array([False, True]), n)
            singleton = None if singleton is None else np.concatenate([singleton, singleton])
        else:
            flip = self._strands(n, train, rng, reverse)
        codes = self._flip(codes, flip)
        if self.shape.kind == TOKENS:
            return self._tokens(codes, train, rng)
        return {"x": self._features(codes, flip, singleton)}

    def _tokens(self, codes: np.ndarray, train: bool, rng: np.random.Generator | None
                ) -> dict[str, torch.Tensor]:
        out: dict[str, torch.Tensor] = {}
        if train and self.params.mask_fraction > 0:
            if rng is None:
                raise ValueError("masking needs an rng")
            codes, labels = self._mask(codes, rng)
            out["mlm_labels"] = torch.from_numpy(labels)
        out["x"] = torch.from_numpy(codes.astype(np.int64))
        return out

    def _features(self, codes: np.ndarray, flip: np.ndarray, singleton: np.ndarray | None
                  ) -> torch.Tensor:
        x = self.scheme.features(codes, flip, singleton)
        return torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))

    def targets(self, batch: pa.RecordBatch) -> torch.Tensor:
        """Raw target values (B, n_targets) float32."""
        cols = [batch.column(name).to_numpy(zero_copy_only=False) for name in self.params.targets]
        return torch.from_numpy(np.stack(cols, axis=1).astype(np.float32))

    def _singleton(self, batch: pa.RecordBatch, train: bool) -> np.ndarray | None:
        if not (train and self.params.has_singleton and "is_singleton" in batch.schema.names):
            return None
        return batch.column("is_singleton").to_numpy(zero_copy_only=False).astype(np.float32)

    def encode(self, batch: pa.RecordBatch, *, train: bool, rng: np.random.Generator,
               reverse: bool | None = None) -> dict[str, torch.Tensor]:
        """One record batch -> model batch dict ("x", "y" when targets present, "mlm_labels").

        reverse None: a random strand per sample when training with rc "augment", otherwise
        forward; True / False: every sample on that strand.
        """
        out = self.encode_sequences(
            batch.column("sequence"), train=train, rng=rng, reverse=reverse,
            singleton=self._singleton(batch, train),
        )
        return {**out, **self._maybe_targets(batch)}

    def _maybe_targets(self, batch: pa.RecordBatch) -> dict[str, torch.Tensor]:
        if all(name in batch.schema.names for name in self.params.targets):
            return {"y": self.targets(batch)}
        return {}

    def training_batch(self, batch: pa.RecordBatch, rng: np.random.Generator
                       ) -> dict[str, torch.Tensor]:
        """The training batch for the strategy's rc mode ("both": 2B rows, both strands)."""
        if not self.rc.both_strands:
            return self.encode(batch, train=True, rng=rng)
        out = self.encode_sequences(
            batch.column("sequence"), train=True, rng=rng, both=True,
            singleton=self._singleton(batch, True),
        )
        targets = self._maybe_targets(batch)
        if targets:
            out["y"] = torch.cat([targets["y"], targets["y"]])
        return out


def make_encoder(strategy: StrategySpec, meta: Any | None) -> Encoder:
    """The Encoder for a strategy on a dataset (meta None = DREAM defaults with N flanks)."""
    return Encoder(encoding_params(strategy, meta))
