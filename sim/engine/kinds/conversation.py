"""The ``conversation`` step: one recorded conversation, drawn whole for each run of a task.

The step is compiled into *positions*: at position ``j`` each shape has one event (or none, when it is
shorter), and the events at ``j`` with the same kind, role or tool, and history are one plan node, an
ordinary ``llm``, ``tool`` or ``user`` node whose sizes are :meth:`~sim.engine.plan.Draw.recorded`:
looked up by the task's shape instead of drawn. A run of the step draws the shape (one uniform, by the
shapes' weights), then runs position after position the node of its event, so model calls, retries,
failures, caching and traces are those of the plain kinds, on both engines. A failed event ends the run
of the task, as a failed step does.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from sim.core.randomness import source_key
from sim.engine.kinds.base import StepKind
from sim.engine.plan import Draw
from sim.engine.rules.choice import cumulative, pick, pick_array
from sim.spec.conversation import parse_shape
from sim.spec.distributions import Fixed
from sim.spec.workflow import LlmStep, ToolStep, UserStep


@dataclass(frozen=True, slots=True)
class Position:
    """The events at one place of the conversation: for each shape the index of its node (-1: the shape
    has ended), and the nodes."""

    node_of_shape: np.ndarray
    nodes: tuple


@dataclass(frozen=True, slots=True)
class Conversation:
    kind = "conversation"
    id: str
    key: int  # uniforms of the shape's draw
    cumulative: tuple[float, ...]  # upper edges of the shapes' shares
    positions: tuple[Position, ...]


def compile_conversation(compiler, step, source: str) -> Conversation:
    shapes = [parse_shape(text) for text in step.conversation]
    n_shapes = len(shapes)
    weights = step.weights if step.weights is not None else [1.0] * n_shapes
    total = sum(weights)
    last_llm = [max(i for i, event in enumerate(events) if event.kind == "llm") for events in shapes]
    split_last = step.last_fail is not None

    def signature_at(index: int, j: int) -> tuple:
        return (*shapes[index][j].signature(), split_last and j == last_llm[index])

    positions = []
    for j in range(max(len(events) for events in shapes)):
        signatures: dict[tuple, int] = {}
        node_of_shape = np.full(n_shapes, -1, dtype=np.int64)
        for index, events in enumerate(shapes):
            if j < len(events):
                node_of_shape[index] = signatures.setdefault(signature_at(index, j), len(signatures))
        nodes = []
        for signature in signatures:
            kind, label, history, last = signature
            def sizes(attribute, signature=signature, j=j):
                return np.array([getattr(events[j], attribute) if j < len(events)
                                 and signature_at(index, j) == signature else 0
                                 for index, events in enumerate(shapes)],
                                dtype=np.float64 if attribute == "latency_s" else np.int64)
            name = f"{step.id}-{j + 1}-{label}" + ("-none" if history == "none" else "") + ("-last" if last else "")
            prefix = f"{source}.{j}.{kind}"
            where = f"{prefix}.{name}"
            if kind == "llm":
                fail = step.last_fail if last else step.fail
                spec = LlmStep(id=name, llm=label, output=Fixed(fixed=0), history=history, fail=fail,
                               retry=step.retry, batch=step.batch)
                (node,) = compiler.steps((spec,), prefix)
                node = replace(node, prompt=Draw.recorded(f"{where}.prompt", sizes("prompt"), True),
                               output=Draw.recorded(f"{where}.output", sizes("size"), True))
            elif kind == "tool":
                spec = ToolStep(id=name, tool=label, fail=step.tool_fail, retry=step.retry)
                (node,) = compiler.steps((spec,), prefix)
                node = replace(node, result=Draw.recorded(f"{where}.result", sizes("size"), True),
                               latency=Draw.recorded(f"{where}.latency", sizes("latency_s"), False))
            else:
                spec = UserStep(id=name, user=Fixed(fixed=0))
                (node,) = compiler.steps((spec,), prefix)
                node = replace(node, tokens=Draw.recorded(f"{where}.user", sizes("size"), True))
            nodes.append(node)
        positions.append(Position(node_of_shape, tuple(nodes)))
    return Conversation(step.id, source_key(f"{source}.shape"), cumulative(weight / total for weight in weights),
                        tuple(positions))


def run_des(runner, step: Conversation, base: tuple, state):
    state.shape = pick(step.cumulative, runner.draws.uniform(state.offset, step.key, base))
    for position in step.positions:
        index = position.node_of_shape[state.shape]
        if index < 0:
            break
        ok = yield from runner.steps((position.nodes[index],), base, state)
        if not ok:
            return False
    return True


def run_fast(block, step: Conversation, base: tuple, idx: np.ndarray) -> np.ndarray:
    shape = pick_array(step.cumulative, block.uniform(step.key, base, idx)).astype(np.int64)
    block.shape[block.at(idx)] = shape
    alive = np.ones(len(idx), dtype=bool)
    for position in step.positions:
        node_index = position.node_of_shape[shape]
        for index, node in enumerate(position.nodes):
            here = np.flatnonzero(alive & (node_index == index))
            if here.size:
                alive[here] = block.steps((node,), base, idx[here])
        if not (alive & (node_index >= 0)).any():
            break
    return alive


KIND = StepKind("conversation", compile_conversation, run_des, run_fast,
                children=lambda node: tuple(position.nodes for position in node.positions))
