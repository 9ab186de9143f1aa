"""The gateway wire: what other services and reverse proxies call, not end users' clients.

`POST /oauth/introspect` (RFC 7662 token introspection, for resource servers) and `/auth/forward` (the
subrequest of nginx `auth_request` and Traefik ForwardAuth). Both run on the guard's cached hot path.
"""
