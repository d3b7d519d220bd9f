"""Write a trained wake-word head as a ``.tflite`` flatbuffer, straight from its torch weights.

No converter is involved: the graph is built op by op with the TFLite schema's object API
(shipped in the ``ai-edge-litert`` wheel) and packed with ``flatbuffers``. The file has a
static ``(1, 16, 96)`` float32 input, a ``(1, 1)`` float32 output (the sigmoid probability),
one ``serving_default`` signature, and only old builtin ops at version 1, so Home Assistant's
runtime (pyopen-wakeword / tflite-runtime) can run it. Dropout is left out (eval semantics).

LayerNorm has no builtin op and is decomposed (MEAN, SUB, MUL, MEAN, ADD eps, RSQRT, MUL, MUL
gamma, ADD beta); ReLU is fused into the op before it where that op allows; Conv1d(k=3, pad=1)
is a CONV_2D with SAME padding on a ``(1, 1, 16, C)`` NHWC view; attention uses RESHAPE,
TRANSPOSE, BATCH_MATMUL and SOFTMAX.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np

from core.errors import EasyOWWError

if TYPE_CHECKING:
    import torch

WRITER_NAME = "easy-oww tflite writer"
WRITER_VERSION = 1
INPUT_SHAPE = (1, 16, 96)
OUTPUT_SHAPE = (1, 1)
_ALIGN = 16  # constant data is 16-byte aligned in the file, as the converters do


class TFLiteExportError(EasyOWWError):
    """A TFLite file that could not be made or failed its checks."""


def _schema() -> Any:
    try:
        from ai_edge_litert import schema_py_generated as schema
    except ImportError as exc:
        raise TFLiteExportError("Writing a .tflite model: reinstall easy-oww (ai-edge-litert is missing).") from exc
    return schema


def _np(t: torch.Tensor) -> np.ndarray:
    return t.detach().cpu().float().numpy()


class _Buffer:
    """A ``BufferT`` stand-in whose data vector is 16-byte aligned (``ModelT.Pack`` only calls ``Pack``)."""

    def __init__(self, schema: Any, data: bytes = b"") -> None:
        self.schema, self.data = schema, data

    def Pack(self, builder: Any) -> int:  # noqa: N802 - the flatbuffers object API's name
        vec = None
        if self.data:
            builder.StartVector(1, len(self.data), _ALIGN)
            builder.head -= len(self.data)
            builder.Bytes[builder.head:builder.head + len(self.data)] = self.data
            vec = builder.EndVector()
        self.schema.BufferStart(builder)
        if vec is not None:
            self.schema.BufferAddData(builder, vec)
        return self.schema.BufferEnd(builder)


class GraphBuilder:
    """One-subgraph TFLite graph: tensors, constant buffers and operators; :meth:`finish` packs it."""

    def __init__(self) -> None:
        self.s = _schema()
        self.tensors: list[Any] = []
        self.shapes: list[tuple[int, ...]] = []
        self.buffers: list[_Buffer] = [_Buffer(self.s)]  # buffer 0: the empty sentinel
        self.operators: list[Any] = []
        self.opcodes: list[Any] = []
        self.opcode_index: dict[int, int] = {}
        self.producer: dict[int, Any] = {}

    # -- tensors
    def tensor(self, shape: tuple[int, ...], name: str, data: np.ndarray | None = None) -> int:
        """A float32 (or int32 for int data) tensor; with ``data`` it is a constant."""
        ttype = self.s.TensorType.INT32 if data is not None and data.dtype.kind == "i" else self.s.TensorType.FLOAT32
        buf = 0
        if data is not None:
            arr = np.ascontiguousarray(data, dtype="<i4" if ttype == self.s.TensorType.INT32 else "<f4")
            self.buffers.append(_Buffer(self.s, arr.tobytes()))
            buf = len(self.buffers) - 1
        self.tensors.append(self.s.TensorT(shape=[int(v) for v in shape], type=ttype, buffer=buf,
                                           name=f"{name}_{len(self.tensors)}"))
        self.shapes.append(tuple(int(v) for v in shape))
        return len(self.tensors) - 1

    def const(self, array: np.ndarray, name: str) -> int:
        return self.tensor(array.shape, name, array)

    def ints(self, values: list[int], name: str) -> int:
        return self.const(np.asarray(values, dtype=np.int32), name)

    # -- operators
    def op(self, code: str, inputs: list[int], shape: tuple[int, ...], options: Any = None, name: str = "") -> int:
        """Append builtin op ``code`` (version 1) reading ``inputs``; return its new output tensor."""
        builtin = getattr(self.s.BuiltinOperator, code)
        if builtin not in self.opcode_index:
            self.opcode_index[builtin] = len(self.opcodes)
            self.opcodes.append(self.s.OperatorCodeT(deprecatedBuiltinCode=min(builtin, 127), builtinCode=builtin,
                                                     version=1))
        out = self.tensor(shape, name or code.lower())
        opts_type = getattr(self.s.BuiltinOptions, type(options).__name__[:-1]) if options is not None else 0
        oper = self.s.OperatorT(opcodeIndex=self.opcode_index[builtin], inputs=list(inputs), outputs=[out],
                                builtinOptionsType=opts_type, builtinOptions=options)
        self.operators.append(oper)
        self.producer[out] = oper
        return out

    def binary(self, code: str, a: int, b: int, name: str = "") -> int:
        """ADD/SUB/MUL with numpy-style broadcasting of the output shape."""
        shape = tuple(np.broadcast_shapes(self.shapes[a], self.shapes[b]))
        opts = getattr(self.s, f"{code.capitalize()}OptionsT")()
        return self.op(code, [a, b], shape, opts, name)

    def reshape(self, x: int, shape: tuple[int, ...]) -> int:
        assert math.prod(shape) == math.prod(self.shapes[x]), (shape, self.shapes[x])
        return self.op("RESHAPE", [x, self.ints(list(shape), "shape")], shape,
                       self.s.ReshapeOptionsT(newShape=list(shape)))

    def transpose(self, x: int, perm: tuple[int, ...]) -> int:
        shape = tuple(self.shapes[x][p] for p in perm)
        return self.op("TRANSPOSE", [x, self.ints(list(perm), "perm")], shape, self.s.TransposeOptionsT())

    def mean(self, x: int, axis: int) -> int:
        shape = list(self.shapes[x])
        axis %= len(shape)
        shape[axis] = 1
        return self.op("MEAN", [x, self.ints([axis], "axis")], tuple(shape), self.s.ReducerOptionsT(keepDims=True))

    def fc(self, x: int, weight: np.ndarray, bias: np.ndarray | None, name: str = "fc") -> int:
        """FULLY_CONNECTED: ``x`` is viewed as ``(-1, in)``; the output is ``(rows, out)``."""
        out_f, in_f = weight.shape
        rows = math.prod(self.shapes[x]) // in_f
        b = bias if bias is not None else np.zeros(out_f, np.float32)
        ins = [x, self.const(weight, f"{name}_w"), self.const(b, f"{name}_b")]
        return self.op("FULLY_CONNECTED", ins, (rows, out_f), self.s.FullyConnectedOptionsT(), name)

    def linear(self, x: int, layer: torch.nn.Linear, name: str = "fc") -> int:
        return self.fc(x, _np(layer.weight), None if layer.bias is None else _np(layer.bias), name)

    def relu(self, x: int) -> int:
        """Fuse RELU into the op that made ``x`` when it has a free activation slot, else add a RELU op."""
        opts = getattr(self.producer.get(x), "builtinOptions", None)
        if getattr(opts, "fusedActivationFunction", None) == self.s.ActivationFunctionType.NONE:
            opts.fusedActivationFunction = self.s.ActivationFunctionType.RELU
            return x
        return self.op("RELU", [x], self.shapes[x])

    def layer_norm(self, x: int, norm: torch.nn.LayerNorm) -> int:
        """LayerNorm over the last axis, decomposed into builtin ops."""
        if tuple(norm.normalized_shape) != self.shapes[x][-1:]:
            raise TFLiteExportError(f"LayerNorm{tuple(norm.normalized_shape)} must normalize only the last axis.")
        d = self.binary("SUB", x, self.mean(x, -1), "ln_centered")
        var = self.mean(self.binary("MUL", d, d, "ln_sq"), -1)
        eps = self.const(np.asarray(norm.eps, np.float32), "ln_eps")
        rstd = self.op("RSQRT", [self.binary("ADD", var, eps)], self.shapes[var])
        y = self.binary("MUL", d, rstd, "ln_normed")
        if norm.weight is not None:
            y = self.binary("MUL", y, self.const(_np(norm.weight), "ln_gamma"))
        if norm.bias is not None:
            y = self.binary("ADD", y, self.const(_np(norm.bias), "ln_beta"))
        return y

    # -- packing
    def finish(self, inputs: list[int], outputs: list[int], description: str) -> bytes:
        """Pack the graph as a ``TFL3`` flatbuffer with one ``serving_default`` signature."""
        import flatbuffers

        s = self.s
        for idx, label in [(inputs[0], "input"), (outputs[0], "output")]:
            self.tensors[idx].name = label
        subgraph = s.SubGraphT(tensors=self.tensors, inputs=inputs, outputs=outputs,
                               operators=self.operators, name="main")
        signature = s.SignatureDefT(
            inputs=[s.TensorMapT(name=self.tensors[i].name, tensorIndex=i) for i in inputs],
            outputs=[s.TensorMapT(name=self.tensors[i].name, tensorIndex=i) for i in outputs],
            signatureKey="serving_default", subgraphIndex=0)
        model = s.ModelT(version=3, operatorCodes=self.opcodes, subgraphs=[subgraph], description=description,
                         buffers=self.buffers, signatureDefs=[signature])
        builder = flatbuffers.Builder(1024 + sum(len(b.data) + _ALIGN for b in self.buffers))
        builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
        return bytes(builder.Output())


# -- the heads --------------------------------------------------------------------------------------

def _dnn(g: GraphBuilder, x: int, model: Any) -> int:
    """DNNHead: Flatten, [Linear, LayerNorm, ReLU, Dropout]..., Linear."""
    from torch import nn

    h = x
    for i, layer in enumerate(model.net):
        if isinstance(layer, nn.Flatten):
            h = g.reshape(h, (1, math.prod(g.shapes[h][1:])))
        elif isinstance(layer, nn.Linear):
            h = g.linear(h, layer, f"fc{i}")
        elif isinstance(layer, nn.LayerNorm):
            h = g.layer_norm(h, layer)
        elif isinstance(layer, nn.ReLU):
            h = g.relu(h)
        elif not isinstance(layer, (nn.Dropout, nn.Identity)):
            raise TFLiteExportError(f"DNNHead layer {i} ({type(layer).__name__}) cannot be written to TFLite.")
    return h


def _conv_same(g: GraphBuilder, h: int, conv: Any) -> int:
    """Conv1d(k, stride 1, pad k//2) over the frames of ``h`` (T, C): CONV_2D SAME on a (1, 1, T, C) view."""
    k = conv.kernel_size[0]
    if conv.stride != (1,) or conv.dilation != (1,) or conv.groups != 1 or conv.padding != (k // 2,) or k % 2 == 0:
        raise TFLiteExportError("Only Conv1d(kernel odd, stride 1, padding kernel//2) can be written to TFLite.")
    frames, _ = g.shapes[h]
    w = _np(conv.weight).transpose(0, 2, 1)[:, None]  # (out, in, k) -> OHWI (out, 1, k, in)
    b = _np(conv.bias) if conv.bias is not None else np.zeros(w.shape[0], np.float32)
    ins = [g.reshape(h, (1, 1, frames, g.shapes[h][1])), g.const(w, "conv_w"), g.const(b, "conv_b")]
    opts = g.s.Conv2DOptionsT(padding=g.s.Padding.SAME, strideW=1, strideH=1, dilationWFactor=1, dilationHFactor=1)
    y = g.op("CONV_2D", ins, (1, 1, frames, w.shape[0]), opts, "conv")
    return g.reshape(y, (frames, w.shape[0]))


def _temporal(g: GraphBuilder, x: int, model: Any) -> int:
    """TemporalHead: proj+relu, conv blocks with LayerNorm+relu residual, self-attention, LayerNorm, mean, Linear."""
    frames = g.shapes[x][1]
    h = g.relu(g.linear(x, model.proj, "proj"))  # FC flattens (1, T, 96) to (T, W)
    for conv, norm in zip(model.convs, model.conv_norms, strict=True):
        h = g.binary("ADD", h, g.relu(g.layer_norm(_conv_same(g, h, conv), norm)), "residual")
    width = g.shapes[h][1]
    heads = int(model.heads)
    d = width // heads
    w_qkv, b_qkv = _np(model.qkv.weight), _np(model.qkv.bias)
    scale = np.float32(1.0 / math.sqrt(d))  # folded into the query projection
    parts = []
    for j, (perm, s) in enumerate([((1, 0, 2), scale), ((1, 2, 0), np.float32(1)), ((1, 0, 2), np.float32(1))]):
        rows = slice(j * width, (j + 1) * width)
        p = g.fc(h, w_qkv[rows] * s, b_qkv[rows] * s, "qkv"[j])
        parts.append(g.transpose(g.reshape(p, (frames, heads, d)), perm))  # q, v: (H, T, d); k: (H, d, T)
    q, k_t, v = parts
    bmm = g.s.BatchMatMulOptionsT
    scores = g.op("BATCH_MATMUL", [q, k_t], (heads, frames, frames), bmm(), "scores")
    weights = g.op("SOFTMAX", [scores], (heads, frames, frames), g.s.SoftmaxOptionsT(beta=1.0))
    a = g.op("BATCH_MATMUL", [weights, v], (heads, frames, d), bmm(), "attn")
    a = g.reshape(g.transpose(a, (1, 0, 2)), (frames, width))
    h = g.layer_norm(g.binary("ADD", h, g.linear(a, model.attn_out, "attn_out"), "residual"), model.norm)
    return g.linear(g.mean(h, 0), model.out, "out")


def _body(model: torch.nn.Module) -> Any:
    """The graph builder of one head's logit."""
    from core.pipeline.p4_training.heads import DNNHead, EnsembleHead, TemporalHead

    if isinstance(model, DNNHead):
        return _dnn
    if isinstance(model, TemporalHead):
        return _temporal
    if isinstance(model, EnsembleHead):
        return _ensemble
    raise TFLiteExportError(
        f"TFLite export supports easy-oww's DNNHead, TemporalHead and EnsembleHead, not {type(model).__name__}."
    )


def _ensemble(g: GraphBuilder, x: int, model: Any) -> int:
    """EnsembleHead: each member's logit on the same input, summed (ADD), times 1/K (MUL)."""
    total = None
    for member in model.members:
        logit = _body(member)(g, x, member)
        total = logit if total is None else g.binary("ADD", total, logit, "ensemble_sum")
    scale = g.const(np.full(OUTPUT_SHAPE, 1.0 / len(model.members), np.float32), "ensemble_mean")
    return g.binary("MUL", total, scale, "ensemble_logit")


def head_to_tflite(model: torch.nn.Module) -> bytes:
    """The ``.tflite`` bytes of an easy-oww head (``DNNHead``, ``TemporalHead`` or an ``EnsembleHead`` of them):
    (1,16,96) -> (1,1) probability."""
    body = _body(model)
    g = GraphBuilder()
    x = g.tensor(INPUT_SHAPE, "input")
    logit = body(g, x, model)
    if g.shapes[logit] != OUTPUT_SHAPE:
        raise TFLiteExportError(f"The head's output has shape {g.shapes[logit]}, not {OUTPUT_SHAPE}.")
    y = g.op("LOGISTIC", [logit], OUTPUT_SHAPE, name="probability")
    return g.finish([x], [y], f"{WRITER_NAME} {WRITER_VERSION}")
