"""The eval verdict's contract: what `chatfleet eval run` exits with, for pipelines and a rollout gate.

Exit codes: 0 every threshold held, 1 a threshold failed (the JSON report's `thresholds[].message` names
metric, value and threshold), 2 usage error or no verdict possible (invalid eval set or threshold, service
unreachable, credentials refused). The bearer token comes in the load tests' variables
(`chatfleet.contracts.loadtest.TOKEN_ENV`, per tenant `token_env_for`), so one Secret serves both gates.
"""

EXIT_PASSED, EXIT_THRESHOLD_FAILED, EXIT_NO_VERDICT = 0, 1, 2

SCORE_METRICS = (
    "recall_at_k",
    "mrr",
    "citation_validity",
    "citation_coverage",
    "groundedness",
    "correctness",
    "refusal_accuracy",
)
"""Averages over the cases each applies to, between 0 and 1; higher is better (`--min`). Shared with the
operator, which validates `spec.rollout.evaluation.thresholds` against exactly these names."""
JUDGE_METRICS = ("judge_groundedness", "judge_relevance")
"""LLM-as-judge scores (`chatfleet eval run --judge-deployment`): averages of a judge model's integer
ratings on Azure AI evaluation's 1-5 rubric, higher is better (`--min judge_groundedness=4`). Measured only
with a judge; a case the judge could not score is reported as unscored, never given a score."""
JUDGE_SCALE = (1, 5)
"""Lowest and highest rating of the judge rubric."""
LATENCY_METRICS = ("ttft_p50_ms", "ttft_p95_ms", "latency_p50_ms", "latency_p95_ms")
"""Per-turn latencies over all answered cases, in ms; lower is better (`--max`)."""
