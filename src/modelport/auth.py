"""Who may do what: API keys with scopes and model globs, and per-caller quotas.

One :class:`AccessPolicy` decides for every transport (HTTP routes, the HTTP lane, gRPC).
A transport says which :class:`Action` a request is and for which model, and hands over the
``Authorization`` value and the client's address; the policy answers with a :class:`Pass`
(released when the request ends) or raises ``Unauthenticated`` (401 / UNAUTHENTICATED),
``NotPermitted`` (403 / PERMISSION_DENIED) or ``QuotaExceeded`` (429 / RESOURCE_EXHAUSTED).

Keys are stored as SHA-256 digests; a presented key is hashed and compared with every entry
in constant time. Messages name neither keys nor other models.
"""

from __future__ import annotations

import enum
import fnmatch
import hashlib
import hmac
import math
import threading
import time
from collections import Counter, OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field

from modelport.errors import NotPermitted, QuotaExceeded, Unauthenticated


class Action(enum.Enum):
    PAGE = "page"
    """The console's pages and their scripts: public, they hold no data."""
    HEALTH = "health"
    METRICS = "metrics"
    READ = "read"
    INFER = "infer"
    ADMIN = "admin"


SCOPES = ("read", "infer", "admin")
ANYWHERE = ""
"""The model of a request about every model (the index, every model's statistics): only a
key for every model (``models: ["*"]``) may make it."""
Model = str | None
"""The model a request is about; None for requests about no model (server metadata)."""


@dataclass(frozen=True)
class ApiKey:
    name: str
    digest: bytes
    scopes: frozenset[str]
    models: tuple[str, ...] = ("*",)
    rate: float = 0.0
    """Requests per second (a token bucket of that many tokens); 0: the server's default."""
    concurrency: int = 0
    """Requests in flight at once; 0: the server's default."""

    def allows(self, action: Action, model: Model) -> bool:
        """Health needs any valid key; metrics and reads need read (or infer, which implies
        it); inference and administration need their own scope. Then the model's glob."""
        if action is Action.HEALTH:
            return True
        if action in (Action.READ, Action.METRICS):
            granted = "read" in self.scopes or "infer" in self.scopes
        else:
            granted = action.value in self.scopes
        return granted and self.covers(model)

    def covers(self, model: Model) -> bool:
        if model is None:
            return True
        if model == ANYWHERE or "*" in self.models:
            return "*" in self.models
        return any(fnmatch.fnmatchcase(model, glob) for glob in self.models)


def digest(key: str) -> bytes:
    return hashlib.sha256(key.encode()).digest()


@dataclass(frozen=True)
class Keyring:
    keys: tuple[ApiKey, ...]

    def find(self, presented: str) -> ApiKey | None:
        """The entry whose key this is: every entry is compared, in constant time."""
        wanted, found = digest(presented), None
        for key in self.keys:
            if hmac.compare_digest(wanted, key.digest):
                found = key
        return found


class Pass:
    """An admitted request; ``release`` when it ends (its concurrency slot). Releasing
    twice is harmless."""

    __slots__ = ("_quotas", "caller")

    def __init__(self, caller: str, quotas: Quotas | None = None) -> None:
        self.caller = caller
        self._quotas = quotas

    def release(self) -> None:
        if self._quotas is not None:
            self._quotas.release(self.caller)
            self._quotas = None


OPEN = Pass("")
"""The pass of a request nothing restricts (no keys, no quotas, or an open route)."""


@dataclass
class _Bucket:
    tokens: float
    stamp: float


@dataclass(frozen=True)
class Limits:
    rate: float = 0.0
    concurrency: int = 0


class Quotas:
    """Token buckets of requests/s and counts of requests in flight, per caller. Called from
    the event loop and from gRPC's threads, so one lock guards both."""

    MAX_CALLERS = 10_000  # addresses are remembered least recently first out

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._buckets: OrderedDict[str, _Bucket] = OrderedDict()
        self.inflight: Counter[str] = Counter()
        self._lock = threading.Lock()

    def admit(self, caller: str, limits: Limits) -> Pass:
        with self._lock:
            if limits.rate > 0:
                self._take(caller, limits.rate)
            if limits.concurrency <= 0:
                return Pass(caller)
            if self.inflight[caller] >= limits.concurrency:
                raise QuotaExceeded(
                    f"too many requests in flight for this caller (limit {limits.concurrency})"
                )
            self.inflight[caller] += 1
            return Pass(caller, self)

    def release(self, caller: str) -> None:
        with self._lock:
            self.inflight[caller] -= 1
            if self.inflight[caller] <= 0:
                del self.inflight[caller]

    def _take(self, caller: str, rate: float) -> None:
        now = self._clock()
        bucket = self._buckets.pop(caller, None) or _Bucket(max(rate, 1.0), now)
        self._buckets[caller] = bucket  # most recently used last
        if len(self._buckets) > self.MAX_CALLERS:
            self._buckets.popitem(last=False)
        bucket.tokens = min(max(rate, 1.0), bucket.tokens + (now - bucket.stamp) * rate)
        bucket.stamp = now
        if bucket.tokens < 1.0:
            wait = math.ceil((1.0 - bucket.tokens) / rate)
            raise QuotaExceeded(f"over this caller's rate of {rate:g} requests/s", wait)
        bucket.tokens -= 1.0


@dataclass
class AccessPolicy:
    keyring: Keyring | None = None
    """None: no keys configured, every request is allowed (quotas still apply)."""
    defaults: Limits = field(default_factory=Limits)
    """Quotas for keys that set none, and per client address when there are no keys."""
    protect_health: bool = False
    protect_metrics: bool = False
    quotas: Quotas = field(default_factory=Quotas)
    outcomes: Counter[tuple[str, str]] = field(default_factory=Counter)
    """(key name, outcome) → requests, for /metrics; key names only, never keys."""
    _counting: threading.Lock = field(default_factory=threading.Lock, repr=False)
    """The loop and gRPC's threads both count: an unguarded += can lose updates."""

    @property
    def active(self) -> bool:
        """Whether any request can be refused; when not, transports skip the policy."""
        limited = self.defaults.rate > 0 or self.defaults.concurrency > 0
        return self.keyring is not None or limited

    def admit(self, authorization: str | None, client: str, action: Action, model: Model) -> Pass:
        if not self._guarded(action):
            return OPEN
        if self.keyring is None:
            return self._limited("", client, self.defaults)
        key = self._authenticated(authorization)
        if not key.allows(action, model):
            self._count(key.name, "forbidden")
            raise NotPermitted(_refusal(action, model))
        limits = Limits(
            key.rate or self.defaults.rate, key.concurrency or self.defaults.concurrency
        )
        return self._limited(key.name, key.name, limits)

    def permits(self, authorization: str | None, action: Action, model: Model) -> bool:
        """Whether these credentials may do ``action`` on ``model``, taking no quota and
        counting nothing (for a page that shows only what its user may do)."""
        if self.keyring is None:
            return True
        scheme, _, presented = (authorization or "").strip().partition(" ")
        if scheme.lower() != "bearer" or not presented.strip():
            return False
        key = self.keyring.find(presented.strip())
        return key is not None and key.allows(action, model)

    def _guarded(self, action: Action) -> bool:
        if action is Action.PAGE:
            return False
        if action is Action.HEALTH:
            return self.protect_health
        if action is Action.METRICS:
            return self.protect_metrics
        return True

    def _authenticated(self, authorization: str | None) -> ApiKey:
        scheme, _, presented = (authorization or "").strip().partition(" ")
        key = self.keyring.find(presented.strip()) if self.keyring and presented else None
        if scheme.lower() != "bearer" or key is None:
            self._count("", "unauthenticated")
            why = "a valid API key is required" if authorization else "an API key is required"
            raise Unauthenticated(f"{why}: send 'Authorization: Bearer <key>'")
        return key

    def _limited(self, label: str, caller: str, limits: Limits) -> Pass:
        if limits.rate <= 0 and limits.concurrency <= 0:
            self._count(label, "admitted")
            return OPEN  # nothing to count against: no lock, no bucket
        try:
            admitted = self.quotas.admit(caller, limits)
        except QuotaExceeded:
            self._count(label, "rate_limited")
            raise
        self._count(label, "admitted")
        return admitted

    def _count(self, label: str, outcome: str) -> None:
        with self._counting:
            self.outcomes[label, outcome] += 1


def _refusal(action: Action, model: Model) -> str:
    """Names the action, never which models or keys exist."""
    if not model or action is Action.ADMIN:
        return f"this API key may not {action.value} here"
    return f"this API key may not {action.value} this model"
