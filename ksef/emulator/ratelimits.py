"""Sliding-window rate limits per (context, client IP), like KSeF.

Profiles: "off" (no limits), "PRD" (the ministry's tables from the OpenAPI
``x-rate-limits``), "TEST" (the same values as PRD: API 2.5.0 made the TEST defaults
equal to PRD, ``api-changelog.md``; ``limity/limity-api.md`` still says "10 x PRD" but
predates that change), "TEST10" (10 x PRD, as ``limity/limity-api.md`` and the
first version of our issue describe TEST) or a dict. A dict maps a rate-limit group
name ("invoiceSend", "onlineSession", "other", ...) or an operation key
("POST /sessions/online/{referenceNumber}/invoices") to ``(per_second,
per_minute, per_hour)`` (None = no limit in that window) or to a dict with
perSecond/perMinute/perHour; a "default" entry applies to the rest.
"""
import collections
import math
import time

from .routes import GROUPS

WINDOWS = ((0, 1.0), (1, 60.0), (2, 3600.0))


def _triple(value):
    if value is None:
        return (None, None, None)
    if isinstance(value, dict):
        return (value.get("perSecond"), value.get("perMinute"), value.get("perHour"))
    return tuple(value)


def _times(triple, factor):
    return tuple(None if value is None else value * factor for value in triple)


class RateLimiter:
    def __init__(self, router, profile="off"):
        self.router = router
        self.overrides = {}   # context -> {group: triple} (POST /testdata/rate-limits)
        self._hits = collections.defaultdict(collections.deque)
        self.set_profile(profile)

    def set_profile(self, profile):
        if isinstance(profile, str) and profile not in ("off", "PRD", "TEST", "TEST10"):
            raise ValueError("rate_limits must be 'off', 'PRD', 'TEST', 'TEST10' or a dict")
        self.profile = profile
        self._hits.clear()

    def limits_for(self, method, template, context=None):
        """(per s, per min, per h) in force for an operation (None entries = unlimited)."""
        group, prd = self.router.limits.get((method, template), ("other", GROUPS["other"]))
        if context and group and group in self.overrides.get(context, {}):
            return _triple(self.overrides[context][group])
        profile = self.profile
        if profile == "off":
            return (None, None, None)
        if profile in ("PRD", "TEST"):
            return prd
        if profile == "TEST10":
            return _times(prd, 10)
        op_key = "%s %s" % (method, template)
        for key in (op_key, group):
            if key and key in profile:
                return _triple(profile[key])
        return _triple(profile.get("default"))

    def group_limits(self, context=None):
        """Body of GET /rate-limits: the values in force per group."""
        result = {}
        for group, prd in GROUPS.items():
            triple = None
            if context and group in self.overrides.get(context, {}):
                triple = _triple(self.overrides[context][group])
            elif self.profile in ("PRD", "TEST"):
                triple = prd
            elif self.profile == "TEST10":
                triple = _times(prd, 10)
            elif isinstance(self.profile, dict):
                triple = _triple(self.profile.get(group, self.profile.get("default")))
            triple = triple or (None, None, None)
            big = 1000000
            result[group] = {"perSecond": triple[0] or big, "perMinute": triple[1] or big,
                             "perHour": triple[2] or big}
        return result

    def check(self, method, template, context, ip, now=None):
        """Record a request; return None when allowed, else the Retry-After seconds."""
        limits = self.limits_for(method, template, context)
        if not any(limits):
            return None
        group = self.router.limits.get((method, template), ("other", None))[0] or template
        now = time.monotonic() if now is None else now
        hits = self._hits[(group, context, ip)]
        while hits and hits[0] <= now - 3600.0:
            hits.popleft()
        retry = 0.0
        for index, span in WINDOWS:
            limit = limits[index]
            if limit is None:
                continue
            in_window = [t for t in hits if t > now - span] if span < 3600 else list(hits)
            if limit <= 0:  # a limit of 0 allows nothing in that window
                retry = max(retry, float(span))
            elif len(in_window) >= limit:
                oldest = in_window[-limit]
                retry = max(retry, oldest + span - now)
        if retry > 0:
            return max(1, int(math.ceil(retry)))
        hits.append(now)
        return None
