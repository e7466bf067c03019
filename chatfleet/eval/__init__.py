"""`chatfleet eval`: answer-quality evaluation of a running chat service, over HTTP like the load tests.

It imports neither the service nor the operator (import-linter contract `eval-speaks-http`); the one part of
the service it shares is the local embedder (`chatfleet.chat.embeddings`), so groundedness is judged with
the same offline model the local index uses, without a network or a model deployment. The optional
LLM-as-judge scores (`judge`) call an Azure OpenAI deployment with the judge prompts of the prompt library
(`chatfleet.prompts`, chatfleet/prompts/judge/).
"""
