"""The demo's mapping rules: how the sandbox DAMs' assets land on the default taxonomy.

syncbridge ships no default mapping rules (which fields carry what is each company's own
convention), so the demo brings the rules an admin would write for the sandbox's DAMs: the
asset type from each DAM's type field, and the channel and region from the tags the sandbox
puts on every asset. The default tag rule ranks assets within (asset type, channel) cohorts,
so these rules are also what makes its tiers meaningful.
"""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from syncbridge.mapping.schemas import RuleCreate
from syncbridge.mapping.service import create_rule
from syncbridge.models import MappingRule
from syncbridge.sandbox.world import CHANNELS, REGIONS

__all__ = ["demo_mapping_rules", "load_demo_mapping_rules"]

#: Where each DAM keeps an asset's kind, and which values mean which asset type concept.
TYPE_FIELDS: dict[str, tuple[str, dict[str, list[str]]]] = {
    "bynder": ("type", {"asset:image": ["image"], "asset:video": ["video"],
                        "asset:document": ["document"]}),
    "cloudinary": ("resource_type", {"asset:image": ["image"], "asset:video": ["video"],
                                     "asset:document": ["raw"]}),
    "localfolder": ("extension", {"asset:image": ["jpg", "png", "webp"],
                                  "asset:video": ["mp4", "mov"],
                                  "asset:document": ["pdf", "pptx"]}),
}  # fmt: skip
#: Sandbox channel tags whose concept key is not ``channel:<tag>``.
CHANNEL_CONCEPTS = {"google-search": "channel:paid-search"}


def demo_mapping_rules() -> list[RuleCreate]:
    """The rules, for every sandbox DAM: asset type, channel and region."""
    rules: list[RuleCreate] = []
    for connector, (field, concepts) in TYPE_FIELDS.items():
        for concept, values in concepts.items():
            rules.append(_rule(connector, field, values, concept))
        for channel in CHANNELS:
            concept = CHANNEL_CONCEPTS.get(channel, f"channel:{channel}")
            rules.append(_rule(connector, "tags", [channel], concept))
        for region in REGIONS:
            rules.append(_rule(connector, "tags", [region], f"region:{region}"))
    return rules


def _rule(connector: str, field: str, values: list[str], concept: str) -> RuleCreate:
    return RuleCreate(
        name=f"Demo: {connector} {field} {'/'.join(values)} -> {concept}",
        connector_key=connector,
        field_path=field,
        operator="in",
        values=list(values),
        concept=concept,
    )


async def load_demo_mapping_rules(session: AsyncSession, actor: str) -> int:
    """Create the demo's rules in a store that has no mapping rule yet (a store whose admins
    wrote their own is left alone); returns how many were created. Flushes only."""
    if await session.scalar(select(func.count()).select_from(MappingRule)):
        return 0
    rules = demo_mapping_rules()
    for body in rules:
        await create_rule(session, body, actor)
    return len(rules)
