"""What runs on an executor's worker: a chunk scored by a model shipped as its packaged bytes.

The model travels as its flavor's bytes, digest and signature (never as a ``LoadedModel``), is
verified and loaded once per worker process, and kept by digest for the job's later chunks.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from modelcycle.services.packaging.flavors import get_flavor
from modelcycle.services.packaging.load import digest_of
from modelcycle.services.packaging.package import load_packaged
from modelcycle.services.serve._batch_frames import score_table

if TYPE_CHECKING:
    import numpy as np

    from modelcycle.services.packaging.loaded import LoadedModel
    from modelcycle.services.serve._batch_frames import ScoringPlan

_CACHED = 4
_lock = threading.Lock()
_models: dict[str, LoadedModel] = {}


@dataclass(frozen=True, slots=True)
class ShippedModel:
    """A model as it travels to workers: flavor, bytes, their sha256 and the signature."""

    flavor: str
    data: bytes
    digest: str
    signature: dict[str, Any]


def ship(model: LoadedModel) -> ShippedModel:
    """The model in the form workers load."""
    data = get_flavor(model.flavor).save(model.raw)
    return ShippedModel(model.flavor, data, digest_of(data), model.signature.to_dict())


def pack(table: pa.Table) -> pa.Buffer:
    """The rows of ``table`` as one Arrow IPC buffer.

    A sliced table pickles with the whole of its parent's buffers; the IPC form holds only the
    slice's rows, so a chunk costs its own size to send.
    """
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as stream:
        stream.write_table(table)
    return sink.getvalue()


def score_packed(
    shipped: ShippedModel, plan: ScoringPlan, packed: pa.Buffer
) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any] | None]:
    """Score the packed rows with the shipped model, loading it on first use in this process."""
    table = pa.ipc.open_stream(packed).read_all()
    return score_table(_loaded(shipped), plan, table)


def _loaded(shipped: ShippedModel) -> LoadedModel:
    with _lock:
        model = _models.get(shipped.digest)
        if model is None:
            model = load_packaged(
                shipped.data,
                flavor=shipped.flavor,
                digest=shipped.digest,
                signature=shipped.signature,
            )
            while len(_models) >= _CACHED:
                _models.pop(next(iter(_models)))
            _models[shipped.digest] = model
        return model
