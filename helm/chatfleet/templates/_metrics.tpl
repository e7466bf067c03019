{{/*
The metric names the operator's rendered HPA reads (controller/render.py); the adapter rules and
the KEDA settings must publish exactly these.
*/}}
{{- define "chatfleet.metrics.inflight" -}}chatfleet_inflight_streams{{- end -}}
{{- define "chatfleet.metrics.ttftP95" -}}chatfleet_ttft_p95_seconds{{- end -}}

{{/* Labels of the headless metrics Service the operator renders per chat app (`<app>-metrics`, every pod
of both tracks, port `metrics`); the app's own Services carry only the user port. */}}
{{- define "chatfleet.chatService.selector" -}}
matchLabels:
  app.kubernetes.io/managed-by: chatfleet-operator
  app.kubernetes.io/component: metrics
{{- end -}}
{{- define "chatfleet.metrics.port" -}}metrics{{- end -}}
{{- define "chatfleet.metrics.path" -}}/metrics{{- end -}}

{{/* prometheus-adapter `rules:` (the same list fits the prometheus-adapter chart's rules.custom). */}}
{{- define "chatfleet.prometheusAdapter.rules" -}}
{{- $cfg := .Values.metrics.prometheusAdapter -}}
rules:
  # In-flight streams per pod: the HPA's leading signal (average value per pod).
  - seriesQuery: '{{ include "chatfleet.metrics.inflight" . }}{namespace!="",pod!=""}'
    resources:
      overrides:
        namespace: {resource: namespace}
        pod: {resource: pod}
    name:
      matches: "^{{ include "chatfleet.metrics.inflight" . }}$"
      as: "{{ include "chatfleet.metrics.inflight" . }}"
    metricsQuery: 'sum(<<.Series>>{<<.LabelMatchers>>}) by (<<.GroupBy>>)'
{{- if eq $cfg.ttftSource "histogram" }}
  # TTFT p95 per pod over {{ $cfg.window }}, computed from the histogram buckets: the HPA's SLO guard.
  - seriesQuery: 'chatfleet_ttft_seconds_bucket{namespace!="",pod!=""}'
    resources:
      overrides:
        namespace: {resource: namespace}
        pod: {resource: pod}
    name:
      matches: "^chatfleet_ttft_seconds_bucket$"
      as: "{{ include "chatfleet.metrics.ttftP95" . }}"
    metricsQuery: 'histogram_quantile(0.95, sum(rate(<<.Series>>{<<.LabelMatchers>>}[{{ $cfg.window }}])) by (le, <<.GroupBy>>))'
{{- else }}
  # TTFT p95 per pod as the chat service's own gauge reports it: the HPA's SLO guard.
  - seriesQuery: '{{ include "chatfleet.metrics.ttftP95" . }}{namespace!="",pod!=""}'
    resources:
      overrides:
        namespace: {resource: namespace}
        pod: {resource: pod}
    name:
      matches: "^{{ include "chatfleet.metrics.ttftP95" . }}$"
      as: "{{ include "chatfleet.metrics.ttftP95" . }}"
    metricsQuery: 'max(<<.Series>>{<<.LabelMatchers>>}) by (<<.GroupBy>>)'
{{- end }}
{{- end -}}

{{/* A Prometheus duration ("15s", "1m30s", "500ms") in milliseconds, for comparing two of them. */}}
{{- define "chatfleet.durationMs" -}}
{{- $ms := dict "h" 3600000 "m" 60000 "s" 1000 "ms" 1 -}}
{{- $total := 0 -}}
{{- range $part := regexFindAll "[0-9]+(ms|h|m|s)" (toString .) -1 -}}
{{- $unit := regexFind "(ms|h|m|s)$" $part -}}
{{- $total = add $total (mul (atoi (trimSuffix $unit $part)) (get $ms $unit)) -}}
{{- end -}}
{{- $total -}}
{{- end -}}

{{/* Prometheus rejects a scrape config whose timeout is longer than its interval (the whole config, so
every other target stops being scraped too): refused at install time instead. */}}
{{- define "chatfleet.serviceMonitor.checkTimeout" -}}
{{- $interval := include "chatfleet.durationMs" .interval | atoi -}}
{{- $timeout := include "chatfleet.durationMs" .scrapeTimeout | atoi -}}
{{- if gt $timeout $interval -}}
{{- fail (printf "metrics.serviceMonitor.scrapeTimeout (%s) is longer than metrics.serviceMonitor.interval (%s), which Prometheus rejects: set a scrapeTimeout of at most the interval" .scrapeTimeout .interval) -}}
{{- end -}}
{{- end -}}
