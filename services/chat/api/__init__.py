"""HTTP layer of the chat service: routes, dependencies and problem details."""
