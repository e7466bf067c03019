"""Rules the operator, the chat service and the load test must agree on, each defined once.

One module per concept, importing nothing from `chatfleet.controller`, `chatfleet.chat` or
`chatfleet.loadtests`, so every part can depend on them without pulling in another part.
"""
