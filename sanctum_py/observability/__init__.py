"""Operating the service: Prometheus metrics, structured logs, request ids. Nothing here changes an answer."""
