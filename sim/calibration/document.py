"""The fitted workflow as a file: YAML with the fit's account in comments above it, one shape a line."""

from __future__ import annotations

import io

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.scalarstring import DoubleQuotedScalarString

from sim.calibration.fit import Calibration

#: Where the shapes go: ruamel.yaml writes everything else, the shapes (thousands of plain lines: letters,
#: digits and ``:.!_- ``, nothing to escape in double quotes) are written as lines, which is many times faster.
_SHAPES = "__costsim_shapes__"


def calibrated_yaml(calibration: Calibration) -> str:
    """The text of the fitted workflow file."""
    data = _commented(calibration.workflow)
    data.yaml_set_start_comment("\n".join(calibration.header))
    step = data["steps"][0]
    shapes = step["conversation"]
    step["conversation"] = CommentedSeq([DoubleQuotedScalarString(_SHAPES)])
    step.yaml_set_comment_before_after_key(
        "conversation", before="one traced task a line, in the order read (see docs: conversation shapes)", indent=4)
    yaml = YAML()
    yaml.width = 1 << 20  # a shape stays on one line
    yaml.indent(mapping=2, sequence=4, offset=2)
    out = io.StringIO()
    yaml.dump(data, out)
    marker = f'      - "{_SHAPES}"\n'
    text = out.getvalue()
    assert text.count(marker) == 1
    return text.replace(marker, "".join(f'      - "{shape}"\n' for shape in shapes))


def _commented(value):
    if isinstance(value, dict):
        result = CommentedMap()
        for key, item in value.items():
            result[key] = _commented(item)
        if all(not isinstance(item, dict | list) for item in value.values()) and len(value) <= 4:
            result.fa.set_flow_style()
        return result
    if isinstance(value, list):
        return CommentedSeq(_commented(item) for item in value)
    return value
