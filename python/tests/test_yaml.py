import math

import pytest

from trainyard import _yaml
from trainyard._yaml import YamlError, dumps, loads

SEED_002 = """\
name: sklearn-training-env
dependencies:
  - python=3.6.2
  - scikit-learn
  - numpy
  - pip:
    - azureml-defaults
"""

SEED_000 = """\
channels:
- conda-forge
dependencies:
- python=3.6.2
- pip:
  - azureml-defaults
  - tensorflow-gpu==2.0.0
  - keras<=2.3.1
  - matplotlib
"""


def test_seed_002_conda_file():
    assert loads(SEED_002) == {
        "name": "sklearn-training-env",
        "dependencies": ["python=3.6.2", "scikit-learn", "numpy",
                         {"pip": ["azureml-defaults"]}]}


def test_seed_000_compact_sequences():
    assert loads(SEED_000) == {
        "channels": ["conda-forge"],
        "dependencies": ["python=3.6.2", {"pip": ["azureml-defaults", "tensorflow-gpu==2.0.0",
                                                  "keras<=2.3.1", "matplotlib"]}]}


def test_comments_quotes_flow_lists_and_document_start():
    text = """---
# leading comment
name: "my env"   # trailing comment
channels: [conda-forge, 'defaults', "x y"]
empty: []
nothing:
tilde: ~
dependencies:
  - 'python=3.8'  # pinned
  - "a # not a comment"
  - url: http://example.com/x#frag
"""
    data = loads(text)
    assert data == {"name": "my env", "channels": ["conda-forge", "defaults", "x y"],
                    "empty": [], "nothing": None, "tilde": None,
                    "dependencies": ["python=3.8", "a # not a comment",
                                     {"url": "http://example.com/x#frag"}]}
    assert data.lines["dependencies"] == 8
    assert data["dependencies"].lines == [9, 10, 11]


def test_scalars_follow_the_core_schema():
    data = loads("a: 1\nb: -2.5\nc: true\nd: False\ne: null\nf: 3.6.2\ng: .inf\nh: 1e3\n"
                 "i: 0x1f\nj: '1'\nk: python=3.6\n")
    assert data == {"a": 1, "b": -2.5, "c": True, "d": False, "e": None, "f": "3.6.2",
                    "g": math.inf, "h": 1000.0, "i": 31, "j": "1", "k": "python=3.6"}


def test_escapes_in_double_quotes():
    assert loads(r'a: "tab\there \"q\" \u00e9 \\"') == {"a": 'tab\there "q" \u00e9 \\'}
    assert loads("a: 'it''s'") == {"a": "it's"}


@pytest.mark.parametrize("text,line,fragment", [
    ("a: 1\n\tb: 2\n", 2, "tabs"),
    ("a: &x 1\n", 1, "anchors"),
    ("a: *x\n", 1, "anchors"),
    ("a: !!str 1\n", 1, "tags"),
    ("a: |\n  text\n", 1, "block scalars"),
    ("a: >\n  text\n", 1, "block scalars"),
    ("a: {b: 1}\n", 1, "flow mappings"),
    ("a: 1\na: 2\n", 2, "duplicate key"),
    ("a: b: c\n", 1, "nested mapping"),
    ("a: one\n  two\n", 2, "multi-line"),
    ("a: 'open\n", 1, "unterminated"),
    ("a: [1, 2\n", 1, "unterminated flow"),
    ("a:\n  - x\n b: 1\n", 3, "indentation"),
    ("- a\nb: 1\n", 2, "mixed"),
    ("a: 1\n- b\n", 2, "found a list item"),
    ("a: 1\n---\nb: 2\n", 2, "one YAML document"),
    ('a: "bad \\q"\n', 1, "escape"),
    ("a: [x, , y]\n", 1, "empty item"),
    ("key\n", 1, "expected 'key: value'"),
])
def test_unsupported_or_invalid_yaml_names_the_line(text, line, fragment):
    with pytest.raises(YamlError) as info:
        loads(text)
    assert info.value.line == line
    assert fragment in info.value.message


def test_empty_document_is_none():
    assert loads("") is None
    assert loads("# only a comment\n\n") is None


@pytest.mark.parametrize("value", [
    {"name": "env", "channels": [], "dependencies": ["python=3.8", {"pip": ["a==1", "b"]}]},
    {"weird": ["", " x", "1", "true", "null", "a: b", "#c", "-d", "- e", "é", "x #y", "[z]"],
     "num": [1, 2.5, None, True], "nested": {"deep": {"deeper": [[1, 2], []]}}, "e": {}},
    ["a", {"b": 1, "c": [1]}, [["x"]]],
])
def test_dump_round_trips(value):
    assert loads(dumps(value)) == value


def test_dump_style_matches_conda_files():
    assert dumps({"name": "x", "dependencies": ["python=3.8", {"pip": ["numpy"]}]}) == (
        "name: x\ndependencies:\n- python=3.8\n- pip:\n  - numpy\n")


def test_load_file(tmp_path):
    path = tmp_path / "env.yml"
    path.write_text(SEED_002)
    assert _yaml.load_file(str(path))["name"] == "sklearn-training-env"
