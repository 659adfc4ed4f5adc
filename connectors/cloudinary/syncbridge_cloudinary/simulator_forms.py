"""Read Upload API form bodies: urlencoded (httpx) or multipart (the official SDK via urllib3).

Parsed with the standard library (``urllib.parse`` and the ``email`` package) so the simulator
needs no multipart dependency. ``name[]`` fields collect into lists under ``name``; any other
field given twice makes the body invalid.
"""

from __future__ import annotations

from email.parser import BytesParser
from email.policy import HTTP
from urllib.parse import parse_qsl

FormValue = str | list[str]


def _collect(pairs: list[tuple[str, str]]) -> dict[str, FormValue]:
    out: dict[str, FormValue] = {}
    for name, value in pairs:
        if name.endswith("[]"):
            bucket = out.setdefault(name[:-2], [])
            if not isinstance(bucket, list):
                raise ValueError(f"field {name[:-2]} given both as a list and a value")
            bucket.append(value)
        elif name in out:
            # A field given twice would otherwise be read as one of its values, silently.
            raise ValueError(f"field {name} given more than once")
        else:
            out[name] = value
    return out


def _multipart_pairs(content_type: str, body: bytes) -> list[tuple[str, str]]:
    message = BytesParser(policy=HTTP).parsebytes(
        b"Content-Type: " + content_type.encode("latin-1") + b"\r\n\r\n" + body
    )
    if not message.is_multipart():
        raise ValueError("multipart body without parts")
    pairs = []
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        payload = part.get_payload(decode=True)
        if not isinstance(name, str) or not isinstance(payload, bytes):
            raise ValueError("multipart part without a name or a payload")
        pairs.append((name, payload.decode("utf-8")))
    return pairs


def parse_form(content_type: str, body: bytes) -> dict[str, FormValue]:
    """The fields of a POST body; raises ValueError on a body that is neither form type."""
    kind = content_type.split(";", 1)[0].strip().lower()
    if kind == "application/x-www-form-urlencoded" or (not kind and not body):
        return _collect(parse_qsl(body.decode("utf-8"), keep_blank_values=True))
    if kind == "multipart/form-data":
        return _collect(_multipart_pairs(content_type, body))
    raise ValueError(f"unsupported content type: {kind or 'none'}")


__all__ = ["FormValue", "parse_form"]
