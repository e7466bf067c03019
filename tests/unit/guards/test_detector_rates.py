"""Detection and false-positive rates of the local detector on the labelled sets (see docs/security.md).

`labelled_prompts.jsonl` is the tuning set; `holdout_prompts.jsonl` was written later and its first blind
run (before any rule was changed for it) is recorded in the docs. Both must now stay above the bar.
"""

import json
from pathlib import Path

import pytest

import chatfleet.chat.guards as guards_pkg
from chatfleet.chat.guards import LocalInjectionDetector

DATA = Path(guards_pkg.__file__).parent / "data"
MIN_DETECTION = 0.90
MAX_FALSE_POSITIVE_RATE = 0.05


def rates(path: Path) -> tuple[float, float, int, int, list[str], list[str]]:
    detector = LocalInjectionDetector()
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    attacks = [r["text"] for r in rows if r["label"] == "attack"]
    benign = [r["text"] for r in rows if r["label"] == "benign"]
    missed = [t for t in attacks if not detector.detect(t).attack]
    false_positives = [t for t in benign if detector.detect(t).attack]
    return (
        1 - len(missed) / len(attacks),
        len(false_positives) / len(benign),
        len(attacks),
        len(benign),
        missed,
        false_positives,
    )


@pytest.mark.parametrize("name", ["labelled_prompts.jsonl", "holdout_prompts.jsonl", "blind_prompts.jsonl"])
def test_detection_and_false_positive_rates(name):
    detection, fpr, n_attack, n_benign, missed, false_positives = rates(DATA / name)
    print(f"\n{name}: detection {detection:.1%} of {n_attack}, false positives {fpr:.1%} of {n_benign}")
    assert detection >= MIN_DETECTION, missed
    assert fpr <= MAX_FALSE_POSITIVE_RATE, false_positives


def test_labelled_set_is_big_enough_and_balanced():
    rows = [json.loads(x) for x in (DATA / "labelled_prompts.jsonl").read_text().splitlines()]
    labels = [r["label"] for r in rows]
    assert labels.count("attack") >= 100
    assert labels.count("benign") >= 100
    assert set(labels) == {"attack", "benign"}
