"""B5: mapping cost with 10 rules and with 1,000 rules (QUALITY.md: ratio must stay >= 0.5).

Usage: ``python benchmarks/b5_mapping.py [--records N] [--runs R] [--seed S]``. Prints
records/s for each rule count (the median of ``--runs`` runs of ``--records`` records each,
sides alternating) and the ratio (1,000 rules / 10 rules). Synthetic CRM-like records. The
rule mix is the same at both sizes, exactly: every share is a multiple of 10 %, so 10 rules
hold one rule per 10 % and 1,000 rules a hundred (an earlier mix rounded 1-8 % shares up to
one rule each at 10 rules, which made the small set costlier and flattered the ratio).
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
import uuid
from typing import Any

from syncbridge.mapping.evaluate import ConceptView, RuleSet, RuleView, Scope, TaxonomyView

#: Share of each operator in a rule set (the rest of the mix is ``equals``): multiples of
#: 10 %, so both sizes hold exactly the same proportions.
MIX = (("in", 0.20), ("labels", 0.10), ("prefix", 0.10), ("contains", 0.10),
       ("regex", 0.10), ("range", 0.10), ("exists", 0.10))  # fmt: skip
SOURCES = [f"source-{i}" for i in range(3000)]
COUNTRIES = [f"c{i:03d}" for i in range(250)]


def taxonomy(size: int) -> TaxonomyView:
    return TaxonomyView.of(
        [
            ConceptView(
                id=uuid.UUID(int=i + 1),
                key=f"bench:concept-{i:05d}",
                labels=frozenset({f"label {i}", f"alt-{i}"}),
            )
            for i in range(size)
        ]
    )


def operators(count: int) -> list[str]:
    ops: list[str] = []
    for operator, share in MIX:
        ops += [operator] * round(count * share)
    return (ops + ["equals"] * count)[:count]


def rule(i: int, operator: str, rng: random.Random, concepts: int) -> RuleView:
    concept_id = uuid.UUID(int=rng.randrange(concepts) + 1)
    base: dict[str, Any] = {"id": f"r{i:05d}", "version": 1, "connector_key": "hubspot"}
    base.update(concept_id=concept_id, priority=rng.randrange(10, 200))
    if operator == "labels":
        return RuleView(**base, field_path="properties.channel", operator="in", match_labels=True)
    if operator == "in":
        picks = tuple(rng.sample(SOURCES, 3))
        return RuleView(**base, field_path="properties.utm_source", operator="in", values=picks)
    if operator == "prefix":
        value = f"cmp-{rng.randrange(100):02d}"
        return RuleView(**base, field_path="properties.utm_campaign", operator="prefix",
                        values=(value,))  # fmt: skip
    if operator == "contains":
        value = f"promo{rng.randrange(10_000):04d}"
        return RuleView(**base, field_path="properties.utm_campaign", operator="contains",
                        values=(value,))  # fmt: skip
    if operator == "regex":
        value = rf"^deal-{rng.randrange(1000)}\b"
        return RuleView(**base, field_path="properties.dealname", operator="regex",
                        values=(value,))  # fmt: skip
    if operator == "range":
        low = rng.randrange(0, 100_000)
        return RuleView(**base, field_path="properties.amount", operator="range",
                        values=(low, low + 1000))  # fmt: skip
    if operator == "exists":
        return RuleView(**base, field_path=f"properties.flag_{i % 3}", operator="exists")
    path = "tags[*]" if i % 2 else "properties.country"
    pool = SOURCES if path == "tags[*]" else COUNTRIES
    return RuleView(**base, field_path=path, operator="equals", values=(rng.choice(pool),))


def records(count: int, rng: random.Random) -> list[dict[str, Any]]:
    out = []
    for _ in range(count):
        props = {
            "utm_source": rng.choice(SOURCES),
            "utm_campaign": f"cmp-{rng.randrange(1000):03d}-promo{rng.randrange(10_000):04d}",
            "channel": f"Label {rng.randrange(2000)}",
            "dealname": f"Deal-{rng.randrange(5000)} renewal",
            "amount": str(rng.randrange(0, 200_000)),
            "country": rng.choice(COUNTRIES),
            f"flag_{rng.randrange(30)}": "" if rng.random() < 0.5 else "yes",
        }
        out.append({"id": str(rng.randrange(10**9)), "properties": props,
                    "tags": rng.sample(SOURCES, 3)})  # fmt: skip
    return out


def throughput(rule_count: int, sample: list[dict[str, Any]], total: int, seed: int) -> float:
    rng = random.Random(seed)
    tax = taxonomy(2000)
    rules = [rule(i, op, rng, 2000) for i, op in enumerate(operators(rule_count))]
    compiled = RuleSet.compile(rules, tax, Scope("hubspot", "deals"))
    started = time.perf_counter()
    for n in range(total):
        compiled.evaluate(sample[n % len(sample)])
    return total / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=200_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--seed", type=int, default=5)
    args = parser.parse_args()
    sample = records(min(args.records, 10_000), random.Random(args.seed))
    smalls, larges = [], []
    for _ in range(args.runs):
        smalls.append(throughput(10, sample, args.records, args.seed))
        larges.append(throughput(1000, sample, args.records, args.seed))
    small, large = statistics.median(smalls), statistics.median(larges)
    print(f"10 rules:    {small:12,.0f} records/s")  # noqa: T201
    print(f"1000 rules:  {large:12,.0f} records/s")  # noqa: T201
    print(f"ratio:       {large / small:12.2f}  (target >= 0.5)")  # noqa: T201


if __name__ == "__main__":
    main()
