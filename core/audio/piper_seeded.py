"""Deterministic Piper synthesis: the voice's random noise comes from a seed the caller chooses.

Piper (VITS) voices draw their sampling noise with ONNX ``RandomNormalLike`` nodes, which onnxruntime seeds
from the clock: the same text, voice and prosody gave different audio on every call. Here each such node is
replaced, once when the voice loads, by a counter-based Gaussian (a hash of the element index and a seed
fed as an extra graph input, Box-Muller): the same (text, voice, prosody, seed) always gives the same audio,
in any process and in any order.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

SEED_INPUT = "easy_oww_noise_seed"


def _hash_normal_nodes(onnx: Any, helper: Any, node: Any, k: int) -> list[Any]:
    """Nodes computing N(0, 1) noise shaped like ``node.input[0]`` into ``node.output[0]``."""
    p = f"easy_oww_noise{k}_"
    x, out = node.input[0], node.output[0]
    tp = onnx.TensorProto

    def const(name: str, value: float) -> Any:
        return helper.make_node("Constant", [], [p + name],
                                value=helper.make_tensor(p + name + "_v", tp.FLOAT, [], [value]))

    nodes = [
        helper.make_node("Shape", [x], [p + "shape"]),
        helper.make_node("ReduceProd", [p + "shape"], [p + "size"], keepdims=0),
        helper.make_node("Cast", [p + "size"], [p + "sizef"], to=tp.FLOAT),
        const("zero", 0.0), const("one", 1.0),
        helper.make_node("Range", [p + "zero", p + "sizef", p + "one"], [p + "idx"]),
        # Keep the index small enough for float32 sin(): wrap every 2**20 elements.
        const("wrap", float(2**20)),
        helper.make_node("Mod", [p + "idx", p + "wrap"], [p + "i"], fmod=1),
        const("salt", float(k) * 7.31 + 0.5),
        helper.make_node("Add", [SEED_INPUT, p + "salt"], [p + "s"]),
    ]

    def uniform(tag: str, a: float, b: float) -> str:
        # fract(sin(i * a + s * b) * 43758.5453), kept inside (0, 1).
        nodes.extend([
            const(tag + "a", a), const(tag + "b", b), const(tag + "m", 43758.5453),
            helper.make_node("Mul", [p + "i", p + tag + "a"], [p + tag + "ia"]),
            helper.make_node("Mul", [p + "s", p + tag + "b"], [p + tag + "sb"]),
            helper.make_node("Add", [p + tag + "ia", p + tag + "sb"], [p + tag + "arg"]),
            helper.make_node("Sin", [p + tag + "arg"], [p + tag + "sin"]),
            helper.make_node("Mul", [p + tag + "sin", p + tag + "m"], [p + tag + "big"]),
            helper.make_node("Floor", [p + tag + "big"], [p + tag + "fl"]),
            helper.make_node("Sub", [p + tag + "big", p + tag + "fl"], [p + tag + "fr"]),
            const(tag + "lo", 1e-6), const(tag + "hi", 1.0 - 1e-6),
            helper.make_node("Clip", [p + tag + "fr", p + tag + "lo", p + tag + "hi"], [p + tag]),
        ])
        return p + tag

    u1, u2 = uniform("u1", 12.9898, 78.233), uniform("u2", 39.3468, 11.135)
    nodes.extend([
        helper.make_node("Log", [u1], [p + "log"]),
        const("m2", -2.0), const("tau", float(2 * np.pi)),
        helper.make_node("Mul", [p + "log", p + "m2"], [p + "r2"]),
        helper.make_node("Sqrt", [p + "r2"], [p + "r"]),
        helper.make_node("Mul", [u2, p + "tau"], [p + "th"]),
        helper.make_node("Cos", [p + "th"], [p + "cos"]),
        helper.make_node("Mul", [p + "r", p + "cos"], [p + "flat"]),
        helper.make_node("Reshape", [p + "flat", p + "shape"], [p + "shaped"]),
        helper.make_node("CastLike", [p + "shaped", x], [out]),
    ])
    return nodes


def seeded_model_bytes(model_path: str | Path) -> bytes | None:
    """The voice model with seedable noise, serialised; None if it has no random nodes."""
    import onnx
    from onnx import helper

    model = onnx.load(str(model_path))
    graph = model.graph
    randoms = [n for n in graph.node if n.op_type == "RandomNormalLike"]
    if not randoms:
        return None
    new_nodes = []
    for node in graph.node:
        if node.op_type == "RandomNormalLike":
            new_nodes.extend(_hash_normal_nodes(onnx, helper, node, len(new_nodes)))
        else:
            new_nodes.append(node)
    del graph.node[:]
    graph.node.extend(new_nodes)
    graph.input.append(helper.make_tensor_value_info(SEED_INPUT, onnx.TensorProto.FLOAT, []))
    opset = max((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), default=0)
    if opset < 15:  # CastLike needs opset 15
        for o in model.opset_import:
            if o.domain in ("", "ai.onnx"):
                o.version = 15
    return model.SerializeToString()


class SeededSession:
    """An onnxruntime session that feeds the noise seed; Piper calls ``run`` as on a plain session."""

    def __init__(self, session: Any) -> None:
        self._session = session
        self.seed = 0.0

    def set_seed(self, seed: int) -> None:
        # Seeds stay small (float32 sin arguments): 0 .. 9999.
        self.seed = float(int(seed) % 10_000)

    def run(self, output_names: Any, feeds: dict[str, Any], *args: Any, **kw: Any) -> Any:
        feeds = dict(feeds)
        feeds[SEED_INPUT] = np.array(self.seed, dtype=np.float32)
        return self._session.run(output_names, feeds, *args, **kw)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._session, name)
