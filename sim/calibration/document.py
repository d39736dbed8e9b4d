"""The fitted workflow as a file: YAML with the fit's account in comments above it, one shape a line."""

from __future__ import annotations

import io

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.scalarstring import DoubleQuotedScalarString

from sim.calibration.fit import Calibration


def calibrated_yaml(calibration: Calibration) -> str:
    """The text of the fitted workflow file."""
    data = _commented(calibration.workflow)
    data.yaml_set_start_comment("\n".join(calibration.header))
    step = data["steps"][0]
    step["conversation"] = CommentedSeq(DoubleQuotedScalarString(text) for text in step["conversation"])
    step.yaml_set_comment_before_after_key(
        "conversation", before="one traced task a line, in the order read (see docs: conversation shapes)", indent=4)
    yaml = YAML()
    yaml.width = 1 << 20  # a shape stays on one line
    yaml.indent(mapping=2, sequence=4, offset=2)
    out = io.StringIO()
    yaml.dump(data, out)
    return out.getvalue()


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
