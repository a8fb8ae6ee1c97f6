"""A version's parity-checked ONNX form as a runtime, in ONNX Runtime, without scikit-learn.

Loading needs only the ONNX bytes, the export record (its input layout, ``details["inputs"]``)
and what the registry recorded about the model (signature, task, classes): neither the pickled
model nor scikit-learn or pandas is imported, which keeps start-up short and memory small.

Inputs are fed as the export laid them out (see ``packaging._export_onnx_inputs``): one float32
tensor ``[rows, columns]`` in signature order (``tensor``), or one ``[rows, 1]`` input per
column (``columns``: float32, int64 or text). A classifier's answer is built from its
``probabilities`` output and the recorded classes, exactly as the Python model's is built from
``predict_proba``; inference runs in float32, so probabilities agree with the Python model's
to the export's parity tolerance.

The session runs one operator thread without spinning: requests are answered one at a time per
worker, and an idle spinning pool would take a core from the server and the other workers.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from modelcycle.core.errors import InvalidInput, MissingDependency
from modelcycle.services.serve._columns import ColumnPlan
from modelcycle.services.serve._runtime import Outputs, Prediction, Runtime

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from numpy.typing import NDArray

    from modelcycle.core.entities.model import LoggedModel

_LAYOUTS = ("tensor", "columns")
_OUT_OF_RANGE = (
    "column {columns}: a value is beyond the float32 range (about ±3.4e38) that the ONNX form "
    "of this model computes in"
)
_ELEMENT_TYPES = {"float": np.float32, "int64": np.int64, "string": object}


class OnnxRuntime(Runtime):
    """ONNX Runtime answering with an exported version.

    Args:
        data: the ONNX bytes (already verified against the export's digest).
        record: the export record stored with the version (``details``: ``layout``, ``inputs``).
        logged: the logged model the export was made from (signature, task, classes).

    Raises:
        MissingDependency: onnxruntime is not installed.
        InvalidInput: the record does not describe inputs this runtime can feed.
    """

    name = "onnx"

    def __init__(self, data: bytes, record: Mapping[str, Any], logged: LoggedModel) -> None:
        details = record.get("details") or {}
        layout = details.get("layout")
        inputs = details.get("inputs") or []
        if layout not in _LAYOUTS or not inputs:
            msg = f"the ONNX export record has no usable input layout: {dict(details)!r}"
            raise InvalidInput(msg)
        self.signature = logged.signature
        self.input_names = logged.signature.input_names
        self._plan = ColumnPlan(logged.signature)
        self._tensor = layout == "tensor"
        self._input_name = str(inputs[0]["name"])
        types = {str(item["name"]): str(item["type"]) for item in inputs}
        if not self._tensor and set(types) != set(self.signature.input_names):
            msg = f"the ONNX inputs {sorted(types)} are not the signature's columns"
            raise InvalidInput(msg)
        self._types = [types.get(name, "float") for name in self.signature.input_names]
        self._session = _session(data)
        names = [output.name for output in self._session.get_outputs()]
        classifier = logged.task == "classification"
        self._outputs = Outputs(logged.classes, classifier=classifier)
        proba = classifier and self._outputs.has_classes and "probabilities" in names
        self._output = ["probabilities" if proba else names[0]]
        self._proba = proba

    def predict(self, columns: Mapping[str, Sequence[Any]]) -> Prediction:
        """The answer for ``columns`` (see ``Runtime.predict``)."""
        (result,) = self._session.run(self._output, self._feed(columns))
        array = np.asarray(result)
        if self._proba:
            return self._outputs.from_proba(array)
        return self._outputs.from_values(array)

    def _feed(self, columns: Mapping[str, Sequence[Any]]) -> dict[str, NDArray[Any]]:
        if self._tensor:
            with np.errstate(over="ignore"):  # JSON has no infinity: one here is an overflow
                matrix = self._plan.matrix(columns, np.float32)
            if np.isinf(matrix).any():
                names = self.signature.input_names
                bad = [names[i] for i in np.flatnonzero(np.isinf(matrix).any(axis=0))]
                raise InvalidInput(_OUT_OF_RANGE.format(columns=", ".join(map(repr, bad))))
            return {self._input_name: matrix}
        feed: dict[str, NDArray[Any]] = {}
        arrays = self._plan.arrays(columns)
        for name, kind, array in zip(self.signature.input_names, self._types, arrays, strict=True):
            if kind == "int64" and array.dtype.kind == "f":
                msg = (
                    f"column {name!r}: the ONNX form of this model takes whole numbers without "
                    "missing values"
                )
                raise InvalidInput(msg)
            with np.errstate(over="ignore"):
                fed = array.astype(_ELEMENT_TYPES.get(kind, np.float32)).reshape(-1, 1)
            if fed.dtype == np.float32 and np.isinf(fed).any():
                raise InvalidInput(_OUT_OF_RANGE.format(columns=repr(name)))
            feed[name] = fed
        return feed


def _session(data: bytes) -> Any:
    try:
        import onnxruntime
    except ImportError as exc:
        raise MissingDependency(exc.name or "onnxruntime", "onnx") from exc
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.execution_mode = onnxruntime.ExecutionMode.ORT_SEQUENTIAL
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.add_session_config_entry("session.inter_op.allow_spinning", "0")
    return onnxruntime.InferenceSession(data, options, providers=["CPUExecutionProvider"])
