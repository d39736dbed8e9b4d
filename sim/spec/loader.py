"""Read a workflow file: YAML in, a validated :class:`~sim.spec.workflow.Workflow` out, or one clear message.

Every problem is reported as ``FILE:LINE:COLUMN: FIELD.PATH: what is wrong`` (with "did you mean" where a
close name exists), all problems of a file at once, sorted by line. ruamel.yaml keeps the line and
column of every key and value; pydantic reports a location as a tuple such as
``("steps", 1, "step:llm", "output")``. :func:`sim.spec.keys.trace` follows that tuple through the
format's models (which block is it in, which keys does that block allow, which parts name union members
such as ``step:llm`` rather than keys of the file); :class:`_Marks` then follows the rest through the
file's data to a line and column.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import MarkedYAMLError, YAMLError

from sim.core.errors import WorkflowError
from sim.core.suggest import suggest
from sim.spec import checks, distributions
from sim.spec import workflow as spec
from sim.spec.keys import trace
from sim.spec.kinds import one_of
from sim.spec.routing import ROUTE_KINDS
from sim.spec.workflow import dotted


@dataclass
class _Marks:
    """Line and column (1-based) of every key and value in the file, by data path."""

    keys: dict[tuple, tuple[int, int]] = field(default_factory=dict)
    values: dict[tuple, tuple[int, int]] = field(default_factory=dict)

    def to_plain(self, node: Any, path: tuple = ()) -> Any:
        """Copy ruamel's data into plain dicts, lists and scalars, recording marks on the way."""
        if isinstance(node, CommentedMap):
            if path == ():
                self.values[()] = (node.lc.line + 1, node.lc.col + 1)
            plain = {}
            for key in node:
                try:
                    line, col = node.lc.key(key)
                    vline, vcol = node.lc.value(key)
                except KeyError:  # a key merged in (<<: *anchor): reported at the mapping that merges it
                    line, col = vline, vcol = node.lc.line, node.lc.col
                self.keys[(*path, key)] = (line + 1, col + 1)
                self.values[(*path, key)] = (vline + 1, vcol + 1)
                plain[str(key)] = self.to_plain(node[key], (*path, str(key)))
            return plain
        if isinstance(node, CommentedSeq):
            items = []
            for index, item in enumerate(node):
                line, col = node.lc.item(index)
                self.keys[(*path, index)] = self.values[(*path, index)] = (line + 1, col + 1)
                items.append(self.to_plain(item, (*path, index)))
            return items
        if isinstance(node, bool) or node is None:
            return node
        if isinstance(node, int):
            return int(node)
        if isinstance(node, float):
            return float(node)
        return str(node)

    def locate(self, data: Any, loc: tuple, *, at_key: bool = False) -> tuple[tuple, tuple, tuple[int, int]]:
        """Follow a location (of keys and indices only: no union tags) through the data.

        Returns the path that exists in the file, the rest of the location (a missing key), and the
        (line, column) to report: the key itself for an unknown key, else the deepest existing value.
        """
        found: list = []
        rest: list = []
        node = data
        for part in loc:
            if rest:
                rest.append(part)
            elif isinstance(node, dict) and part in node:
                found.append(part)
                node = node[part]
            elif isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
                found.append(part)
                node = node[part]
            else:
                rest.append(part)
        path = tuple(found)
        table = self.keys if at_key else self.values
        while path not in table and path:
            path = path[:-1]
        return tuple(found), tuple(rest), table.get(path, self.values.get((), (1, 1)))


def _in_file(loc: tuple) -> tuple:
    """A pydantic location without the union tags and member names: a path into the file's data."""
    tags = trace(loc).tags
    return tuple(part for position, part in enumerate(loc) if position not in tags)


def _fitting(errors: list[dict], data: Any) -> list[dict]:
    """Drop the complaints of a plain union's members that do not take the kind of value the file gives
    (``bool`` of ``batch: {delay_s: ...}``) when a member that does (``Batch``) has its own complaint."""
    wrong_at: list[list[tuple]] = []  # per error: the unions where its member does not take the value
    fitting_at: set[tuple] = set()  # the unions where some error's member does
    for error in errors:
        loc, members = error["loc"], trace(error["loc"]).members
        wrong = [loc[:at] for at, shape in members.items() if _shape(_node(data, _in_file(loc[:at]))) != shape]
        fitting_at.update(loc[:at] for at in members if loc[:at] not in wrong)
        wrong_at.append(wrong)
    return [error for error, wrong in zip(errors, wrong_at) if not any(union in fitting_at for union in wrong)]


def _shape(node: Any) -> str:
    return "mapping" if isinstance(node, dict) else "list" if isinstance(node, list) else "scalar"


def _kind_hint(value: dict, kinds: tuple[str, ...], ignore: tuple[str, ...] = ()) -> str:
    """"; did you mean 'llm'?" for the first key of a step or route that is close to one of its kinds."""
    return next((hint for key in value if key not in ignore and (hint := suggest(key, kinds))), "")


def _message(error: dict, data: Any, marks: _Marks) -> tuple[tuple[int, int], str]:
    kind = error["type"]
    found, rest, mark = marks.locate(data, _in_file(error["loc"]), at_key=(kind == "extra_forbidden"))
    value = error.get("input")
    if kind == "extra_forbidden":
        name = (found + rest)[-1]
        allowed = trace(error["loc"][:-1]).keys()
        hint = suggest(name, allowed)
        if not hint and len(allowed) <= _MAX_KEYS_LISTED:
            hint = f" (allowed here: {', '.join(allowed)})"
        return mark, f"{dotted(found + rest)}: unknown key {name!r}{hint}"
    if kind == "missing":
        return mark, f"{dotted(found + rest[:-1])}: missing required key {rest[-1]!r}"
    if kind == "distribution":
        if isinstance(value, dict):
            names = [key for key in value if key not in ("min", "max")]
            if len(names) == 1:
                hint = suggest(names[0], list(distributions.FAMILIES))
                return mark, f"{dotted(found)}: unknown distribution {names[0]!r}{hint} " + (
                    f"(choose one of {', '.join(distributions.FAMILIES)})"
                )
            families = [name for name in names if name in distributions.FAMILIES]
            others = [name for name in names if name not in distributions.FAMILIES]
            if len(families) == 1:  # a family and a key beside it that is not min or max
                allowed = ", ".join(sorted(["min", "max", families[0]]))
                hint = suggest(others[0], ["min", "max"]) or f" (allowed here: {allowed})"
                where = marks.keys.get((*found, others[0]), mark)
                return where, f"{dotted((*found, others[0]))}: unknown key {others[0]!r}{hint}"
            return mark, f"{dotted(found)}: a distribution is one key naming its family, got {names}"
        return mark, f"{dotted(found)}: expected a number or {{family: {{...}}}}, got {value!r}"
    if kind == "mixture_component":
        return mark, f"{dotted(found)}: {_component_problem(value)}"
    if kind == "step_kind":
        if isinstance(value, dict):
            kinds = [kind for kind in spec.STEP_KINDS if kind in value]
            if len(kinds) > 1:
                return mark, f"{dotted(found)}: a step has one kind, but this one has {' and '.join(kinds)}"
            hint = _kind_hint(value, spec.STEP_KINDS, ignore=("id",))
            return mark, f"{dotted(found)}: a step needs one of the keys {one_of(spec.STEP_KINDS)}{hint}"
        return mark, f"{dotted(found)}: a step is a mapping with an id and one of {one_of(spec.STEP_KINDS)}"
    if kind == "route_kind" and isinstance(value, dict) and not any(key in value for key in ROUTE_KINDS):
        if hint := _kind_hint(value, ROUTE_KINDS):
            return mark, f"{dotted(found)}: a route needs one of the keys split, cascade, router or fallback{hint}"
    if kind == "too_short" and error.get("ctx", {}).get("min_length") == 1:
        return mark, f"{dotted(found + rest)}: must not be empty"
    if "when:fail_task" in error["loc"]:
        text = "must be fail_task or {escalate: ROLE_OR_MODEL}"
    elif "fail:quality" in error["loc"]:
        text = "must be a probability, {default: P, provider:model: P, ...} or quality"
    elif kind in ("less_than_equal", "greater_than_equal") and _is_probability(error["loc"]):
        text = "is a probability: it must be between 0 and 1"
    elif kind == "string_pattern_mismatch" and error["loc"][-1] == "id":
        text = "a step id must start with a letter or _ and hold only letters, digits, _ and -"
    else:
        text = _PLAIN.get(kind) or error["msg"].removeprefix("Value error, ").replace("Input should be", "must be")
    if kind not in ("value_error", "assertion_error"):
        text += f" (got {_shown(value)})"
    return mark, f"{dotted(found + rest)}: {text}"


def _component_problem(value: Any) -> str:
    """What is wrong with a mixture's component that names no family it may have."""
    example = "{weight: 0.3, lognormal: {median: 900, sigma: 0.4}}"
    families = distributions.COMPONENT_FAMILIES
    if not isinstance(value, dict):
        return f"a mixture's component is a family with its weight, e.g. {example}; got {_shown(value)}"
    names = [key for key in value if key not in ("weight", "min", "max")]
    if "mixture" in names:
        return ("a mixture's component cannot be a mixture: list its components in the outer mixture, "
                "their weights multiplied by its weight")
    if len(names) == 1:
        return (f"unknown distribution {names[0]!r}{suggest(names[0], list(families))} "
                f"(a component is one of {', '.join(families)} with its weight)")
    if not names:
        return f"a mixture's component needs a family beside its weight, e.g. {example}"
    return f"a mixture's component is one family with its weight, got {names}"


def _is_probability(loc: tuple) -> bool:
    """A step's ``fail`` (a number or a per-model entry) or a branch arm's ``p``."""
    return loc[-1] in ("fail", "p") or "fail:per-model" in loc or loc[-2:-1] == ("fail",)


_MAX_KEYS_LISTED = 12  # an unknown key with no close match lists the allowed keys, when they are this few

# pydantic's wording where a shorter one says the same to someone writing YAML.
_PLAIN = {
    "int_parsing": "must be a whole number",
    "int_from_float": "must be a whole number",
    "int_type": "must be a whole number",
    "float_parsing": "must be a number",
    "float_type": "must be a number",
    "dict_type": "must be a mapping of key: value pairs",
    "list_type": "must be a list",
}


def _shown(value: Any) -> str:
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return repr(value)


def _node(data: Any, path: tuple) -> Any:
    """The value at ``path`` in the file's data (None where the path leaves it)."""
    for part in path:
        if isinstance(data, dict) and part in data or isinstance(data, list) and isinstance(part, int):
            data = data[part]
        else:
            return None
    return data


def _drop_missing_explained_by_typos(problems: list[tuple[tuple[int, int], str]]) -> list:
    """A misspelt required key shows up twice (unknown 'ouput', missing 'output'); keep the first."""
    suggested = {text.split("; did you mean ")[1].rstrip("?") for _, text in problems if "did you mean" in text}
    return [(mark, text) for mark, text in problems
            if not (text.split(": missing required key ")[-1] in suggested and "missing required key" in text)]


def _fail(path: Path, problems: list[tuple[tuple[int, int], str]]) -> WorkflowError:
    problems = sorted(set(_drop_missing_explained_by_typos(problems)))
    lines = [f"{path}:{line}:{col}: {text}" for (line, col), text in problems]
    if len(lines) > 1:
        lines.insert(0, f"{path}: {len(lines)} problems")
    return WorkflowError("\n".join(lines))


def _yaml_problem(exc: MarkedYAMLError) -> str:
    """ruamel's problem in plain words, with where the enclosing construct starts when that helps."""
    problem, context, start = str(exc.problem or ""), str(exc.context or ""), exc.context_mark
    at = f"starts at line {start.line + 1}, column {start.column + 1}" if start else ""
    what = re.match(r"while (?:parsing|scanning|constructing) an? (.+)", context)
    opened = f"the {what[1]} that {at}" if what and at else ""
    if "'\\t'" in problem:
        return "a tab character; YAML indents with spaces only"
    if duplicate := re.match(r'found duplicate key "(.*?)" with value', problem):
        where = f" in {opened}" if opened else ""
        return f"duplicate key {duplicate[1]!r}{where}; a key may appear only once in a mapping"
    if problem.startswith("expected <block end>"):
        block = f"the block that {at}" if at else "the lines above"
        return f"this line's indentation does not fit {block} ({problem})"
    if problem == "mapping values are not allowed here":
        return f"{problem}; check the indentation, or quote a value that contains ': '"
    return problem + (f" (in {opened})" if opened else "")


#: The largest workflow file read, in bytes. A hand-written workflow is a few kilobytes; one that
#: ``costsim calibrate`` wrote holds a line per traced task (about 250 bytes), so this admits about 20,000
#: traced tasks, read in about 10 s (a file of 8,910 tasks, 1 MB: 2 s). Reading YAML values takes about
#: 0.1 s per 1,000 here, which :data:`MAX_WORKFLOW_NODES` bounds; observed data beyond it (a long
#: empirical list) belongs in a histogram: its distinct values with their counts as weights.
MAX_WORKFLOW_BYTES = 5_000_000
#: The most values (mappings, lists and scalars, each alias counted as often as it is used) a workflow may
#: expand to: an alias of an alias of a list (a "billion laughs" file) is refused before it is expanded.
MAX_WORKFLOW_NODES = 50_000
#: The deepest nesting of mappings and lists: a loop in a branch in a loop ... is far shallower.
MAX_WORKFLOW_DEPTH = 64
#: The YAML tags a workflow may hold, written or implied: plain mappings, lists, text, numbers, booleans,
#: null, dates (read as text) and merge keys (``<<: *defaults``). Any other (``!!python/object``,
#: ``!!binary``, ``!custom``) is refused: a workflow is data.
_TAGS = {f"tag:yaml.org,2002:{name}" for name in ("map", "seq", "str", "int", "float", "bool", "null",
                                                   "timestamp", "merge")}
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")  # control characters but tab and newline


def _check_nodes(path: Path, root) -> None:
    """Refuse, before anything is built from it, a YAML document that holds a tag other than plain data,
    nests deeper than :data:`MAX_WORKFLOW_DEPTH`, expands (through aliases) to more than
    :data:`MAX_WORKFLOW_NODES` values, or holds a control character in a text (an ANSI escape in a name
    would reach the terminal)."""
    stack = [(root, 1)]
    count = 0
    while stack:
        node, depth = stack.pop()
        count += 1
        where = f"{path}:{node.start_mark.line + 1}:{node.start_mark.column + 1}"
        if count > MAX_WORKFLOW_NODES:
            raise WorkflowError(f"{where}: the workflow expands to more than {MAX_WORKFLOW_NODES:,} values (aliases "
                                "counted each time they are used); write it without repeating large anchors")
        if depth > MAX_WORKFLOW_DEPTH:
            raise WorkflowError(f"{where}: nested more than {MAX_WORKFLOW_DEPTH} levels deep; a workflow needs far "
                                "fewer (move deeply nested steps up a level)")
        tag = str(getattr(node.tag, "value", node.tag))
        if tag not in _TAGS:
            shown = "!!" + tag.removeprefix("tag:yaml.org,2002:") if tag.startswith("tag:yaml.org,2002:") else tag
            raise WorkflowError(f"{where}: the YAML tag {shown} is not allowed; a workflow holds plain mappings, "
                                "lists, numbers and text")
        if isinstance(node.value, str):
            if control := _CONTROL.search(node.value):
                raise WorkflowError(f"{where}: a control character ({control[0]!r}) in {node.value[:40]!r}; "
                                    "write plain text")
        elif isinstance(node.value, list):
            for item in reversed(node.value):
                if isinstance(item, tuple):  # a mapping's (key, value)
                    stack.extend((part, depth + 1) for part in reversed(item))
                else:
                    stack.append((item, depth + 1))


def _misfit_tag(path: Path, root) -> WorkflowError:
    """The error for a document the YAML reader could not build although every tag is allowed: a value
    whose explicit tag it does not fit (``!!int abc``, ``!!float x``, ``!!timestamp 2026-13-45``), found
    by building its scalars one at a time (only on this failure path)."""
    constructor = YAML(typ="rt").constructor
    stack = [root]
    while stack:
        node = stack.pop()
        if isinstance(node.value, list):
            for item in reversed(node.value):
                stack.extend(reversed(item) if isinstance(item, tuple) else [item])
            continue
        try:
            constructor.construct_object(node, deep=True)
        except (ValueError, TypeError, OverflowError, KeyError):
            tag = str(getattr(node.tag, "value", node.tag)).removeprefix("tag:yaml.org,2002:")
            return WorkflowError(f"{path}:{node.start_mark.line + 1}:{node.start_mark.column + 1}: {node.value!r} "
                                 f"does not fit its tag !!{tag}; write the value without the tag")
    return WorkflowError(f"{path}:1:1: the YAML reader could not build this document; write plain mappings, "
                         "lists, numbers and text")


def _too_deep_at(text: str) -> tuple[int, int]:
    """Where (line, column) the brackets ``[`` and ``{`` first nest deeper than :data:`MAX_WORKFLOW_DEPTH`;
    else the start of the most indented line (a block too deep)."""
    depth, line, col = 0, 1, 0
    for char in text:
        col += 1
        if char == "\n":
            line, col = line + 1, 0
        elif char in "[{":
            depth += 1
            if depth > MAX_WORKFLOW_DEPTH:
                return line, col
        elif char in "]}":
            depth -= 1
    lines = text.split("\n")
    indents = [len(row) - len(row.lstrip(" ")) for row in lines]
    deepest = max(range(len(lines)), key=indents.__getitem__)
    return deepest + 1, indents[deepest] + 1


def parse_workflow(text: str, path: str | Path = "<workflow>") -> spec.Workflow:
    """Validate workflow YAML ``text``; ``path`` only names the file in messages.

    A document that is not plain data of a bounded size (a tag such as ``!!python/object``, nesting deeper
    than :data:`MAX_WORKFLOW_DEPTH`, aliases expanding to more than :data:`MAX_WORKFLOW_NODES` values) is
    refused before it is built."""
    path = Path(path)
    try:
        yaml = YAML(typ="rt")
        root = yaml.compose(text)
        if root is not None:
            _check_nodes(path, root)
        try:  # built from the nodes just checked: the text is read once (what yaml.load(text) would build)
            document = None if root is None else yaml.constructor.construct_document(root)
        except (ValueError, TypeError, OverflowError, KeyError):  # a tagged value that is not of its tag (!!int abc)
            raise _misfit_tag(path, root) from None
    except RecursionError:  # deeper than the YAML reader itself can go: say where it gets too deep
        line, col = _too_deep_at(text)
        raise WorkflowError(f"{path}:{line}:{col}: nested too deeply to read; a workflow needs far fewer than "
                            f"{MAX_WORKFLOW_DEPTH} levels") from None
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"{mark.line + 1}:{mark.column + 1}" if mark else "1:1"
        raise WorkflowError(f"{path}:{where}: YAML syntax error: {_yaml_problem(exc)}") from None
    except YAMLError as exc:
        raise WorkflowError(f"{path}: YAML syntax error: {exc}") from None
    if document is None:
        raise WorkflowError(f"{path}:1:1: the workflow is empty; it needs at least name, models and steps")
    if not isinstance(document, CommentedMap):
        holds = "a list" if isinstance(document, CommentedSeq) else f"the single value {str(document)!r}"
        raise WorkflowError(f"{path}:1:1: a workflow is a mapping of keys (name, models, steps, ...), "
                            f"but this file holds {holds}")
    marks = _Marks()
    data = marks.to_plain(document)
    try:
        workflow = spec.Workflow.model_validate(data)
    except ValidationError as exc:
        raise _fail(path, [_message(error, data, marks) for error in _fitting(exc.errors(), data)]) from None
    problems = []
    for loc, text in checks.cross_references(workflow):
        found, rest, mark = marks.locate(data, loc)
        problems.append((mark, f"{dotted(found + rest)}: {text}"))
    if problems:
        raise _fail(path, problems)
    return workflow


def load_workflow(path: str | Path) -> spec.Workflow:
    """Read and validate a workflow file; raises :class:`~sim.core.errors.WorkflowError` with a clear message."""
    path = Path(path)
    try:
        if path.is_file() and path.stat().st_size > MAX_WORKFLOW_BYTES:
            raise WorkflowError(f"{path}: {path.stat().st_size:,} bytes, more than a workflow may hold "
                                f"({MAX_WORKFLOW_BYTES:,}); give a long empirical list as a histogram (its "
                                "distinct values, with their counts as weights)")
        raw = path.read_bytes()
    except FileNotFoundError:
        raise WorkflowError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise WorkflowError(f"{path}: is a folder; give the workflow file itself (YAML)") from None
    except OSError as exc:
        raise WorkflowError(f"{path}: cannot read the file: {exc.strerror or exc}") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line_start = raw.rfind(b"\n", 0, exc.start) + 1
        line = raw.count(b"\n", 0, exc.start) + 1
        col = len(raw[line_start:exc.start].decode("utf-8", errors="replace")) + 1
        raise WorkflowError(f"{path}:{line}:{col}: not UTF-8 text (byte {raw[exc.start]:#04x}); "
                            "save the file as UTF-8") from None
    return parse_workflow(text, path)
