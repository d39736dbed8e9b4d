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
from functools import lru_cache

import numpy as np

from sim.core.randomness import source_key, uniforms
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


#: Parsed shapes by their text: a bootstrap compiles resamples of the same shapes hundreds of times.
_parsed = lru_cache(maxsize=1 << 17)(parse_shape)
_KINDS = ("llm", "tool", "user")


def compile_conversation(compiler, step, source: str) -> Conversation:
    shapes = [_parsed(text) for text in step.conversation]
    n_shapes = len(shapes)
    weights = np.asarray(step.weights if step.weights is not None else [1.0] * n_shapes, dtype=np.float64)
    split_last = step.last_fail is not None
    table = _Table(shapes, split_last)
    positions = []
    for j in range(table.width):
        codes = table.signature[:, j]
        present = np.unique(codes[codes >= 0])
        node_of_shape = np.full(n_shapes, -1, dtype=np.int64)
        nodes = []
        for index, code in enumerate(present):
            here = codes == code
            node_of_shape[here] = index
            kind, label, history, last = table.signatures[code]
            name = f"{step.id}-{j + 1}-{label}" + ("-none" if history == "none" else "") + ("-last" if last else "")
            prefix = f"{source}.{j}.{kind}"
            where = f"{prefix}.{name}"

            def sizes(column: np.ndarray, here=here, j=j) -> np.ndarray:
                return np.where(here, column[:, j], 0)

            if kind == "llm":
                fail = step.last_fail if last else step.fail
                spec = LlmStep(id=name, llm=label, output=Fixed(fixed=0), history=history, fail=fail,
                               retry=step.retry, batch=step.batch)
                (node,) = compiler.steps((spec,), prefix)
                node = replace(node, prompt=Draw.recorded(f"{where}.prompt", sizes(table.prompt), True),
                               output=Draw.recorded(f"{where}.output", sizes(table.size), True))
            elif kind == "tool":
                spec = ToolStep(id=name, tool=label, fail=step.tool_fail, retry=step.retry)
                (node,) = compiler.steps((spec,), prefix)
                node = replace(node, result=Draw.recorded(f"{where}.result", sizes(table.size), True),
                               latency=Draw.recorded(f"{where}.latency", sizes(table.latency_s), False))
            else:
                spec = UserStep(id=name, user=Fixed(fixed=0))
                (node,) = compiler.steps((spec,), prefix)
                node = replace(node, tokens=Draw.recorded(f"{where}.user", sizes(table.size), True))
            nodes.append(node)
        positions.append(Position(node_of_shape, tuple(nodes)))
    return Conversation(step.id, source_key(f"{source}.shape"),
                        cumulative((weights / weights.sum()).tolist()), tuple(positions))


class _Table:
    """The shapes as arrays, one row a shape, one column a position (padded): each event's signature
    (an index into ``signatures``: kind, role or tool, history, and whether it is the shape's last model
    call when that has a failure rate of its own; -1 past a shape's end) and its sizes."""

    def __init__(self, shapes: list[tuple], split_last: bool) -> None:
        n, width = len(shapes), max(len(events) for events in shapes)
        self.width = width
        self.signature = np.full((n, width), -1, dtype=np.int64)
        self.size = np.zeros((n, width), dtype=np.int64)
        self.prompt = np.zeros((n, width), dtype=np.int64)
        self.latency_s = np.zeros((n, width), dtype=np.float64)
        codes: dict[tuple, int] = {}
        for row, events in enumerate(shapes):
            last = max(i for i, event in enumerate(events) if event.kind == "llm") if split_last else -1
            for j, event in enumerate(events):
                key = (*event.signature(), j == last)
                code = codes.get(key)
                if code is None:
                    code = codes[key] = len(codes)
                self.signature[row, j] = code
                self.size[row, j] = event.size
                self.prompt[row, j] = event.prompt
                self.latency_s[row, j] = event.latency_s
        self.signatures = list(codes)


def shapes_of_tasks(step, seed: int, task_ids: np.ndarray, run: int = 0) -> np.ndarray:
    """The shape each task draws in its run ``run`` of a top-level conversation ``step`` (a spec step),
    as both engines draw it: which recorded conversation each simulated task replayed (for a bootstrap
    that weighs the tasks by the resampled conversations)."""
    weights = np.asarray(step.weights if step.weights is not None else [1.0] * len(step.conversation), dtype=float)
    edges = cumulative((weights / weights.sum()).tolist())
    u = uniforms(seed, np.asarray(task_ids, dtype=np.uint64), source_key(f"steps.{step.id}.shape"), (run,))
    return pick_array(edges, u).astype(np.int64)


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
