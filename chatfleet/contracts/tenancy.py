"""How a caller names its tenant to a chat service running without sign-in (auth mode none, dev only).

The service reads the header, its UI and config endpoint advertise it, and the load test and benchmarks
send it; with auth on the tenant comes from the verified token only and the header is ignored.
"""

DEV_TENANT_HEADER = "X-Chatfleet-Tenant"
