"""One deterministic sandbox world that every simulator serves a view of.

The same seed gives the same assets, campaigns and tags in every process, so the DAM
simulators (Bynder, Cloudinary, local folder) and the CRM/analytics simulators refer to the
same assets and campaigns.
"""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import cached_property

EPOCH = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)

ASSET_TYPES: dict[str, tuple[str, ...]] = {
    "image": ("jpg", "png", "webp"),
    "video": ("mp4", "mov"),
    "document": ("pdf", "pptx"),
}
SUBJECTS = (
    "spring-sale",
    "summer-launch",
    "black-friday",
    "webinar-series",
    "brand-refresh",
    "customer-story",
    "product-demo",
    "holiday-campaign",
    "trade-show",
    "free-trial",
)
FORMATS = (
    "hero-banner",
    "social-square",
    "story-vertical",
    "display-300x250",
    "email-header",
    "landing-hero",
    "explainer",
    "one-pager",
    "case-study",
    "carousel-card",
)
CHANNELS = (
    "linkedin",
    "meta",
    "instagram",
    "google-search",
    "display",
    "email",
    "youtube",
    "tiktok",
    "organic-social",
    "website",
)
REGIONS = ("na", "emea", "apac", "latam")
PRODUCTS = ("analytics-cloud", "commerce-suite", "data-platform", "mobile-app")
AUDIENCES = ("smb", "mid-market", "enterprise", "developers", "marketers")
FOLDERS = ("Campaigns", "Brand", "Product", "Social", "Web", "Events")


@dataclass(frozen=True)
class Campaign:
    key: str
    name: str
    channel: str
    region: str
    product: str
    audience: str
    start: datetime


@dataclass(frozen=True)
class SandboxAsset:
    """One asset as the world knows it; each simulator renders it in its vendor's shape."""

    index: int
    id: str
    name: str
    asset_type: str
    extension: str
    folder: str
    tags: tuple[str, ...]
    campaign_key: str
    channel: str
    region: str
    product: str
    audience: str
    width: int
    height: int
    file_size: int
    created_at: datetime
    modified_at: datetime

    @property
    def filename(self) -> str:
        return f"{self.name}.{self.extension}"

    @property
    def path(self) -> str:
        """Folder-relative path, as a local-folder DAM or a Cloudinary public id would use."""
        return f"{self.folder}/{self.campaign_key}/{self.filename}"


@dataclass
class World:
    """``World(seed, assets=N)``: N assets over ``N // 20 + 1`` campaigns, all derived from seed."""

    seed: int = 42
    assets_count: int = 200
    _rng_salt: str = field(default="syncbridge-sandbox", repr=False)

    def _rng(self, *parts: object) -> random.Random:
        return random.Random(f"{self._rng_salt}:{self.seed}:" + ":".join(map(str, parts)))

    def _uuid(self, *parts: object) -> str:
        return str(uuid.UUID(int=self._rng("uuid", *parts).getrandbits(128), version=4))

    @cached_property
    def campaigns(self) -> list[Campaign]:
        out = []
        for i in range(self.assets_count // 20 + 1):
            rng = self._rng("campaign", i)
            subject = SUBJECTS[i % len(SUBJECTS)]
            year = 2025 + (i // len(SUBJECTS)) % 2
            out.append(
                Campaign(
                    key=f"{subject}-{year}-{i:04d}",
                    name=f"{subject.replace('-', ' ').title()} {year} #{i}",
                    channel=rng.choice(CHANNELS),
                    region=rng.choice(REGIONS),
                    product=rng.choice(PRODUCTS),
                    audience=rng.choice(AUDIENCES),
                    start=EPOCH + timedelta(days=rng.randrange(0, 300)),
                )
            )
        return out

    def asset(self, index: int) -> SandboxAsset:
        """The asset at ``index`` (0-based), computed on demand."""
        rng = self._rng("asset", index)
        campaign = self.campaigns[index % len(self.campaigns)]
        asset_type = rng.choices(list(ASSET_TYPES), weights=(70, 20, 10))[0]
        extension = rng.choice(ASSET_TYPES[asset_type])
        fmt = rng.choice(FORMATS)
        created = campaign.start + timedelta(minutes=rng.randrange(0, 60 * 24 * 20))
        width, height = rng.choice(
            ((1200, 628), (1080, 1080), (1080, 1920), (300, 250), (1920, 1080))
        )
        tags = tuple(sorted({campaign.channel, campaign.region, fmt, rng.choice(SUBJECTS)}))
        return SandboxAsset(
            index=index,
            id=self._uuid("asset", index),
            name=f"{campaign.key}_{fmt}_{index:06d}",
            asset_type=asset_type,
            extension=extension,
            folder=rng.choice(FOLDERS),
            tags=tags,
            campaign_key=campaign.key,
            channel=campaign.channel,
            region=campaign.region,
            product=campaign.product,
            audience=campaign.audience,
            width=width,
            height=height,
            file_size=rng.randrange(20_000, 50_000_000),
            created_at=created,
            modified_at=created + timedelta(hours=rng.randrange(0, 24 * 30)),
        )

    def assets(self) -> list[SandboxAsset]:
        return [self.asset(i) for i in range(self.assets_count)]
