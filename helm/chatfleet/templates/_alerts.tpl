{{/*
Alert and recording rules of the chat apps (a PrometheusRule's `spec`, and a promtool rule file: the same
`groups:`), unit-tested with `promtool test rules` in tests/unit/helm/test_alert_rules.py.

Series carry `namespace` and `app` (the ServiceMonitor copies the Service's app.kubernetes.io/instance
label to `app`), so every SLO is per app. Burn-rate alerts follow the multi-window, multi-burn-rate
scheme of the Google SRE workbook: a page when the error budget of the 30-day objective burns 14.4x
(1h and 5m) or 6x (6h and 30m) too fast, a ticket at 3x (1d and 2h) or 1x (3d and 6h).
*/}}
{{- define "chatfleet.alerts.windows" -}}5m 30m 1h 2h 6h 1d 3d{{- end -}}
{{- define "chatfleet.alerts.chatRoutes" -}}/chat|/chat/stream|/v1/chat/completions{{- end -}}

{{- define "chatfleet.alerts.groups" -}}
{{- $cfg := .Values.metrics.alerts -}}
{{- $routes := include "chatfleet.alerts.chatRoutes" . -}}
groups:
  - name: chatfleet-chat-slo.recording
    rules:
{{- range splitList " " (include "chatfleet.alerts.windows" .) }}
      # Share of turns whose time to first token exceeded {{ $cfg.ttft.thresholdSeconds }} s, over {{ . }}.
      - record: chatfleet:ttft_slo_misses:ratio_rate{{ . }}
        expr: |
          1 - (
            sum by (namespace, app) (rate(chatfleet_ttft_seconds_bucket{le="{{ $cfg.ttft.thresholdSeconds }}"}[{{ . }}]))
            /
            sum by (namespace, app) (rate(chatfleet_ttft_seconds_count[{{ . }}]))
          )
      # Share of chat requests answered with a 5xx, over {{ . }}.
      # (0, not absent, while no 5xx series exists yet.)
      - record: chatfleet:errors:ratio_rate{{ . }}
        expr: |
          (
            sum by (namespace, app) (rate(chatfleet_requests_total{route=~"{{ $routes }}", code=~"5.."}[{{ . }}]))
            or
            0 * sum by (namespace, app) (rate(chatfleet_requests_total{route=~"{{ $routes }}"}[{{ . }}]))
          )
          /
          sum by (namespace, app) (rate(chatfleet_requests_total{route=~"{{ $routes }}"}[{{ . }}]))
{{- end }}
  - name: chatfleet-chat-slo.alerts
    rules:
{{- range $sli := list "ttft" "errors" }}
{{- $objective := index $cfg $sli "objective" }}
{{- $record := ternary "chatfleet:ttft_slo_misses:ratio_rate" "chatfleet:errors:ratio_rate" (eq $sli "ttft") }}
{{- $what := ternary (printf "turns slower than %s s to their first token" $cfg.ttft.thresholdSeconds) "chat requests failing with a 5xx" (eq $sli "ttft") }}
{{- $name := ternary "ChatTTFTSLOBurn" "ChatErrorSLOBurn" (eq $sli "ttft") }}
      - alert: {{ $name }}Fast
        expr: |
          (
            {{ $record }}1h > (14.4 * (1 - {{ $objective }}))
            and {{ $record }}5m > (14.4 * (1 - {{ $objective }}))
          ) or (
            {{ $record }}6h > (6 * (1 - {{ $objective }}))
            and {{ $record }}30m > (6 * (1 - {{ $objective }}))
          )
        for: 2m
        labels:
          severity: {{ $cfg.pageSeverity }}
        annotations:
          summary: "{{ "{{" }} $labels.app {{ "}}" }}: {{ $what }} burn the 30-day error budget fast"
          description: >-
            {{ "{{" }} $value | humanizePercentage {{ "}}" }} of {{ $what }} in
            {{ "{{" }} $labels.namespace {{ "}}" }}/{{ "{{" }} $labels.app {{ "}}" }}; the objective allows
            {{ printf "%.4g" (subf 100 (mulf $objective 100)) }}%: at this rate the month's budget is gone within two days.
          runbook_url: {{ $cfg.runbookBaseUrl }}#{{ lower $name }}fast
      - alert: {{ $name }}Slow
        expr: |
          (
            {{ $record }}1d > (3 * (1 - {{ $objective }}))
            and {{ $record }}2h > (3 * (1 - {{ $objective }}))
          ) or (
            {{ $record }}3d > (1 - {{ $objective }})
            and {{ $record }}6h > (1 - {{ $objective }})
          )
        for: 15m
        labels:
          severity: {{ $cfg.ticketSeverity }}
        annotations:
          summary: "{{ "{{" }} $labels.app {{ "}}" }}: {{ $what }} burn the 30-day error budget"
          description: >-
            {{ "{{" }} $value | humanizePercentage {{ "}}" }} of {{ $what }} in
            {{ "{{" }} $labels.namespace {{ "}}" }}/{{ "{{" }} $labels.app {{ "}}" }}; the objective allows
            {{ printf "%.4g" (subf 100 (mulf $objective 100)) }}%.
          runbook_url: {{ $cfg.runbookBaseUrl }}#{{ lower $name }}slow
{{- end }}
  - name: chatfleet-chat-upstream.alerts
    rules:
      - alert: ChatAllDeploymentsThrottled
        # Nothing succeeds upstream while 429s keep coming: every Azure OpenAI deployment of the app is
        # throttled (or cooling down), so users get 503s however the router balances.
        expr: |
          sum by (namespace, app) (rate(chatfleet_upstream_requests_total{outcome="throttled"}[5m])) > 0
          unless
          sum by (namespace, app) (rate(chatfleet_upstream_requests_total{outcome="success"}[5m])) > 0
        for: {{ $cfg.throttledFor }}
        labels:
          severity: {{ $cfg.pageSeverity }}
        annotations:
          summary: "{{ "{{" }} $labels.app {{ "}}" }}: every Azure OpenAI deployment is throttled"
          description: >-
            {{ "{{" }} $labels.namespace {{ "}}" }}/{{ "{{" }} $labels.app {{ "}}" }} got only 429s from its
            deployments for {{ $cfg.throttledFor }}: raise the quota (TPM/PTU) or add a deployment.
          runbook_url: {{ $cfg.runbookBaseUrl }}#chatalldeploymentsthrottled
      - alert: ChatDeploymentBreakerOpen
        expr: max by (namespace, app, deployment) (chatfleet_upstream_breaker_state) == 2
        for: {{ $cfg.breakerOpenFor }}
        labels:
          severity: {{ $cfg.ticketSeverity }}
        annotations:
          summary: "{{ "{{" }} $labels.app {{ "}}" }}: circuit breaker of {{ "{{" }} $labels.deployment {{ "}}" }} open"
          description: >-
            The router of {{ "{{" }} $labels.namespace {{ "}}" }}/{{ "{{" }} $labels.app {{ "}}" }} has kept
            deployment {{ "{{" }} $labels.deployment {{ "}}" }} out of rotation for {{ $cfg.breakerOpenFor }}
            (errors, not throttling): check the deployment's health in Azure.
          runbook_url: {{ $cfg.runbookBaseUrl }}#chatdeploymentbreakeropen
      - alert: ChatTenantBudgetExhausted
        expr: |
          sum by (namespace, app, tenant) (rate(chatfleet_turn_problems_total{problem="rate-limited"}[5m])) > 0
        for: {{ $cfg.budgetExhaustedFor }}
        labels:
          severity: {{ $cfg.ticketSeverity }}
        annotations:
          summary: "{{ "{{" }} $labels.app {{ "}}" }}: tenant {{ "{{" }} $labels.tenant {{ "}}" }} out of token budget"
          description: >-
            Turns of tenant {{ "{{" }} $labels.tenant {{ "}}" }} in
            {{ "{{" }} $labels.namespace {{ "}}" }}/{{ "{{" }} $labels.app {{ "}}" }} have been refused with 429
            (token budget) for {{ $cfg.budgetExhaustedFor }}: raise the tenant's budget or find the heavy user.
          runbook_url: {{ $cfg.runbookBaseUrl }}#chattenantbudgetexhausted
  - name: chatfleet-operator.alerts
    rules:
      - alert: ChatGateFailed
        # A revision failed its gate or its bake and was rolled back (the operator's counter, labelled with
        # the ChatApplication's namespace and app). A series that appeared within the window counts too:
        # increase() cannot see the first failure of an app after the operator started.
        expr: |
          (
            sum by (namespace, app, reason) (increase(chatfleet_operator_gate_outcomes_total{result="failed"}[{{ $cfg.gateFailedWindow }}])) > 0
          ) or (
            sum by (namespace, app, reason) (
              chatfleet_operator_gate_outcomes_total{result="failed"}
              unless chatfleet_operator_gate_outcomes_total{result="failed"} offset {{ $cfg.gateFailedWindow }}
            )
          )
        labels:
          severity: {{ $cfg.ticketSeverity }}
        annotations:
          summary: "{{ "{{" }} $labels.app {{ "}}" }}: a revision was rolled back ({{ "{{" }} $labels.reason {{ "}}" }})"
          description: >-
            A new revision of {{ "{{" }} $labels.namespace {{ "}}" }}/{{ "{{" }} $labels.app {{ "}}" }} failed
            its gate or its bake ({{ "{{" }} $labels.reason {{ "}}" }}) in the last {{ $cfg.gateFailedWindow }}
            and the previous revision serves: `kubectl describe chatapplication {{ "{{" }} $labels.app {{ "}}" }}
            -n {{ "{{" }} $labels.namespace {{ "}}" }}` names the figure, the SLO and the window.
          runbook_url: {{ $cfg.runbookBaseUrl }}#chatgatefailed
{{- end -}}
