"""One deterministic sandbox world that every simulator serves a view of.

The same seed gives the same assets, campaigns and tags in every process, so the DAM
simulators (Bynder, Cloudinary, local folder) and the CRM/analytics simulators (HubSpot,
Salesforce, GA4, CSV) refer to the same assets and campaigns.

DAM part: ``World(seed, assets_count=N)`` holds N assets over ``N // 20 + 1`` campaigns; asset
``i`` belongs to campaign ``i % len(campaigns)``.

CRM part: companies, contacts (each with a first-touch campaign) and deals (each with a primary
campaign, a company and 1..4 contacts). Campaigns whose assets outperform attract more deals,
win more of them and win larger ones.

Analytics part: ``analytics_rows(day)`` gives one GA4-like row per asset live on ``day`` (its
campaign running, or up to 30 days after it ended) for the 90 days ending at ``analytics_end``.
Rows of the last ``LATE_DAYS`` days grow with ``revision`` (late hits; values never shrink);
older days never change.

Ground truth (``truth``, ``outperformers``, ``underperformers``): each asset has a true rate of
key events per view drawn around its cohort's median (cohort = asset type + channel). About 5 %
of assets are tier "top" (rate 4-6x the median), about 5 % "bottom" (1/6-1/4 of it), the rest
"middle" (1/2-2x). Every observed asset (live on at least one day of the window) gets at least
500 views over the window, so the tiers are recoverable from the rows alone. Campaigns that
ended long before the window are never observed: ``AssetTruth.live_days`` tells which assets
are. From 20 assets on there is at least one top and one bottom asset, among the observed
ones whenever two or more are observed.

Everything is derived from the seed through seeded ``random.Random`` streams: no global random,
no wall clock. Collections are computed lazily and cached; a World's fields are fixed once it
is built.
"""

from __future__ import annotations

import math
import random
import threading
import uuid
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from functools import cached_property
from statistics import NormalDist

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

# --- CRM/analytics vocabulary -------------------------------------------------------------

#: channel -> (utm_source, utm_medium) that the campaign's links carry
CHANNEL_UTM: dict[str, tuple[str, str]] = {
    "linkedin": ("linkedin", "paid_social"),
    "meta": ("facebook", "paid_social"),
    "instagram": ("instagram", "paid_social"),
    "google-search": ("google", "cpc"),
    "display": ("google", "display"),
    "email": ("newsletter", "email"),
    "youtube": ("youtube", "display"),
    "tiktok": ("tiktok", "paid_social"),
    "organic-social": ("linkedin", "organic_social"),
    "website": ("partners.example.com", "referral"),
}
LIFECYCLE_STAGES = (
    "lead",
    "marketingqualifiedlead",
    "salesqualifiedlead",
    "opportunity",
    "customer",
)
OPEN_DEAL_STAGES = (
    "appointmentscheduled",
    "qualifiedtobuy",
    "presentationscheduled",
    "decisionmakerboughtin",
    "contractsent",
)
DEAL_STAGES = (*OPEN_DEAL_STAGES, "closedwon", "closedlost")
INDUSTRIES = (
    "Software",
    "Retail",
    "Financial Services",
    "Healthcare",
    "Manufacturing",
    "Media",
    "Education",
    "Logistics",
    "Hospitality",
    "Telecommunications",
)
COMPANY_PREFIXES = (
    "Blue", "North", "Silver", "Bright", "Iron", "Red", "Green", "Clear", "Swift", "Stone",
    "Cedar", "Summit", "Harbor", "Nova", "Pioneer", "Atlas",
)  # fmt: skip
COMPANY_ROOTS = (
    "peak", "wind", "field", "wave", "bridge", "gate", "line", "point", "leaf", "stream",
    "forge", "light",
)  # fmt: skip
COMPANY_SUFFIXES = ("Systems", "Labs", "Group", "Partners", "Works", "Retail", "Health", "Capital")
FIRST_NAMES = (
    "Ada", "Ben", "Chloe", "Daniel", "Elena", "Farid", "Grace", "Hiro", "Ines", "Jonas",
    "Kemi", "Liam", "Maya", "Noah", "Olga", "Priya", "Quinn", "Rosa", "Sam", "Tariq",
    "Uma", "Victor", "Wen", "Yusuf",
)  # fmt: skip
LAST_NAMES = (
    "Adams", "Becker", "Chen", "Diaz", "Evans", "Fischer", "Garcia", "Hughes", "Ito", "Jensen",
    "Kowalski", "Lopez", "Moreau", "Nakamura", "Okafor", "Patel", "Rossi", "Schmidt", "Tanaka",
    "Usman", "Varga", "Wright", "Yilmaz", "Zhang",
)  # fmt: skip
#: typical deal size (USD) by the campaign's audience
DEAL_SIZE: dict[str, int] = {
    "smb": 6_000,
    "mid-market": 28_000,
    "enterprise": 120_000,
    "developers": 9_000,
    "marketers": 15_000,
}
#: typical revenue (USD) per key event by the campaign's product
KEY_EVENT_VALUE: dict[str, int] = {
    "analytics-cloud": 120,
    "commerce-suite": 80,
    "data-platform": 150,
    "mobile-app": 25,
}

ANALYTICS_DAYS = 90
LATE_DAYS = 3
#: days an asset stays live (keeps drawing traffic) after its campaign ended
AFTERGLOW_DAYS = 30
#: how much a late day finally grows over its revision-0 values, by age (0 = analytics_end)
LATE_GROWTH = (0.30, 0.15, 0.05)
TOP_SHARE = 0.05
BOTTOM_SHARE = 0.05
#: the analytics_rows cache keeps (day, revision) entries up to this many rows in total
ROWS_CACHE_LIMIT = 250_000

_NORMAL = NormalDist()
_TRUTH_DRAWS = 4  # uniforms per asset in the truth stream (fixed, so asset i never moves)
_DAY_DRAWS = 5  # uniforms per asset in a day's stream


@dataclass(frozen=True)
class Campaign:
    key: str
    name: str
    channel: str
    region: str
    product: str
    audience: str
    start: datetime
    index: int
    id: str
    end: datetime
    modified_at: datetime
    budget: Decimal
    utm_source: str
    utm_medium: str
    utm_campaign: str

    @property
    def source_medium(self) -> str:
        """GA4's ``sessionSourceMedium`` for the campaign's traffic."""
        return f"{self.utm_source} / {self.utm_medium}"


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


@dataclass(frozen=True)
class Company:
    index: int
    id: str
    name: str
    domain: str
    industry: str
    created_at: datetime
    modified_at: datetime


@dataclass(frozen=True)
class Contact:
    index: int
    id: str
    email: str
    first_name: str
    last_name: str
    company_id: str
    campaign_key: str  # first-touch campaign
    lifecycle_stage: str  # one of LIFECYCLE_STAGES
    created_at: datetime
    modified_at: datetime


@dataclass(frozen=True)
class Deal:
    index: int
    id: str
    name: str
    amount: Decimal
    currency: str
    stage: str  # one of DEAL_STAGES
    is_won: bool
    is_closed: bool
    close_date: date  # the actual close date, or the expected one while open
    campaign_key: str  # the primary (influencing) campaign
    company_id: str
    contact_ids: tuple[str, ...]  # 1..4 contacts
    created_at: datetime
    modified_at: datetime


@dataclass(frozen=True, slots=True)
class AnalyticsRow:
    date: date
    asset_id: str
    asset_index: int
    page_path: str
    campaign_key: str
    source_medium: str
    views: int
    sessions: int
    event_count: int
    key_events: int
    revenue: Decimal  # USD, 2 decimal places


@dataclass(frozen=True)
class AssetTruth:
    """What the analytics rows of an asset were drawn from."""

    asset_id: str
    tier: str  # "top" | "bottom" | "middle"
    ctr: float  # true key events per view
    asset_index: int
    cohort: str  # f"{asset_type}/{channel}"
    cohort_median: float  # the median rate the cohort's rates are drawn around
    live_days: int  # days of the analytics window the asset is live on (0: never observed)


@dataclass(slots=True)
class _Profile:
    """The per-asset facts analytics rows are drawn from (cheaper than a SandboxAsset)."""

    index: int
    id: str
    page_path: str
    campaign_index: int
    cohort: str
    cohort_median: float
    tier_draw: float
    rate_draw: float
    tier: str
    rate: float
    target_views: float  # views over the window (>= 1000 before per-day noise)
    unit_cents: float  # revenue per key event, before per-day noise
    live_days: int


def _binomial(n: int, p: float, u: float) -> int:
    """The ``u``-quantile of Binomial(n, p): exact inversion when small, normal beyond."""
    q = 1.0 - p
    mean = n * p
    if mean < 30:
        pmf = q**n
        cdf, k = pmf, 0
        while u > cdf and k < n:
            pmf *= (n - k) / (k + 1) * p / q
            k += 1
            cdf += pmf
        return k
    z = _NORMAL.inv_cdf(min(max(u, 1e-12), 1 - 1e-12))
    return min(n, max(0, round(mean + math.sqrt(mean * q) * z)))


def _cents(value: int) -> Decimal:
    return Decimal(value).scaleb(-2)


@dataclass
class World:
    """``World(seed, assets=N)``: N assets over ``N // 20 + 1`` campaigns, all derived from seed."""

    seed: int = 42
    assets_count: int = 200
    _rng_salt: str = field(default="syncbridge-sandbox", repr=False)
    analytics_end: date = date(2026, 11, 30)
    _rows_cache: OrderedDict[tuple[date, int], list[AnalyticsRow]] = field(
        default_factory=OrderedDict, init=False, repr=False, compare=False
    )
    _rows_lock: threading.Lock = field(
        default_factory=threading.Lock, init=False, repr=False, compare=False
    )

    def _rng(self, *parts: object) -> random.Random:
        return random.Random(f"{self._rng_salt}:{self.seed}:" + ":".join(map(str, parts)))

    def _uuid(self, *parts: object) -> str:
        return str(uuid.UUID(int=self._rng("uuid", *parts).getrandbits(128), version=4))

    # --- campaigns and assets ---------------------------------------------------------------

    @cached_property
    def campaigns(self) -> list[Campaign]:
        out = []
        for i in range(self.assets_count // 20 + 1):
            rng = self._rng("campaign", i)
            subject = SUBJECTS[i % len(SUBJECTS)]
            year = 2025 + (i // len(SUBJECTS)) % 2
            key = f"{subject}-{year}-{i:04d}"
            channel = rng.choice(CHANNELS)
            region = rng.choice(REGIONS)
            product = rng.choice(PRODUCTS)
            audience = rng.choice(AUDIENCES)
            start = EPOCH + timedelta(days=rng.randrange(0, 300))
            # CRM fields come from their own stream so the DAM fields above never move.
            crm = self._rng("campaign-crm", i)
            end = start + timedelta(days=crm.randint(14, 60))
            modified = self._later(crm, start, days=30)
            utm_source, utm_medium = CHANNEL_UTM[channel]
            out.append(
                Campaign(
                    key=key,
                    name=f"{subject.replace('-', ' ').title()} {year} #{i}",
                    channel=channel,
                    region=region,
                    product=product,
                    audience=audience,
                    start=start,
                    index=i,
                    id=self._uuid("campaign", i),
                    end=end,
                    modified_at=modified,
                    budget=_cents(crm.randrange(2_000_00, 250_000_00)),
                    utm_source=utm_source,
                    utm_medium=utm_medium,
                    utm_campaign=key,
                )
            )
        return out

    @cached_property
    def _campaign_by_key(self) -> dict[str, Campaign]:
        return {c.key: c for c in self.campaigns}

    def campaign(self, key: str) -> Campaign:
        """The campaign with ``key``; raises ``KeyError`` for an unknown key."""
        return self._campaign_by_key[key]

    def campaign_assets(self, key: str) -> list[SandboxAsset]:
        """The assets campaign ``key`` used, in index order; ``KeyError`` for an unknown key."""
        c = self.campaign(key)
        return [self.asset(i) for i in range(c.index, self.assets_count, len(self.campaigns))]

    def _asset_head(self, index: int) -> tuple[random.Random, Campaign, str, str, str]:
        """The asset's first draws (type, extension, format) and its rng, positioned after them."""
        rng = self._rng("asset", index)
        campaign = self.campaigns[index % len(self.campaigns)]
        asset_type = rng.choices(list(ASSET_TYPES), weights=(70, 20, 10))[0]
        extension = rng.choice(ASSET_TYPES[asset_type])
        fmt = rng.choice(FORMATS)
        return rng, campaign, asset_type, extension, fmt

    def asset(self, index: int) -> SandboxAsset:
        """The asset at ``index`` (0-based), computed on demand."""
        rng, campaign, asset_type, extension, fmt = self._asset_head(index)
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

    def utm_content(self, asset: SandboxAsset) -> str:
        """The ``utm_content`` the asset's links carry: its id."""
        return asset.id

    def page_path(self, asset: SandboxAsset) -> str:
        """The landing page the asset's links lead to."""
        return f"/lp/{asset.campaign_key}/{asset.filename}"

    # --- the sandbox's present --------------------------------------------------------------

    @cached_property
    def now(self) -> datetime:
        """The sandbox's present (``analytics_end`` at 18:00 UTC): no CRM record is newer."""
        return datetime.combine(self.analytics_end, time(18, 0), tzinfo=UTC)

    def _later(self, rng: random.Random, moment: datetime, days: int) -> datetime:
        """A moment up to ``days`` after ``moment``, never after the present (unless it is)."""
        minutes = min(60 * 24 * days, int((self.now - moment).total_seconds() // 60))
        return moment + timedelta(minutes=rng.randrange(max(1, minutes)))

    # --- ground truth -----------------------------------------------------------------------

    @cached_property
    def analytics_days(self) -> list[date]:
        """The ``ANALYTICS_DAYS`` days ending at ``analytics_end``, ascending."""
        return [self.analytics_end - timedelta(days=k) for k in range(ANALYTICS_DAYS - 1, -1, -1)]

    @cached_property
    def _live_shares(self) -> list[dict[date, float]]:
        """Per campaign: its live days in the window -> that day's share of an asset's views."""
        first, last = self.analytics_days[0], self.analytics_end
        out = []
        for c in self.campaigns:
            start, end = c.start.date(), c.end.date()
            weights: dict[date, float] = {}
            day = max(start, first)
            while day <= min(end + timedelta(days=AFTERGLOW_DAYS), last):
                after = (day - end).days  # traffic fades once the campaign stops
                weights[day] = 1.0 if after <= 0 else 0.6 * 0.9**after
                day += timedelta(days=1)
            total = sum(weights.values())
            out.append({d: w / total for d, w in weights.items()})
        return out

    @cached_property
    def _live_by_day(self) -> dict[date, dict[int, float]]:
        """Day -> {campaign index: share} for the campaigns live that day."""
        by_day: dict[date, dict[int, float]] = {}
        for ci, shares in enumerate(self._live_shares):
            for day, share in shares.items():
                by_day.setdefault(day, {})[ci] = share
        return by_day

    @cached_property
    def _cohort_medians(self) -> dict[str, float]:
        return {
            f"{t}/{ch}": self._rng("cohort", t, ch).uniform(0.02, 0.08)
            for t in ASSET_TYPES
            for ch in CHANNELS
        }

    @staticmethod
    def _tier_rate(tier: str, median: float, draw: float) -> float:
        if tier == "top":
            return median * (4 + 2 * draw)
        if tier == "bottom":
            return median / (4 + 2 * draw)
        return median * 2 ** (2 * draw - 1)

    @cached_property
    def _profiles(self) -> list[_Profile]:
        # One stream, a fixed number of draws per asset: asset i's truth depends on i alone.
        rng = self._rng("truth")
        draws = [rng.random() for _ in range(_TRUTH_DRAWS * self.assets_count)]
        medians = self._cohort_medians
        out = []
        for i in range(self.assets_count):
            _, campaign, asset_type, extension, fmt = self._asset_head(i)
            u_tier, u_rate, u_views, u_unit = draws[_TRUTH_DRAWS * i : _TRUTH_DRAWS * (i + 1)]
            cohort = f"{asset_type}/{campaign.channel}"
            tier = (
                "top"
                if u_tier < TOP_SHARE
                else "bottom"
                if u_tier >= 1 - BOTTOM_SHARE
                else "middle"
            )
            out.append(
                _Profile(
                    index=i,
                    id=self._uuid("asset", i),
                    page_path=f"/lp/{campaign.key}/{campaign.key}_{fmt}_{i:06d}.{extension}",
                    campaign_index=campaign.index,
                    cohort=cohort,
                    cohort_median=medians[cohort],
                    tier_draw=u_tier,
                    rate_draw=u_rate,
                    tier=tier,
                    rate=self._tier_rate(tier, medians[cohort], u_rate),
                    target_views=1000 + 5000 * u_views,
                    unit_cents=KEY_EVENT_VALUE[campaign.product] * 100 * (0.8 + 0.4 * u_unit),
                    live_days=len(self._live_shares[campaign.index]),
                )
            )
        if self.assets_count >= 20:
            self._ensure_tiers(out)
        return out

    def _ensure_tiers(self, profiles: list[_Profile]) -> None:
        """At least one top and one bottom asset, among the observed ones when there are two."""
        observed = [p for p in profiles if p.live_days]
        pool = observed if len(observed) >= 2 else profiles
        if not any(p.tier == "top" for p in pool):
            self._retier(min(pool, key=lambda p: p.tier_draw), "top")
        if not any(p.tier == "bottom" for p in pool):
            self._retier(
                max((p for p in pool if p.tier != "top"), key=lambda p: p.tier_draw), "bottom"
            )

    def _retier(self, profile: _Profile, tier: str) -> None:
        profile.tier = tier
        profile.rate = self._tier_rate(tier, profile.cohort_median, profile.rate_draw)

    @cached_property
    def _profile_by_id(self) -> dict[str, _Profile]:
        return {p.id: p for p in self._profiles}

    def truth(self, asset_id: str) -> AssetTruth:
        """What the asset's analytics rows were drawn from; ``KeyError`` for an unknown id."""
        p = self._profile_by_id[asset_id]
        return AssetTruth(
            asset_id=p.id,
            tier=p.tier,
            ctr=p.rate,
            asset_index=p.index,
            cohort=p.cohort,
            cohort_median=p.cohort_median,
            live_days=p.live_days,
        )

    def outperformers(self) -> set[str]:
        """Ids of the tier "top" assets (observed or not: see ``AssetTruth.live_days``)."""
        return {p.id for p in self._profiles if p.tier == "top"}

    def underperformers(self) -> set[str]:
        """Ids of the tier "bottom" assets (observed or not: see ``AssetTruth.live_days``)."""
        return {p.id for p in self._profiles if p.tier == "bottom"}

    @cached_property
    def _campaign_tiers(self) -> list[tuple[int, int]]:
        """Per campaign: (top-tier assets, bottom-tier assets)."""
        counts = [[0, 0] for _ in self.campaigns]
        for p in self._profiles:
            if p.tier == "top":
                counts[p.campaign_index][0] += 1
            elif p.tier == "bottom":
                counts[p.campaign_index][1] += 1
        return [(tops, bottoms) for tops, bottoms in counts]

    # --- analytics ----------------------------------------------------------------------------

    def analytics_row_count(self, day: date) -> int:
        """How many rows :meth:`analytics_rows` gives for ``day`` (without drawing them)."""
        step = len(self.campaigns)
        live = self._live_by_day.get(day, {})
        return sum(len(range(ci, self.assets_count, step)) for ci in live)

    def analytics_rows(self, day: date, revision: int = 0) -> list[AnalyticsRow]:
        """One row per asset live on ``day``, in asset index order; none outside the window.

        Deterministic per (world, day, asset). Rows of the last ``LATE_DAYS`` days grow with
        ``revision`` (never shrink); older days are the same at every revision.
        """
        if revision < 0:
            raise ValueError("revision must be >= 0")
        if not 0 <= (self.analytics_end - day).days < LATE_DAYS:
            revision = 0  # settled days: every revision shares one cache entry
        key = (day, revision)
        with self._rows_lock:
            cached = self._rows_cache.get(key)
            if cached is not None:
                self._rows_cache.move_to_end(key)
                return list(cached)
        rows = self._draw_rows(day, revision)
        with self._rows_lock:
            self._rows_cache[key] = rows
            total = sum(len(r) for r in self._rows_cache.values())
            while total > ROWS_CACHE_LIMIT and len(self._rows_cache) > 1:
                total -= len(self._rows_cache.popitem(last=False)[1])
        return list(rows)

    def _draw_rows(self, day: date, revision: int) -> list[AnalyticsRow]:
        live = self._live_by_day.get(day)
        if not live:
            return []
        age = (self.analytics_end - day).days
        growth = 1.0 + (LATE_GROWTH[age] * (1 - 0.5**revision) if age < LATE_DAYS else 0.0)
        # One stream per day, a fixed number of draws per asset: a row depends on
        # (world, day, asset) only, never on which other days were drawn first.
        rng = self._rng("analytics", day.isoformat())
        draws = [rng.random() for _ in range(_DAY_DRAWS * self.assets_count)]
        step = len(self.campaigns)
        profiles = self._profiles
        indices = sorted(i for ci in live for i in range(ci, self.assets_count, step))
        rows = []
        for i in indices:
            p = profiles[i]
            campaign = self.campaigns[p.campaign_index]
            u = draws[_DAY_DRAWS * i : _DAY_DRAWS * (i + 1)]
            views = max(1, int(p.target_views * live[p.campaign_index] * (0.75 + 0.5 * u[0])))
            sessions = min(views, max(1, round(views * (0.6 + 0.35 * u[1]))))
            key_events = _binomial(views, p.rate, u[2])
            events = views + key_events + int(views * (0.5 + 1.5 * u[3]))
            unit_cents = round(p.unit_cents * (0.9 + 0.2 * u[4]))
            if growth != 1.0:  # late hits: floor(x * g) keeps every order between metrics
                views, sessions = int(views * growth), int(sessions * growth)
                key_events, events = int(key_events * growth), int(events * growth)
            rows.append(
                AnalyticsRow(
                    date=day,
                    asset_id=p.id,
                    asset_index=i,
                    page_path=p.page_path,
                    campaign_key=campaign.key,
                    source_medium=campaign.source_medium,
                    views=views,
                    sessions=sessions,
                    event_count=events,
                    key_events=key_events,
                    revenue=_cents(key_events * unit_cents),
                )
            )
        return rows

    # --- CRM ------------------------------------------------------------------------------------

    @cached_property
    def companies(self) -> list[Company]:
        """``max(5, assets_count // 25)`` companies with unique names and domains."""
        out, names = [], set()
        for i in range(max(5, self.assets_count // 25)):
            rng = self._rng("company", i)
            name = (
                f"{rng.choice(COMPANY_PREFIXES)}{rng.choice(COMPANY_ROOTS)} "
                f"{rng.choice(COMPANY_SUFFIXES)}"
            )
            if name in names:  # generated names never end in a digit, so this stays unique
                name = f"{name} {i}"
            names.add(name)
            created = EPOCH - timedelta(minutes=rng.randrange(0, 60 * 24 * 400))
            modified = self._later(rng, created, days=300)
            out.append(
                Company(
                    index=i,
                    id=self._uuid("company", i),
                    name=name,
                    domain=f"{name.lower().replace(' ', '-')}.example.com",
                    industry=rng.choice(INDUSTRIES),
                    created_at=created,
                    modified_at=modified,
                )
            )
        return out

    def _campaign_weights(self, per_top: float, per_bottom: float) -> list[float]:
        """Cumulative weights over campaigns, favouring those with outperforming assets."""
        weights = [max(0.25, 1 + per_top * t - per_bottom * b) for t, b in self._campaign_tiers]
        cum, total = [], 0.0
        for w in weights:
            total += w
            cum.append(total)
        return cum

    def _moment_in_campaign(self, rng: random.Random, campaign: Campaign) -> datetime:
        """A moment while the campaign runs or in its afterglow, never after the present."""
        stop = min(campaign.end + timedelta(days=AFTERGLOW_DAYS), self.now)
        minutes = int((stop - campaign.start).total_seconds() // 60)
        return campaign.start + timedelta(minutes=rng.randrange(max(1, minutes)))

    @cached_property
    def _contact_drafts(self) -> list[_ContactDraft]:
        """Contacts before their lifecycle stage (which follows from their deals)."""
        cum = self._campaign_weights(per_top=1.0, per_bottom=0.25)
        picks = range(len(self.campaigns))
        out, emails = [], set()
        for j in range(max(10, self.assets_count // 4)):
            rng = self._rng("contact", j)
            campaign = self.campaigns[rng.choices(picks, cum_weights=cum)[0]]
            company = self.companies[rng.randrange(len(self.companies))]
            first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
            local = f"{first}.{last}".lower()
            if f"{local}@{company.domain}" in emails:  # names carry no digits: stays unique
                local = f"{local}{j}"
            email = f"{local}@{company.domain}"
            emails.add(email)
            created = self._moment_in_campaign(rng, campaign)
            modified = self._later(rng, created, days=60)
            out.append(
                _ContactDraft(
                    index=j,
                    id=self._uuid("contact", j),
                    email=email,
                    first_name=first,
                    last_name=last,
                    company_index=company.index,
                    campaign_index=campaign.index,
                    created_at=created,
                    modified_at=modified,
                    stage_draw=rng.random(),
                )
            )
        return out

    @cached_property
    def deals(self) -> list[Deal]:
        """``max(10, assets_count // 10)`` deals; outperforming campaigns win more and larger."""
        drafts = self._contact_drafts
        members: dict[int, list[int]] = {}
        colleagues: dict[int, list[int]] = {}
        for d in drafts:
            members.setdefault(d.campaign_index, []).append(d.index)
            colleagues.setdefault(d.company_index, []).append(d.index)
        cum = self._campaign_weights(per_top=2.0, per_bottom=0.5)
        picks = range(len(self.campaigns))
        out = []
        for j in range(max(10, self.assets_count // 10)):
            rng = self._rng("deal", j)
            campaign = self.campaigns[rng.choices(picks, cum_weights=cum)[0]]
            tops, bottoms = self._campaign_tiers[campaign.index]
            pool = members.get(campaign.index) or range(len(drafts))
            first = drafts[pool[rng.randrange(len(pool))]]
            others = [k for k in colleagues[first.company_index] if k != first.index]
            others = sorted(rng.sample(others, min(rng.randint(1, 4) - 1, len(others))))
            company = self.companies[first.company_index]
            created = self._moment_in_campaign(rng, campaign)
            close_at = created + timedelta(days=rng.randint(7, 90), minutes=rng.randrange(1440))
            won = rng.random() < min(0.9, max(0.1, 0.25 + 0.2 * tops - 0.05 * bottoms))
            open_stage = rng.choices(OPEN_DEAL_STAGES, weights=(30, 25, 20, 15, 10))[0]
            size = DEAL_SIZE[campaign.audience] * rng.uniform(0.6, 1.6)
            size *= max(0.5, 1 + 0.4 * tops - 0.15 * bottoms)
            closed = close_at <= self.now
            if closed:
                modified = close_at
            else:
                modified = self._later(rng, created, days=90)
            out.append(
                Deal(
                    index=j,
                    id=self._uuid("deal", j),
                    name=f"{company.name} - {campaign.product.replace('-', ' ').title()}",
                    amount=Decimal(round(size)).quantize(Decimal("0.01")),
                    currency="USD",
                    stage=("closedwon" if won else "closedlost") if closed else open_stage,
                    is_won=closed and won,
                    is_closed=closed,
                    close_date=close_at.date(),
                    campaign_key=campaign.key,
                    company_id=company.id,
                    contact_ids=tuple(drafts[k].id for k in (first.index, *others)),
                    created_at=created,
                    modified_at=modified,
                )
            )
        return out

    @cached_property
    def contacts(self) -> list[Contact]:
        """``max(10, assets_count // 4)`` contacts; deal contacts are opportunities or customers."""
        deals_of: dict[str, list[Deal]] = {}
        for deal in self.deals:
            for contact_id in deal.contact_ids:
                deals_of.setdefault(contact_id, []).append(deal)
        out = []
        for d in self._contact_drafts:
            theirs = deals_of.get(d.id, [])
            if any(x.is_won for x in theirs):
                stage = "customer"
            elif any(not x.is_closed for x in theirs):
                stage = "opportunity"
            elif theirs:
                stage = "salesqualifiedlead"
            else:
                stage = "lead" if d.stage_draw < 0.5 else "marketingqualifiedlead"
                stage = "salesqualifiedlead" if d.stage_draw >= 0.8 else stage
            modified = max([d.modified_at, *(x.modified_at for x in theirs)])
            out.append(
                Contact(
                    index=d.index,
                    id=d.id,
                    email=d.email,
                    first_name=d.first_name,
                    last_name=d.last_name,
                    company_id=self.companies[d.company_index].id,
                    campaign_key=self.campaigns[d.campaign_index].key,
                    lifecycle_stage=stage,
                    created_at=d.created_at,
                    modified_at=modified,
                )
            )
        return out

    @cached_property
    def _members(self) -> dict[str, list[Contact]]:
        members: dict[str, list[Contact]] = {c.key: [] for c in self.campaigns}
        for contact in self.contacts:
            members[contact.campaign_key].append(contact)
        return members

    def campaign_members(self, key: str) -> list[Contact]:
        """Contacts whose first-touch campaign is ``key``; ``KeyError`` for an unknown key."""
        return list(self._members[key])

    @cached_property
    def _deals_by_campaign(self) -> dict[str, list[Deal]]:
        by_campaign: dict[str, list[Deal]] = {c.key: [] for c in self.campaigns}
        for deal in self.deals:
            by_campaign[deal.campaign_key].append(deal)
        return by_campaign

    def campaign_deals(self, key: str) -> list[Deal]:
        """Deals whose primary campaign is ``key``; ``KeyError`` for an unknown key."""
        return list(self._deals_by_campaign[key])

    @cached_property
    def _company_by_id(self) -> dict[str, Company]:
        return {x.id: x for x in self.companies}

    @cached_property
    def _contact_by_id(self) -> dict[str, Contact]:
        return {x.id: x for x in self.contacts}

    @cached_property
    def _deal_by_id(self) -> dict[str, Deal]:
        return {x.id: x for x in self.deals}

    def company(self, company_id: str) -> Company:
        """The company with ``company_id``; ``KeyError`` for an unknown id."""
        return self._company_by_id[company_id]

    def contact(self, contact_id: str) -> Contact:
        """The contact with ``contact_id``; ``KeyError`` for an unknown id."""
        return self._contact_by_id[contact_id]

    def deal(self, deal_id: str) -> Deal:
        """The deal with ``deal_id``; ``KeyError`` for an unknown id."""
        return self._deal_by_id[deal_id]


@dataclass(frozen=True)
class _ContactDraft:
    index: int
    id: str
    email: str
    first_name: str
    last_name: str
    company_index: int
    campaign_index: int
    created_at: datetime
    modified_at: datetime
    stage_draw: float
