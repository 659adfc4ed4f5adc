"""Errors a connector raises, so the core can decide: retry, wait, or give up.

ConnectorError
+-- TransientConnectorError      retry with backoff (5xx, timeouts, dropped connections)
|   +-- RateLimited              wait ``retry_after`` seconds, then retry (429, Cloudinary 420)
+-- PermanentConnectorError      do not retry (4xx other than auth and rate limits, garbage)
|   +-- AuthError                credentials refused (401/403)
|   +-- InvalidWebhook           signature, timestamp or topic check failed
|   +-- MalformedWebhook         verified, but not a delivery the connector can read
+-- ConnectorNotFound            no connector under that key
+-- ConnectorLoadError           the connector's entry point is broken
"""

from __future__ import annotations

from syncbridge.errors import SyncbridgeError


class ConnectorError(SyncbridgeError):
    """Base of every connector error."""

    status = 502
    title = "Connector error"


class TransientConnectorError(ConnectorError):
    """The vendor failed in a way that may pass: retry with backoff."""

    title = "Vendor temporarily unavailable"
    #: False when retrying within the same call cannot help (a spent daily budget): the
    #: call fails at once and the job is retried later, after ``retry_after`` if given.
    retry_in_call = True


class RateLimited(TransientConnectorError):
    """The vendor asked us to slow down; ``retry_after`` is in seconds (None: unknown)."""

    status = 429
    title = "Vendor rate limit"

    def __init__(self, detail: str, *, retry_after: float | None = None) -> None:
        super().__init__(detail)
        self.retry_after = retry_after


class PermanentConnectorError(ConnectorError):
    """Retrying will not help (bad request, not found, unparseable answer)."""

    title = "Vendor refused the request"


class AuthError(PermanentConnectorError):
    """The vendor refused the credentials."""

    title = "Vendor authentication failed"


class InvalidWebhook(PermanentConnectorError):
    """A webhook delivery failed verification (signature, timestamp, topic, shape)."""

    status = 401
    title = "Webhook verification failed"


class MalformedWebhook(PermanentConnectorError):
    """A delivery that passed verification (its signature covers the raw bytes) but is not
    one the connector can read: the sender holds the secret, so it is a defect at the
    vendor's end or in a proxy, not a forgery (answered 400 and counted as ``malformed``)."""

    status = 400
    title = "Webhook delivery malformed"


class ConnectorNotFound(ConnectorError):
    """No connector is registered under the key asked for."""

    status = 404
    title = "Unknown connector"


class ConnectorLoadError(ConnectorError):
    """A connector's entry point could not be loaded or is not a ``ConnectorSpec``."""

    status = 500
    title = "Connector failed to load"
