"""Which deployment gets the next attempt: the lowest priority number with anything available (PTU before
pay-as-you-go spillover), then a weighted random pick inside that tier, with each weight scaled by live
signals so traffic drifts away from a deployment that is busy, slow, or close to its token quota.

Random rather than round-robin so that many replicas, each with its own view, do not move in lockstep.
"""

import random
from collections.abc import Collection, Sequence

from chatfleet.chat.llm.health import DeploymentHealth

MIN_FACTOR = 0.1
NEARLY_EXHAUSTED_FACTOR = 0.05


def effective_weight(
    health: DeploymentHealth, tier: Sequence[DeploymentHealth], estimated_tokens: int
) -> float:
    """Configured weight x 1/(1+in-flight) x relative TTFT x remaining quota share."""
    score = health.config.weight / (1 + health.inflight)
    known = [h.ttft_ewma_s for h in tier if h.ttft_ewma_s]
    if health.ttft_ewma_s and known:
        score *= max(MIN_FACTOR, min(known) / health.ttft_ewma_s)
    remaining = health.fresh_remaining_tokens()
    if remaining is not None:
        if remaining < estimated_tokens:
            score *= NEARLY_EXHAUSTED_FACTOR
        elif health.config.tokens_per_minute:
            score *= max(MIN_FACTOR, min(1.0, remaining / health.config.tokens_per_minute))
    return score


def choose(
    pool: Sequence[DeploymentHealth],
    *,
    exclude: Collection[str] = (),
    estimated_tokens: int = 0,
    rng: random.Random,
) -> DeploymentHealth | None:
    """The deployment for the next attempt, or None when nothing outside `exclude` may be tried now."""
    candidates = [h for h in pool if h.name not in exclude and h.available()]
    if not candidates:
        return None
    best_priority = min(h.config.priority for h in candidates)
    tier = [h for h in candidates if h.config.priority == best_priority]
    if len(tier) == 1:
        return tier[0]
    weights = [effective_weight(h, tier, estimated_tokens) for h in tier]
    return rng.choices(tier, weights=weights)[0]
