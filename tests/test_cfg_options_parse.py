"""--cfg-options values as mmengine's DictAction reads them (issue 33 item 2)."""

from __future__ import annotations

import pytest

from bench.cli.options import parse_cfg_options


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("[Deepfakes,FaceSwap]", ["Deepfakes", "FaceSwap"]),  # unquoted, as DictAction takes it
        ("Deepfakes,FaceSwap", ["Deepfakes", "FaceSwap"]),
        ("[a,[b,c]]", ["a", ["b", "c"]]),
        ("[1,(2,3)]", [1, (2, 3)]),
        ("['x', 'y']", ["x", "y"]),
        ('"q,r"', "q,r"),  # a quoted string stays one string
        ("{'k': [1, 2]}", {"k": [1, 2]}),
        ("5", 5),
        ("0.5", 0.5),
        ("true", True),
        ("False", False),
        ("None", None),
        ("word", "word"),
        ("[a,b", "[a,b"),  # unbalanced: left as text for the key's own check
    ],
)
def test_values(text, value):
    method, other = parse_cfg_options([f"dataset.x={text}", f"method.y={text}"])
    assert other == {"dataset.x": value} and method == {"y": value}
