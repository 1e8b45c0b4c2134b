"""The contract's request rules (issue #16, "policy hardening"), modelled once from the contract
and the tables in harness/contract.py for the three differential files: which file names and content
types a profile accepts, the pinned Content-Disposition's download name and Qiniu's mimeLimit."""

from __future__ import annotations

import re
import unicodedata
import urllib.parse

from harness.contract import ACTIVE_TYPES, EXTENSION_TYPES, ext_of, pinned_content_type, type_allowed



def _leading_dot_only(filename: str) -> bool:
    """".png": the only dot starts the name, so there is no stem and no extension."""
    return filename.startswith(".") and filename.count(".") == 1


RULE_FAULTS = ("ext", "no_filename", "ext_required", "ctype", "active")


def settle_expectation(c, prof: dict, fmt: str) -> bool:
    """Sets `c.expect` from the file name / content type rules and the case's own fault. False
    when the case must be drawn again: the rules give two codes (their order is not part of the
    contract), or a rule fault the profile happens to allow is no fault case."""
    codes = rule_errors(prof, fmt, c.filename, c.content_type)
    if c.expect != "ok":
        codes.add(c.expect)
    if len(codes) > 1:
        return False
    if codes:
        c.expect = codes.pop()
        if c.fault == "none":
            c.fault = "rule"
        return True
    return c.fault not in RULE_FAULTS


def rule_errors(prof: dict, fmt: str, filename: str | None, content_type: str | None) -> set[str]:
    """Every error code the file name / content type rules give this request (empty: none).
    `fmt` is the effective format. The contract does not order its checks, so generators keep
    only requests for which this set (plus any other fault) holds at most one code."""
    errs: set[str] = set()
    exts = [e.lower() for e in prof.get("extensions") or []]
    ext = ext_of(filename).lstrip(".")
    if exts:
        if filename is None:
            errs.add("missing_parameter")
        elif not ext or _leading_dot_only(filename):
            errs.add("extension_required")
        elif ext not in exts:
            errs.add("extension_not_allowed")
    elif ext and not re.fullmatch(r"[a-z0-9]+", ext):
        errs.add("extension_not_allowed")     # without a list: any alphanumeric extension
    types = prof.get("content_types") or []
    if content_type is not None:
        if not type_allowed(content_type.lower(), types):
            errs.add("content_type_not_allowed")
    elif types and fmt in ("native", "uppy") and prof.get("provider", "aliyun-oss") != "qiniu":
        # The pinned type is then the extension's; the profile must allow it.
        if not type_allowed(pinned_content_type(None, filename), types):
            errs.add("missing_parameter")
    return errs


def allowed_types(prof: dict) -> list[str]:
    """Concrete, allowed content types a client may send for a profile with content_types:
    its exact entries and, for a family, the passive types the extension table knows in it."""
    out = []
    for t in prof.get("content_types") or []:
        if t.endswith("/"):
            out += sorted({v for v in EXTENSION_TYPES.values() if v.startswith(t)})
        else:
            out.append(t)
    return out


_CD_REPLACED = set('"\\$;')


def download_name(filename: str, ext: str) -> str:
    """The name a pinned Content-Disposition gives: the last path component's stem (cut before
    the vetted extension `ext`, ".png" or ""; without one, the whole name with every "." made
    "_"), control/format characters dropped, `"\\$;` made "_", spaces and dots trimmed, at most
    128 characters with the extension, then the lowercase vetted extension."""
    name = filename.rsplit("/", 1)[-1]
    stem = name[:name.rfind(".")] if ext else name
    stem = "".join(ch for ch in stem if unicodedata.category(ch) not in ("Cc", "Cf"))
    stem = "".join("_" if ch in _CD_REPLACED else ch for ch in stem).strip(" .")
    if not ext:
        stem = stem.replace(".", "_")
    return stem[:128 - len(ext)] + ext


def content_disposition(prof: dict, filename: str | None) -> str | None:
    """The Content-Disposition a native/uppy answer pins (None: the profile pins none)."""
    disp = prof.get("content_disposition")
    if disp is None:
        return None
    if filename is None:
        return disp
    name = download_name(filename, ext_of(filename))
    assert name and re.fullmatch(r"[\x20-\x7e]+", name), \
        f"the model covers printable ASCII names only: {filename!r} -> {name!r}"
    star = urllib.parse.quote(name, safe="!#$&+-.^_`|~")
    return f'{disp}; filename="{name}"; filename*=UTF-8\'\'{star}'


def qiniu_mime_limit(prof: dict, content_type: str | None) -> str:
    """Qiniu's mimeLimit: the client's type; else the profile's types (a family that holds an
    active type becomes the passive types of the extension table in it, any other family
    "F/*"); else "!" and the active types."""
    if content_type is not None:
        return content_type.lower()
    types = prof.get("content_types") or []
    if not types:
        return "!" + ";".join(ACTIVE_TYPES)
    out: list[str] = []
    for t in types:
        t = t.lower()
        if not t.endswith("/"):
            items = [t]
        elif any(a.startswith(t) for a in ACTIVE_TYPES):
            items = sorted({v for v in EXTENSION_TYPES.values() if v.startswith(t)})
        else:
            items = [t + "*"]
        out += [i for i in items if i not in out]
    return ";".join(out)
