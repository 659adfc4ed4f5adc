"""Regex rules run on RE2: no catastrophic backtracking, unsupported syntax refused with 422."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from syncbridge.mapping.evaluate import RuleSet
from syncbridge.mapping.regex_engine import UnsupportedPattern, compile_pattern
from syncbridge.models import MappingRule
from tests.test_mapping_api import concepts, create, rule_body
from tests.test_mapping_evaluate import EMAIL, SCOPE, SOCIAL, TAXONOMY, keys, rule

__all__ = ["concepts"]  # the fixture, re-used

Headers = dict[str, str]

#: Exponential for a backtracking engine on ``"a" * n + "b"``; linear on RE2.
NESTED = "(a+)+$"
LONG_MISS = "a" * 10_000 + "b"
UNSUPPORTED = [r"(a)\1", "(?=a)", "(?<!a)b", "(?>a)", r"(?P<x>a)(?P=x)"]


@pytest.mark.parametrize("case_sensitive", [True, False])
def test_nested_quantifier_on_a_long_value_completes_with_the_right_answer(
    case_sensitive: bool,
) -> None:
    alone = rule("regex", (NESTED,), case_sensitive=case_sensitive)
    assert keys({"source": LONG_MISS}, alone) == []
    assert keys({"source": "a" * 10_000}, alone) == ["channel:linkedin"]
    # Next to another pattern the rule also goes through the combined screen.
    other = rule("regex", ("^zz",), id="r2", concept_id=SOCIAL.id)
    assert keys({"source": LONG_MISS}, alone, other) == []
    assert keys({"source": [LONG_MISS, "xa"]}, alone, other) == ["channel:linkedin"]


def test_regex_searches_anywhere_and_is_case_insensitive_by_default() -> None:
    assert keys({"source": "paid-LinkedIn-q3"}, rule("regex", ("linked",))) == ["channel:linkedin"]
    strict = rule("regex", ("linked",), case_sensitive=True)
    assert keys({"source": "paid-LinkedIn-q3"}, strict) == []


def test_inline_flags_stay_inside_their_own_rule() -> None:
    rules = [
        rule("regex", (r"(?s)^x.y$",), id="flags"),
        rule("regex", ("^Ab$",), id="strict", concept_id=EMAIL.id, case_sensitive=True),
        rule("regex", ("(?i)^zz",), id="inline", concept_id=SOCIAL.id, case_sensitive=True),
    ]
    assert keys({"source": "x\ny"}, *rules) == ["channel:linkedin"]
    assert keys({"source": "Ab"}, *rules) == ["channel:email"]
    assert keys({"source": "ab"}, *rules) == []  # (?i) of another rule must not leak
    assert keys({"source": "ZZtop"}, *rules) == ["channel:social"]


def test_values_with_lone_surrogates_are_searched_not_fatal() -> None:
    rules = [rule("regex", ("li",)), rule("contains", ("mail",), id="r2", concept_id=EMAIL.id)]
    rules.append(rule("contains", ("soc",), id="r3", concept_id=SOCIAL.id))
    assert keys({"source": "\ud800li"}, *rules) == ["channel:linkedin"]
    assert keys({"source": "e\ud800 mail"}, *rules) == ["channel:email"]


@pytest.mark.parametrize("pattern", UNSUPPORTED)
def test_backtracking_only_syntax_is_refused_by_the_engine(pattern: str) -> None:
    with pytest.raises(UnsupportedPattern, match="not supported by the linear-time regex engine"):
        compile_pattern(pattern, case_sensitive=False)


def test_plain_syntax_errors_are_reported_as_invalid() -> None:
    with pytest.raises(UnsupportedPattern, match="not a valid regular expression"):
        compile_pattern("(unclosed", case_sensitive=True)


def test_a_rule_re2_cannot_compile_is_skipped_and_the_others_still_match() -> None:
    legacy = rule("regex", (r"(a)\1",), id="legacy", match_labels=True)
    plain = rule("regex", ("^zz",), id="plain", concept_id=SOCIAL.id)
    compiled = RuleSet.compile([legacy, plain], TAXONOMY, SCOPE)
    assert compiled.skipped == ("legacy",)
    assert [m.rule_id for m in compiled.evaluate({"source": "zzaa"})] == ["plain"]
    assert compiled.evaluate({"source": "linkedin"}) == []  # not even its labels


def draft_body(pattern: str, record: dict[str, Any] | None = None) -> dict[str, Any]:
    draft = {
        "field_path": "a",
        "operator": "regex",
        "values": [pattern],
        "concept": "channel:email",
    }
    return {"record": record or {"a": "x"}, "connector_key": "hubspot", "draft_rules": [draft]}


@pytest.mark.parametrize("pattern", [r"(a)\1", "(?=a)"])
@pytest.mark.usefixtures("concepts")
async def test_unsupported_patterns_are_422_on_save_and_in_preview(
    client: httpx.AsyncClient, editor: Headers, pattern: str
) -> None:
    body = rule_body(operator="regex", values=[pattern], match_labels=False)
    saved = await client.post("/v1/mappings", json=body, headers=editor)
    assert saved.status_code == 422, saved.text
    [error] = saved.json()["errors"]
    assert error["field"] == "values.0"
    assert error["reason"].startswith("not supported by the linear-time regex engine: ")
    assert (await client.get("/v1/mappings", headers=editor)).json()["total"] == 0

    previewed = await client.post("/v1/mappings/preview", json=draft_body(pattern), headers=editor)
    assert previewed.status_code == 422, previewed.text
    [error] = previewed.json()["errors"]
    assert error["field"] == "draft_rules.0.values.0"
    assert "linear-time regex engine" in error["reason"]


@pytest.mark.usefixtures("concepts")
async def test_preview_of_a_nested_quantifier_on_a_long_value_answers(
    client: httpx.AsyncClient, editor: Headers
) -> None:
    miss = await client.post(
        "/v1/mappings/preview", json=draft_body(NESTED, {"a": LONG_MISS}), headers=editor
    )
    assert miss.status_code == 200, miss.text
    assert miss.json()["matches"] == []
    hit = await client.post(
        "/v1/mappings/preview", json=draft_body(NESTED, {"a": "a" * 10_000}), headers=editor
    )
    assert [m["concept"]["key"] for m in hit.json()["matches"]] == ["channel:email"]


@pytest.mark.usefixtures("concepts")
async def test_a_saved_rule_re2_refuses_does_not_break_preview(
    client: httpx.AsyncClient, editor: Headers, viewer: Headers, session: AsyncSession
) -> None:
    legacy = await create(client, editor, operator="regex", values=["^ab"], match_labels=False)
    await create(client, editor, name="other", values=["lnkd"])
    # As if saved before patterns were checked against RE2.
    await session.execute(
        update(MappingRule)
        .where(MappingRule.id == uuid.UUID(legacy["id"]))
        .values(values=[r"(a)\1"])
    )
    await session.commit()
    body = {
        "record": {"properties": {"utm_source": ["aab", "lnkd"]}},
        "connector_key": "hubspot",
        "stream": "deals",
    }
    response = await client.post("/v1/mappings/preview", json=body, headers=viewer)
    assert response.status_code == 200, response.text
    assert [m["matched_value"] for m in response.json()["matches"]] == ["lnkd"]
