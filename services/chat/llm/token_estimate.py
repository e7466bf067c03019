"""The router's estimate of a call's token cost before the upstream reports usage: it weighs deployments by
remaining quota at selection and stands in for usage a response left out."""

CHARS_PER_TOKEN = 4


def estimate_tokens(messages: list[dict[str, str]], max_tokens: int) -> int:
    """What Azure will charge against TPM at admission: the prompt (roughly) plus max_tokens."""
    chars = sum(len(str(message.get("content") or "")) for message in messages)
    return chars // CHARS_PER_TOKEN + max_tokens
