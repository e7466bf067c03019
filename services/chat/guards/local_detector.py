"""A local prompt-injection and jailbreak detector: scored heuristics with named reasons.

It runs in microseconds with no network, so it screens every user message and every retrieved chunk.
Each rule is a pattern family with a weight; the score is the noisy-OR of the matched weights
(1 - prod(1 - w)), so one strong signal or two weak ones cross the threshold. Text is normalised first
(NFKC folds fullwidth/circled letters, zero-width and tag characters are removed, leetspeak and
letter-spacing undone) and short base64/hex payloads are decoded and screened too.

Tuned on services/chat/guards/data/labelled_prompts.jsonl; see docs/security.md for its rates and limits.
A heuristic is not a classifier: production deployments should enable Prompt Shields as well.

The parts: injection_rules.py holds the rule table, normalisation.py the folding and decoding, this
module the scoring.
"""

from __future__ import annotations

import unicodedata

from chatfleet.chat.guards.classifier import InjectionClassifier, head_and_tail
from chatfleet.chat.guards.decision import GuardDecision, Target
from chatfleet.chat.guards.injection_rules import RULES, Rule, matched_rules
from chatfleet.chat.guards.normalisation import decoded_payloads, leet_variant, normalise

__all__ = ["MAX_SCAN_CHARS", "RULES", "THRESHOLD", "LocalInjectionDetector", "Rule", "normalise"]

THRESHOLD = 0.5
MAX_SCAN_CHARS = 20_000  # longer texts are scanned head and tail; attacks hide at either end


def _on_rule_scale(probability: float, threshold: float) -> float:
    """The classifier's probability mapped piecewise-linearly so that its threshold lands on THRESHOLD:
    one score, one cut-off, whichever part of the detector spoke."""
    if probability < threshold:
        return probability * THRESHOLD / threshold
    return THRESHOLD + (probability - threshold) * (1 - THRESHOLD) / (1 - threshold)


class LocalInjectionDetector:
    """`detect(text, target)` -> GuardDecision; pure CPU, thread-safe, no state.

    Rules alone by default; with a `classifier` (what the service uses) a text is an attack when either the
    rules or the classifier say so, and the reasons name which ("classifier" for the model)."""

    name = "local"

    def __init__(self, threshold: float = THRESHOLD, classifier: InjectionClassifier | None = None) -> None:
        self.threshold = threshold
        self.classifier = classifier

    def detect(self, text: str, target: Target = "user") -> GuardDecision:
        text = head_and_tail(text, MAX_SCAN_CHARS)
        plain = normalise(text)
        payloads = decoded_payloads(plain)
        lowered = plain.lower()
        variants = [lowered]
        leet = leet_variant(lowered)
        if leet is not None:
            variants.append(leet)
        variants += [normalise(p).lower() for p in payloads]
        matched: set[int] = set()
        for variant in variants:
            matched.update(matched_rules(variant))
        weights: dict[str, float] = {}
        for index in sorted(matched):
            rule = RULES[index]
            if target in rule.targets:
                weights[rule.reason] = max(weights.get(rule.reason, 0.0), rule.weight)
        if payloads and len(weights) > 0:
            weights["encoded_payload"] = max(weights.get("encoded_payload", 0.0), 0.6)
        if plain != unicodedata.normalize("NFC", text) and weights:
            weights["obfuscation"] = 0.3
        remaining = 1.0
        for weight in weights.values():
            remaining *= 1.0 - weight
        score = 1.0 - remaining
        if self.classifier is not None:
            learned = _on_rule_scale(self.classifier.probability(plain), self.classifier.threshold(target))
            if learned >= self.threshold:
                weights["classifier"] = learned
            score = max(score, learned)
        return GuardDecision(
            attack=score >= self.threshold,
            score=round(score, 4),
            reasons=tuple(sorted(weights, key=lambda r: -weights[r])),
            detector=self.name,
            target=target,
        )
