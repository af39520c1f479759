"""The KRA client's shared call budget: the generic Redis GCRA limiter."""

from kra_graphql.ratelimit import RateLimiter

__all__ = ["RateLimiter"]
