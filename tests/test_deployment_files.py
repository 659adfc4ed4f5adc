"""docker-compose.yml and .env.example have the shape the README's "Deployment" describes:
PostgreSQL with a healthcheck and a named volume, a one-shot migrate, one API, two workers,
all built from the Dockerfile with the same settings, and no secret written into the file.

No Docker is needed: the files are read as YAML and checked here. Each check is a function
returning the problems it found, so the suite also shows that a broken file is caught."""

from __future__ import annotations

import copy
import json
import re
import shlex
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import typer
import yaml

from syncbridge.cli import app

ROOT = Path(__file__).resolve().parent.parent
COMPOSE = ROOT / "docker-compose.yml"
ENV_EXAMPLE = ROOT / ".env.example"

#: Environment keys whose value is a secret: only a ${...} reference may stand there.
SECRET_NAME = re.compile(r"PASSWORD|SECRET|TOKEN|(?:^|_)KEY(?:$|_)")
#: A compose interpolation: ${NAME}, ${NAME:-default}, ${NAME:?error}, ... ($$ escapes a $).
REFERENCE = re.compile(r"\$\{[^}]*\}")
REFERENCED_NAME = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)|\$([A-Za-z_][A-Za-z0-9_]*)")


def load_compose() -> dict[str, Any]:
    doc = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))
    assert isinstance(doc, dict)
    return doc


def command_of(service: dict[str, Any]) -> list[str]:
    command = service.get("command", [])
    return shlex.split(command) if isinstance(command, str) else [str(c) for c in command]


def environment_of(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):  # the `- KEY=value` form
        return dict(item.split("=", 1) if "=" in item else (item, "") for item in env)
    return {str(k): "" if v is None else str(v) for k, v in env.items()}


def syncbridge_services(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The services built from this repository (the others are third-party images)."""
    return {name: svc for name, svc in doc["services"].items() if "build" in svc}


def role_services(doc: dict[str, Any], role: str) -> dict[str, dict[str, Any]]:
    return {
        name: svc for name, svc in syncbridge_services(doc).items() if command_of(svc)[:1] == [role]
    }


def processes(service: dict[str, Any]) -> int:
    return int((service.get("deploy") or {}).get("replicas", 1))


def referenced_names(text: str) -> set[str]:
    text = text.replace("$$", "")
    return {a or b for a, b in REFERENCED_NAME.findall(text)}


def strings_in(node: object) -> list[str]:
    """Every string value in a parsed document (compose interpolates values, not keys)."""
    if isinstance(node, dict):
        return [s for value in node.values() for s in strings_in(value)]
    if isinstance(node, list):
        return [s for value in node for s in strings_in(value)]
    return [node] if isinstance(node, str) else []


def masked(value: str) -> str:
    """``value`` with its i-th ${...} reference replaced by ``REFi`` (so it parses as a URL)."""
    count = iter(range(1 << 16))
    return REFERENCE.sub(lambda _m: f"REF{next(count)}", value)


def hard_coded_secrets(doc: dict[str, Any]) -> list[str]:
    """Environment values of every service that hold a secret written into the file."""
    problems = []
    for name, svc in doc["services"].items():
        for key, value in environment_of(svc).items():
            # Anything but ${...} references left in a secret's value is written in the file.
            if SECRET_NAME.search(key) and REFERENCE.sub("", value).strip():
                problems.append(f"{name}: {key} holds a value, not only a ${{...}} reference")
            # A URL's password, too (a database URL): it must be a reference.
            if "://" in value:
                password = urlsplit(masked(value)).password
                if password is not None and not re.fullmatch(r"REF\d+", password):
                    problems.append(f"{name}: {key} has a password written into its URL")
    return problems


def depends_on(service: dict[str, Any]) -> dict[str, str]:
    deps = service.get("depends_on") or {}
    if isinstance(deps, list):  # the short form waits for nothing but the start
        return dict.fromkeys(deps, "service_started")
    return {k: (v or {}).get("condition", "service_started") for k, v in deps.items()}


def compose_problems(doc: dict[str, Any]) -> list[str]:
    problems: list[str] = []
    services: dict[str, dict[str, Any]] = doc.get("services") or {}

    # PostgreSQL: the official image, its data on a named volume, a pg_isready healthcheck.
    postgres = services.get("postgres")
    if postgres is None:
        return ["no `postgres` service"]
    if not str(postgres.get("image", "")).startswith("postgres:"):
        problems.append("postgres: not the official postgres image")
    named_volumes = set(doc.get("volumes") or {})
    mounts = [str(v).split(":", 1) for v in postgres.get("volumes", [])]
    if not any(len(m) == 2 and m[0] in named_volumes for m in mounts):
        problems.append("postgres: its data is not on a named volume")
    if "pg_isready" not in json.dumps((postgres.get("healthcheck") or {}).get("test")):
        problems.append("postgres: no pg_isready healthcheck")

    ours = syncbridge_services(doc)
    builds = {json.dumps(svc["build"], sort_keys=True) for svc in ours.values()}
    images = {svc.get("image") for svc in ours.values()}
    if builds != {'"."'} or len(images) != 1:
        problems.append(f"syncbridge services are not all one image built from `.`: {builds}")
    for name, svc in ours.items():
        env = environment_of(svc)
        url = env.get("SYNCBRIDGE_DATABASE_URL", "")
        parsed = urlsplit(masked(url))
        if not (parsed.scheme.startswith("postgres") and parsed.hostname == "postgres"):
            problems.append(f"{name}: SYNCBRIDGE_DATABASE_URL is not the postgres service")
        if env.get("SYNCBRIDGE_ENVIRONMENT") != "production":
            problems.append(f"{name}: SYNCBRIDGE_ENVIRONMENT is not production")
        for key in ("SYNCBRIDGE_SECRET_KEY", "SYNCBRIDGE_PUBLIC_URL"):
            if not REFERENCE.fullmatch(env.get(key, "")):
                problems.append(f"{name}: {key} is not taken from the environment")

    migrates, apis = role_services(doc, "migrate"), role_services(doc, "serve")
    workers = role_services(doc, "worker")
    if len(migrates) != 1 or len(apis) != 1:
        problems.append(f"want one migrate and one API service: {sorted(migrates)} {sorted(apis)}")
    if sum(processes(svc) for svc in workers.values()) != 2:
        problems.append(f"want two worker processes: {sorted(workers)}")
    for name, svc in migrates.items():
        if depends_on(svc).get("postgres") != "service_healthy":
            problems.append(f"{name}: does not wait for postgres to be healthy")
        if str(svc.get("restart", "no")) != "no":
            problems.append(f"{name}: a one-shot service must not restart")
    for name, svc in {**apis, **workers}.items():
        if any(depends_on(svc).get(m) != "service_completed_successfully" for m in migrates):
            problems.append(f"{name}: does not wait for the migration to complete successfully")
    for name, svc in apis.items():
        args = command_of(svc)
        if "--host" not in args or args[args.index("--host") + 1 :][:1] != ["0.0.0.0"]:
            problems.append(f"{name}: serve is not bound to 0.0.0.0")
        if not any(str(p).endswith(":8000") or str(p) == "8000" for p in svc.get("ports", [])):
            problems.append(f"{name}: port 8000 is not published")
        test = (svc.get("healthcheck") or {}).get("test") or []
        # The image is python:*-slim: python is there, curl and wget are not.
        if "/healthz" not in json.dumps(test) or "python" not in test[1:2]:
            problems.append(f"{name}: no healthcheck on /healthz run with python")
    return problems + hard_coded_secrets(doc)


def parse_env_file(text: str) -> dict[str, str]:
    values = {}
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            key, sep, value = line.partition("=")
            assert sep, f"not KEY=value: {line!r}"
            values[key.strip()] = value.strip()
    return values


def env_example_problems(doc: dict[str, Any], env_text: str) -> list[str]:
    referenced = {name for text in strings_in(doc) for name in referenced_names(text)}
    example = parse_env_file(env_text)
    problems = [f".env.example lacks {name}" for name in sorted(referenced - set(example))]
    problems += [f".env.example has {name}, unused" for name in sorted(set(example) - referenced)]
    # Placeholders only: a secret is left empty (compose then refuses to start until it is set).
    problems += [
        f".env.example holds a value for the secret {key}"
        for key, value in example.items()
        if SECRET_NAME.search(key) and value
    ]
    return problems


def test_the_compose_file_has_the_documented_shape() -> None:
    assert compose_problems(load_compose()) == []


def test_env_example_holds_every_variable_the_compose_file_reads() -> None:
    doc = load_compose()
    assert referenced_names(COMPOSE.read_text(encoding="utf-8")) >= {
        "POSTGRES_PASSWORD",
        "SYNCBRIDGE_SECRET_KEY",
        "SYNCBRIDGE_PUBLIC_URL",
    }
    assert env_example_problems(doc, ENV_EXAMPLE.read_text(encoding="utf-8")) == []


def test_env_is_ignored_by_git_and_docker() -> None:
    for ignore_file in (".gitignore", ".dockerignore"):
        lines = (ROOT / ignore_file).read_text(encoding="utf-8").splitlines()
        assert ".env" in lines, ignore_file


def test_the_commands_are_syncbridge_commands_the_cli_accepts() -> None:
    # The image's entrypoint is `syncbridge`: a service's command is its arguments.
    dockerfile = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    entrypoint = re.search(r"^ENTRYPOINT\s+(\[.*\])\s*$", dockerfile, re.M)
    assert entrypoint is not None
    assert json.loads(entrypoint.group(1)) == ["syncbridge"]
    group: Any = typer.main.get_command(app)
    for name, svc in syncbridge_services(load_compose()).items():
        args = command_of(svc)
        command = group.get_command(group.make_context("syncbridge", args[:1]), args[0])
        assert command is not None, f"{name}: unknown command {args[0]}"
        command.make_context(args[0], args[1:])  # raises on an unknown option or a bad value


def _broken(edit: str) -> dict[str, Any]:
    doc = copy.deepcopy(load_compose())
    services = doc["services"]
    if edit == "secret":
        services["api"]["environment"]["SYNCBRIDGE_SECRET_KEY"] = "x" * 40
    elif edit == "password-in-url":
        services["worker"]["environment"]["SYNCBRIDGE_DATABASE_URL"] = (
            "postgresql://syncbridge:hunter2@postgres:5432/syncbridge"
        )
    elif edit == "one-worker":
        services["worker"]["deploy"]["replicas"] = 1
    elif edit == "api-starts-with-migrate":
        services["api"]["depends_on"]["migrate"]["condition"] = "service_started"
    elif edit == "other-image":
        services["worker"]["build"] = "./other"
    elif edit == "sqlite":
        del services["migrate"]["environment"]["SYNCBRIDGE_DATABASE_URL"]
    elif edit == "curl-healthcheck":
        services["api"]["healthcheck"]["test"] = ["CMD", "curl", "-f", "localhost:8000/healthz"]
    return doc


@pytest.mark.parametrize(
    ("edit", "found"),
    [
        ("secret", "SYNCBRIDGE_SECRET_KEY holds a value"),
        ("password-in-url", "password written into its URL"),
        ("one-worker", "want two worker processes"),
        ("api-starts-with-migrate", "api: does not wait for the migration"),
        ("other-image", "not all one image"),
        ("sqlite", "migrate: SYNCBRIDGE_DATABASE_URL is not the postgres service"),
        ("curl-healthcheck", "no healthcheck on /healthz run with python"),
    ],
)
def test_a_broken_compose_file_is_caught(edit: str, found: str) -> None:
    problems = compose_problems(_broken(edit))
    assert any(found in p for p in problems), problems


def test_an_env_example_missing_a_variable_or_holding_a_secret_is_caught() -> None:
    doc = load_compose()
    text = ENV_EXAMPLE.read_text(encoding="utf-8")
    lacking = "\n".join(ln for ln in text.splitlines() if not ln.startswith("SYNCBRIDGE_PUBLIC"))
    assert env_example_problems(doc, lacking) == [".env.example lacks SYNCBRIDGE_PUBLIC_URL"]
    leaked = text.replace("SYNCBRIDGE_SECRET_KEY=", "SYNCBRIDGE_SECRET_KEY=" + "k" * 40)
    assert env_example_problems(doc, leaked) == [
        ".env.example holds a value for the secret SYNCBRIDGE_SECRET_KEY"
    ]
