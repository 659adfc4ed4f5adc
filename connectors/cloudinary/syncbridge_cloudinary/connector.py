"""The Cloudinary connector: Admin API reads, signed Upload API writes, notification parsing.

Primary key: ``asset_id``. Cloudinary documents it as immutable, while a ``public_id``
changes on every rename or move between folders; keying on it would turn a rename into a
delete plus a new asset and cut the asset off from its classifications, links, metrics and
write-back history. The Upload API addresses assets by public id, so writes take the public
id from the current state: the one a change carries (what its diff was computed from), or
else read by asset id.
``fetch`` also accepts a public id, for notifications that carry no asset id.

Reads, ``fetch`` by asset id and ``fetch`` by public id all use listing calls with the same
include flags (``resources/{rt}``, ``resources/by_asset_ids``, ``resources/{rt}/upload`` with
``public_ids[]``), so a record's ``data`` is the same whichever way it was obtained: a store
comparing content hashes sees no change where there is none. (The details call,
``resources/{rt}/upload/{public_id}``, answers another shape, with ``derived`` and more.)
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import httpx

from syncbridge.connector.errors import (
    AuthError,
    ConnectorError,
    InvalidWebhook,
    MalformedWebhook,
    PermanentConnectorError,
    TransientConnectorError,
)
from syncbridge.connector.http import RetryPolicy, VendorHttp
from syncbridge.connector.paging import cloudinary_next_cursor, pages_by_cursor
from syncbridge.connector.ratelimit import AdaptiveRateLimiter
from syncbridge.connector.types import (
    CheckResult,
    Page,
    Record,
    Ref,
    StreamSpec,
    TagChange,
    WebhookEvent,
    WriteOutcome,
)
from syncbridge.logs import get_logger
from syncbridge_cloudinary.read_position import ReadPosition
from syncbridge_cloudinary.settings import CloudinarySettings
from syncbridge_cloudinary.signatures import signed_upload_params, verify_notification
from syncbridge_cloudinary.writeback import UploadCall, plan_writes

log = get_logger(__name__)

KEY = "cloudinary"
STREAM = "resources"
#: What ``by_asset_ids`` and a listing by ``public_ids[]`` take in one call.
MAX_IDS_PER_CALL = 100
ASSET_ID = re.compile(r"[0-9a-f]{32}")
INCLUDE = {"tags": "true", "context": "true", "metadata": "true"}
#: notification_type -> WebhookEvent.action; anything else is refused.
ACTIONS = {
    "upload": "created",
    "resource_tags_changed": "updated",
    "resource_context_changed": "updated",
    "resource_metadata_changed": "updated",
    "rename": "updated",
    "delete": "deleted",
}


class CloudinaryConnector:
    """One connection to a Cloudinary product environment."""

    def __init__(
        self,
        settings: CloudinarySettings,
        client: httpx.AsyncClient,
        *,
        retry: RetryPolicy = RetryPolicy(),
    ) -> None:
        self.settings = settings
        secret = settings.api_secret.get_secret_value()
        root = f"{settings.base_url.rstrip('/')}/v1_1/{settings.cloud_name}/"
        self.admin_limiter = AdaptiveRateLimiter(settings.admin_rate_policy())
        self.admin = VendorHttp(
            client,
            base_url=root,
            connector_key=KEY,
            limiter=self.admin_limiter,
            retry=retry,
            auth=httpx.BasicAuth(settings.api_key, secret),
        )
        # The Upload API is signed per request and not counted in the Admin budget.
        self.upload = VendorHttp(
            client,
            base_url=root,
            connector_key=KEY,
            limiter=AdaptiveRateLimiter(settings.upload_rate_policy()),
            retry=retry,
        )
        #: Wall clock for signatures and notification ages (virtual in contract tests).
        self.now = self.admin_limiter.wall_clock

    # -- discovery ---------------------------------------------------------------------

    async def check(self) -> CheckResult:
        """``GET /ping`` then ``GET /usage``: reachable, credentials accepted, which plan."""
        await self.admin.get_json("ping")
        usage = await self.admin.get_json("usage")
        plan = usage.get("plan") if isinstance(usage, dict) else None
        account = {"cloud_name": self.settings.cloud_name, "plan": plan}
        return CheckResult(
            ok=True, detail=f"cloud {self.settings.cloud_name} reachable", account=account
        )

    def streams(self) -> Sequence[StreamSpec]:
        """One stream of assets, keyed by the immutable ``asset_id``."""
        return [
            StreamSpec(STREAM, primary_key="asset_id", cursor_field="created_at", entity="asset")
        ]

    def _stream(self, stream: str) -> None:
        if stream != STREAM:
            raise PermanentConnectorError(f"cloudinary has no stream {stream!r}")

    # -- reads -------------------------------------------------------------------------

    async def read(self, stream: str, cursor: str | None) -> AsyncIterator[Page]:
        """Every resource of every configured resource type, oldest first, page by page."""
        self._stream(stream)
        types: list[str] = list(self.settings.resource_types)
        position = ReadPosition.decode(cursor, types)
        first = types.index(position.resource_type)
        for i in range(first, len(types)):
            resource_type = types[i]
            start = position.next_cursor if i == first else None

            async def fetch(
                vendor_cursor: str | None, rt: str = resource_type
            ) -> tuple[list[Record], str | None]:
                return await self._list_page(rt, vendor_cursor)

            async for vendor_page in pages_by_cursor(fetch, cursor=start):
                if vendor_page.next_cursor:
                    after: str | None = ReadPosition(
                        resource_type, vendor_page.next_cursor
                    ).encode()
                elif i + 1 < len(types):
                    after = ReadPosition(types[i + 1]).encode()
                else:
                    after = None
                yield Page(vendor_page.items, after)

    async def _list_page(
        self, resource_type: str, vendor_cursor: str | None
    ) -> tuple[list[Record], str | None]:
        params: dict[str, Any] = {
            "max_results": self.settings.page_size,
            "direction": "asc",
            **INCLUDE,
        }
        if vendor_cursor:
            params["next_cursor"] = vendor_cursor
        body = await self.admin.get_json(f"resources/{resource_type}", params=params)
        records = _records(body)
        log.info("cloudinary.page_read", resource_type=resource_type, count=len(records))
        return records, cloudinary_next_cursor(body)

    async def fetch(self, refs: Sequence[Ref]) -> list[Record]:
        """Current state by asset id (100 per call) or, failing that, by public id, in the
        listing's shape (the same ``data`` as a read)."""
        wanted = list(dict.fromkeys(r.external_id for r in refs if r.stream == STREAM))
        found = await self._current(wanted)
        return [found[i] for i in wanted if i in found]

    async def _current(self, ids: Iterable[str]) -> dict[str, Record]:
        """Records keyed by the id asked for (asset id, or public id when not hex)."""
        ids = list(ids)
        asset_ids = [i for i in ids if ASSET_ID.fullmatch(i)]
        out: dict[str, Record] = {}
        for chunk in _chunks(asset_ids):
            body = await self.admin.get_json(
                "resources/by_asset_ids", params={"asset_ids[]": chunk, **INCLUDE}
            )
            out |= {record.external_id: record for record in _records(body)}
        public_ids = [i for i in ids if not ASSET_ID.fullmatch(i)]
        # A public id is unique within a resource type only: the first configured type
        # holding it wins, as the connection lists its types in that order.
        for resource_type in self.settings.resource_types:
            for chunk in _chunks([p for p in public_ids if p not in out]):
                body = await self.admin.get_json(
                    f"resources/{resource_type}/upload",
                    params={"public_ids[]": chunk, **INCLUDE},
                )
                asked = set(chunk)
                for record in _records(body):
                    public_id = record.data.get("public_id")
                    if isinstance(public_id, str) and public_id in asked:
                        out.setdefault(public_id, record)
        return out

    # -- writes ------------------------------------------------------------------------

    async def write(self, changes: Sequence[TagChange]) -> list[WriteOutcome]:
        """Apply owned tags, owned context keys and the owned metadata field (values from
        ``change.metadata``) with grouped, signed calls. The current state (and public id)
        of each asset is the one its change carries (``TagChange.current``), else read."""
        for change in changes:
            self._stream(change.stream)
        current = {c.external_id: c.current for c in changes if c.current is not None}
        try:
            unread = dict.fromkeys(c.external_id for c in changes if c.external_id not in current)
            records = await self._current(unread) if unread else {}
            current |= {key: record.data for key, record in records.items()}
        except AuthError:
            raise
        except ConnectorError as exc:
            retryable = isinstance(exc, TransientConnectorError)
            return [
                WriteOutcome(c.external_id, "failed", str(exc), retryable=retryable)
                for c in changes
            ]
        plan = plan_writes(
            changes,
            current,
            tag_prefix=self.settings.tag_prefix,
            owned_metadata_field=self.settings.owned_metadata_field,
            owned_context_keys=self.settings.owned_context_keys,
        )
        failures: dict[int, WriteOutcome] = {}
        for call in plan.calls:
            await self._send(call, changes, failures)
        outcomes = []
        for index, change in enumerate(changes):
            outcome = plan.decided.get(index) or failures.get(index)
            outcomes.append(outcome or WriteOutcome(change.external_id, "applied"))
        log.info(
            "cloudinary.write",
            changes=len(changes),
            calls=len(plan.calls),
            applied=sum(o.status == "applied" for o in outcomes),
            skipped=sum(o.status == "skipped" for o in outcomes),
            failed=sum(o.status == "failed" for o in outcomes),
        )
        return outcomes

    async def _send(
        self, call: UploadCall, changes: Sequence[TagChange], failures: dict[int, WriteOutcome]
    ) -> None:
        params: dict[str, Any] = {"public_ids": list(call.public_ids), "type": call.type}
        if call.action == "tags":
            params |= {"command": call.command, "tag": call.value}
        elif call.action == "context":
            params |= {"command": call.command, "context": call.value}
        else:
            params["metadata"] = call.value
        signed = signed_upload_params(
            params,
            api_key=self.settings.api_key,
            api_secret=self.settings.api_secret.get_secret_value(),
            timestamp=int(self.now()),
            algorithm=self.settings.signature_algorithm,
        )
        wire = {(f"{k}[]" if isinstance(v, list) else k): v for k, v in signed.items()}
        try:
            response = await self.upload.request(
                "POST", f"{call.resource_type}/{call.action}", data=wire
            )
            body = self.upload.parse_json(response)
        except AuthError:
            raise
        except ConnectorError as exc:
            retryable = isinstance(exc, TransientConnectorError)
            for index in call.changes:
                failures[index] = WriteOutcome(
                    changes[index].external_id, "failed", str(exc), retryable=retryable
                )
            return
        updated = set(body.get("public_ids") or []) if isinstance(body, dict) else set()
        for public_id, index in zip(call.public_ids, call.changes, strict=True):
            if public_id not in updated and index not in failures:
                failures[index] = WriteOutcome(
                    changes[index].external_id, "failed", "resource vanished before the write"
                )

    # -- notifications -----------------------------------------------------------------

    async def parse_webhook(
        self,
        headers: Mapping[str, str],
        raw_body: bytes,
        *,
        url: str = "",  # noqa: ARG002 - the scheme signs neither URL nor method
        method: str = "POST",  # noqa: ARG002
    ) -> list[WebhookEvent]:
        """Verify ``X-Cld-Signature`` over the raw body and turn the delivery into events."""
        timestamp = verify_notification(
            headers,
            raw_body,
            api_secret=self.settings.api_secret.get_secret_value(),
            algorithm=self.settings.notification_signature_algorithm,
            max_age_s=self.settings.notification_max_age_s,
            now=self.now(),
        )
        try:
            body = json.loads(raw_body)
        except (ValueError, RecursionError) as exc:
            raise MalformedWebhook("notification body is not JSON") from exc
        if not isinstance(body, dict):
            raise MalformedWebhook("notification body is not a JSON object")
        signature_key = body.get("signature_key")
        if signature_key is not None and str(signature_key) != self.settings.api_key:
            raise InvalidWebhook("notification signed for another API key")
        kind = body.get("notification_type")
        if kind not in ACTIONS:
            # Authentic but of a kind syncbridge does not use (eager, moderation...):
            # acknowledged with no events, so Cloudinary does not retry it.
            return []
        listed = body.get("resources")
        items: list[Any] = listed if isinstance(listed, list) else [body]
        digest = hashlib.sha256(raw_body).hexdigest()
        occurred = datetime.fromtimestamp(timestamp, UTC)
        return [
            self._event(str(kind), item, body.get("request_id"), timestamp, digest, occurred)
            for item in items
        ]

    @staticmethod
    def _event(
        kind: str,
        item: Any,
        request_id: Any,
        timestamp: int,
        digest: str,
        occurred: datetime,
    ) -> WebhookEvent:
        if not isinstance(item, dict):
            raise MalformedWebhook("notification resource is not an object")
        asset_id = item.get("asset_id")
        public_id = item.get("public_id") or item.get("to_public_id")
        ident = asset_id or public_id
        if not isinstance(ident, str) or not ident:
            raise MalformedWebhook("notification names no resource")
        # A request may notify several types and resources: key on all three, so two
        # events of one delivery never collide while a redelivery keeps its keys.
        if isinstance(request_id, str) and request_id:
            key = f"{request_id}:{kind}:{ident}"
        else:
            key = hashlib.sha256(f"{kind}\n{ident}\n{timestamp}\n{digest}".encode()).hexdigest()
        payload = {
            "notification_type": kind,
            "public_id": public_id,
            "resource_type": item.get("resource_type"),
            "type": item.get("type"),
        }
        return WebhookEvent(
            delivery_key=key,
            stream=STREAM,
            external_id=asset_id if isinstance(asset_id, str) else None,
            action=ACTIONS[kind],
            occurred_at=occurred,
            payload=payload,
        )

    async def aclose(self) -> None:
        """Nothing to release: the HTTP client is shared."""


def _records(body: Any) -> list[Record]:
    """The records of a listing answer (``{"resources": [...]}``), keyed by asset id;
    ``PermanentConnectorError`` when it is not one.

    Each resource is a fresh object of the parsed answer, so it becomes the record's data
    as it is. The Admin API reports no modification time; content hashes detect changes.
    """
    resources = body.get("resources") if isinstance(body, dict) else None
    if not isinstance(resources, list):
        raise PermanentConnectorError("cloudinary: vendor answered garbage (no resources list)")
    try:
        records = [Record(STREAM, resource["asset_id"], resource) for resource in resources]
    except (KeyError, TypeError) as exc:  # an item that is no object, or has no asset_id
        raise PermanentConnectorError(
            "cloudinary: vendor answered a resource without asset_id"
        ) from exc
    if not all(isinstance(record.external_id, str) and record.external_id for record in records):
        raise PermanentConnectorError("cloudinary: vendor answered a resource without asset_id")
    return records


def _chunks(ids: list[str]) -> list[list[str]]:
    """``ids`` in groups of what one lookup call takes (100)."""
    step = MAX_IDS_PER_CALL
    return [ids[start : start + step] for start in range(0, len(ids), step)]


def factory(settings: Any, client: httpx.AsyncClient) -> CloudinaryConnector:
    """The spec's factory: one instance per connection."""
    if not isinstance(settings, CloudinarySettings):
        settings = CloudinarySettings.model_validate(settings)
    return CloudinaryConnector(settings, client)


__all__ = ["ACTIONS", "STREAM", "CloudinaryConnector", "factory"]
