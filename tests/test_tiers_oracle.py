"""The 9-cell oracle, grades in routing tables, tier label files and the label-tiers command."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from cactus_router import RoutingTableError
from cactus_router.cli import cli
from cactus_router.cli.tiers import label_tiers
from cactus_router.data import RoutingRow, read_table, write_table
from cactus_router.tiers import DEFAULT_MATRIX, GRADES, TIERS, Oracle, label_rows, read_labels

#: The nine cells of the user's background document, written out independently of the module.
SEED_CELLS = {
    ("correct", "correct"): "Standard", ("correct", "incorrect"): "Standard", ("correct", "idk"): "Standard",
    ("incorrect", "correct"): "Complex", ("incorrect", "incorrect"): "Ambiguous", ("incorrect", "idk"): "Complex",
    ("idk", "correct"): "Complex", ("idk", "incorrect"): "Ambiguous", ("idk", "idk"): "Ambiguous",
}


def _row(prompt, scores, grades=None):
    return RoutingRow(prompt, scores, grades=grades)


def test_the_default_matrix_is_the_documents_nine_cells():
    """Every cell of the default matrix is the background document's tier."""
    oracle = Oracle()
    assert {(m, g): oracle.tier(m, g) for m in GRADES for g in GRADES} == SEED_CELLS
    assert Oracle.from_dict(oracle.to_dict()) == oracle


def test_grades_take_precedence_and_scores_of_0_or_1_stand_for_them():
    """A grade is read first; a score of 1 or 0 means correct or incorrect when there is no grade."""
    rows = [_row("a", {"m": 1, "l": 0}), _row("b", {"m": 0, "l": 1}, {"m": "idk"}), _row("c", {"m": 0, "l": 0})]
    labels = label_rows(rows, "m", "l")
    assert [(x.tier, x.medium, x.large) for x in labels] == [
        ("Standard", "correct", "incorrect"), ("Complex", "idk", "correct"), ("Ambiguous", "incorrect", "incorrect")]


def test_a_fractional_score_without_a_grade_is_refused_or_skipped():
    """A score of 0.5 says neither correct nor incorrect: an error naming the row, or None with skip."""
    rows = [_row("a", {"m": 1, "l": 1}), _row("b", {"m": 0.5, "l": 1})]
    with pytest.raises(RoutingTableError, match=r"t.jsonl:7: scores\['m'\] is 0.5"):
        label_rows(rows, "m", "l", locations=["t.jsonl:6", "t.jsonl:7"])
    assert [x if x is None else x.tier for x in label_rows(rows, "m", "l", skip=True)] == ["Standard", None]


@pytest.mark.parametrize("medium, large, message", [
    ("m", "m", "must differ"),
    ("nope", "l", "medium model 'nope' is not scored or graded by any row"),
    ("m", "nope", "large model 'nope'"),
])
def test_unknown_or_repeated_models_are_one_line_errors(medium, large, message):
    """The two models must differ and be in the table."""
    with pytest.raises(RoutingTableError, match=message):
        label_rows([_row("a", {"m": 1, "l": 1})], medium, large)


def test_a_row_missing_one_model_names_it():
    """A row that neither scores nor grades a model cannot be labelled."""
    with pytest.raises(RoutingTableError, match="row 2: the row neither scores nor grades 'l'"):
        label_rows([_row("a", {"m": 1, "l": 1}), _row("b", {"m": 1})], "m", "l")


@pytest.mark.parametrize("matrix, message", [
    ({**DEFAULT_MATRIX, "idk": {"correct": "Hard", "incorrect": "Complex", "idk": "Complex"}},
     r"\$.idk.correct must be one of Standard, Complex, Ambiguous, got 'Hard'"),
    ({"correct": DEFAULT_MATRIX["correct"], "incorrect": DEFAULT_MATRIX["incorrect"]}, r"\$.idk must be an object"),
    ({**DEFAULT_MATRIX, "idk": {"correct": "Complex", "incorrect": "Complex"}}, r"\$.idk.idk is missing"),
    ({**DEFAULT_MATRIX, "maybe": {}}, "unknown grade 'maybe'"),
    ([], r"\$ must be an object"),
])
def test_a_bad_matrix_names_the_cell(tmp_path, matrix, message):
    """A matrix file with a wrong tier, grade or missing cell is a one-line error naming it."""
    path = tmp_path / "m.json"
    path.write_text(json.dumps(matrix, default=dict))
    with pytest.raises(RoutingTableError, match=message):
        Oracle.load(path)


def test_a_matrix_file_overrides_the_default(tmp_path):
    """An edited cell changes the tiers the oracle gives."""
    edited = {m: dict(r) for m, r in DEFAULT_MATRIX.items()}
    edited["incorrect"]["incorrect"] = "Complex"
    path = tmp_path / "m.json"
    path.write_text(json.dumps(edited))
    rows = [_row("a", {"m": 0, "l": 0})]
    assert label_rows(rows, "m", "l")[0].tier == "Ambiguous"
    assert label_rows(rows, "m", "l", Oracle.load(path))[0].tier == "Complex"


@pytest.mark.parametrize("grades, message", [
    ('{"m": "maybe"}', r"grades\['m'\] must be one of correct, incorrect, idk, got 'maybe'"),
    ('["correct"]', "'grades' must be an object"),
])
def test_bad_grades_in_a_table_name_the_line(tmp_path, grades, message):
    """A grade that is not one of the three is a one-line error naming file:line."""
    path = tmp_path / "t.jsonl"
    bad = f'{{"prompt": "b", "scores": {{"m": 1}}, "grades": {grades}}}'
    path.write_text('{"prompt": "a", "scores": {"m": 1}}\n' + bad + "\n")
    with pytest.raises(RoutingTableError, match=f"t.jsonl:2: {message}"):
        read_table(path)


def test_grades_round_trip_through_a_table(tmp_path):
    """write_table keeps the grades read_table reads."""
    rows = [_row("a", {"m": 1.0}, {"m": "idk"}), _row("b", {"m": 0.0})]
    write_table(rows, tmp_path / "t.jsonl")
    assert [r.grades for r in read_table(tmp_path / "t.jsonl")] == [{"m": "idk"}, None]


def _table(tmp_path):
    path = tmp_path / "t.jsonl"
    lines = [{"prompt": "easy", "scores": {"m": 1, "l": 1}}, {"prompt": "hard", "scores": {"m": 0, "l": 1}},
             {"prompt": "lost", "scores": {"m": 0, "l": 0}}, {"prompt": "half", "scores": {"m": 0.5, "l": 1}}]
    path.write_text("".join(json.dumps(x) + "\n" for x in lines))
    return path


def test_label_tiers_writes_one_line_per_row_that_read_labels_reads(tmp_path):
    """label-tiers writes a tier (or null with --skip) per row, checked against the table on reading."""
    table, out = _table(tmp_path), tmp_path / "tiers.jsonl"
    res = CliRunner().invoke(label_tiers, [str(table), "--medium", "m", "--large", "l", "-o", str(out), "--skip"])
    assert res.exit_code == 0, res.output
    assert "Standard 1, Complex 1, Ambiguous 1, 1 not labelled" in res.output
    labels = read_labels(out, read_table(table))
    assert (labels.tiers, labels.medium, labels.large) == (("Standard", "Complex", "Ambiguous", None), "m", "l")


def test_label_tiers_failing_writes_nothing(tmp_path):
    """Without --skip the fractional row is an error naming file:line, and no output file appears."""
    table, out = _table(tmp_path), tmp_path / "tiers.jsonl"
    res = CliRunner().invoke(cli, ["label-tiers", str(table), "--medium", "m", "--large", "l", "-o", str(out)])
    assert res.exit_code == 1 and "t.jsonl:4:" in res.output and len(res.output.splitlines()) == 1
    assert not out.exists()


@pytest.mark.parametrize("edit, message", [
    (lambda ls: ls[:2], "2 labels for a table of 4 rows"),
    (lambda ls: [ls[1], ls[0], *ls[2:]], "tiers.jsonl:1: its prompt is not row 1's"),
    (lambda ls: [ls[0].replace('"Standard"', '"Easy"'), *ls[1:]], r"tiers.jsonl:1: 'tier' must be one of"),
    (lambda ls: [ls[0].replace('"large": "l"', '"large": "x"'), *ls[1:]], "tiers.jsonl:2: compares 'm' and 'l'"),
    (lambda ls: ["{not json", *ls[1:]], "tiers.jsonl:1: not valid JSON"),
])
def test_a_label_file_that_does_not_fit_the_table_is_refused(tmp_path, edit, message):
    """Label files are checked line by line against the table they label."""
    table, out = _table(tmp_path), tmp_path / "tiers.jsonl"
    CliRunner().invoke(label_tiers, [str(table), "--medium", "m", "--large", "l", "-o", str(out), "--skip"])
    out.write_text("\n".join(edit(out.read_text().splitlines())) + "\n")
    with pytest.raises(RoutingTableError, match=message):
        read_labels(out, read_table(table))


def test_the_tier_names_are_the_three():
    """The tiers are exactly Standard, Complex and Ambiguous, in that stored order."""
    assert TIERS == ("Standard", "Complex", "Ambiguous")
