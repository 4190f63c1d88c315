"""Step-level preference pairs: deterministic best-vs-worst pairing with a margin."""

from __future__ import annotations

import json

import pytest

from toolfeedback.errors import InputError
from toolfeedback.plugins.dpo_preferences import PreferencePair, ScoredResponse, best_worst, build_pairs, read_responses


def scored(*items):
    return [ScoredResponse(text, reward) for text, reward in items]


def test_best_and_worst_are_paired():
    pairs = build_pairs([("s1", "P1", scored(("a", 0.0), ("b", 1.0), ("c", 0.5)))])
    assert pairs == [PreferencePair("s1", "P1", "b", "a", 1.0, 0.0)]


def test_ties_break_by_first_occurrence_and_result_is_deterministic():
    group = scored(("x", 0.0), ("y", 1.0), ("z", 1.0), ("w", 0.0))
    first = build_pairs([("k", "P", group)])
    assert (first[0].chosen, first[0].rejected) == ("y", "x")
    assert build_pairs([("k", "P", list(group))]) == first


def test_equal_rewards_or_small_gap_give_no_pair():
    assert build_pairs([("k", "P", scored(("a", 0.5), ("b", 0.5)))]) == []
    assert best_worst(scored(("a", 0.0), ("b", 0.3)), margin=0.3) is None
    assert best_worst(scored(("a", 0.0), ("b", 0.31)), margin=0.3) is not None
    assert best_worst(scored(("only", 1.0))) is None


def test_groups_keep_input_order_and_skip_unpairable():
    pairs = build_pairs([("b", "P", scored(("1", 1.0), ("0", 0.0))),
                         ("skip", "P", scored(("s", 0.0), ("t", 0.0))),
                         ("a", "P", scored(("0", -0.5), ("1", 0.5)))])
    assert [p.key for p in pairs] == ["b", "a"]
    assert pairs[1].as_row() == {"id": "a", "prompt": "P", "chosen": "1", "rejected": "0",
                                 "chosen_reward": 0.5, "rejected_reward": -0.5}


def test_negative_margin_is_refused():
    with pytest.raises(ValueError):
        build_pairs([], margin=-1)


def test_read_responses_accepts_both_shapes(tmp_path):
    path = tmp_path / "r.jsonl"
    path.write_text(json.dumps({"id": "a", "response": "x"}) + "\n"
                    + json.dumps({"id": "a", "responses": ["y", "z"]}) + "\n"
                    + json.dumps({"id": "b", "responses": []}) + "\n")
    assert read_responses(path) == {"a": ["x", "y", "z"], "b": []}


def test_read_responses_errors_name_file_line_field(tmp_path):
    path = tmp_path / "r.jsonl"
    path.write_text(json.dumps({"id": "a", "response": "x"}) + "\n" + json.dumps({"id": "b"}) + "\n")
    with pytest.raises(InputError, match=r"r\.jsonl:2: \$\.response"):
        read_responses(path)
    with pytest.raises(InputError, match="no such file"):
        read_responses(tmp_path / "missing.jsonl")


def test_read_responses_from_trajectory_lines(tmp_path):
    path = tmp_path / "traj.jsonl"
    lines = [{"env_id": "e", "sample": s, "steps": [{"index": 0, "response": f"r{s}0"},
                                                      {"index": 1, "response": f"r{s}1"}]}
             for s in range(2)]
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    assert read_responses(path) == {"e#0.0": ["r00"], "e#0.1": ["r01"], "e#1.0": ["r10"], "e#1.1": ["r11"]}
    assert read_responses(path, id_of=lambda e, s, k: f"{e}/{k}") == {"e/0": ["r00", "r10"],
                                                                       "e/1": ["r01", "r11"]}
    path.write_text(json.dumps({"env_id": "e", "sample": 0, "steps": [{"index": 0}]}) + "\n")
    with pytest.raises(InputError, match=r"traj\.jsonl:1: \$\.steps\[0\]\.response"):
        read_responses(path)


def test_identical_step_prompts_share_a_signature():
    from helpers.training import fixture_samples
    from toolfeedback.plugins.dpo_preferences import prompt_signature

    first, second, third = fixture_samples()
    assert prompt_signature(first) == prompt_signature(first.evolve(id="other", metadata={"x": 1}))
    assert len({prompt_signature(e) for e in (first, second, third)}) == 3
