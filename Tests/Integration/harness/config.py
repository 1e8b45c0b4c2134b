"""upsign configuration files for the tests: TOML text from dicts, a complete profile with the
contract's example values, the standard profiles and server section most tests use."""

from __future__ import annotations

import json
from pathlib import Path


def toml_value(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, str):
        return json.dumps(v)  # a JSON string is a valid TOML basic string for our values
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(toml_value(x) for x in v) + "]"
    raise TypeError(v)


def toml_text(server: dict, profiles: dict) -> str:
    out = ["[server]"]
    out += [f"{k} = {toml_value(v)}" for k, v in server.items()]
    for name, prof in profiles.items():
        out.append("")
        out.append(f"[profiles.{name}]")
        out += [f"{k} = {toml_value(v)}" for k, v in prof.items()]
    return "\n".join(out) + "\n"


def profile(**over) -> dict:
    """A complete profile with the contract's example values, overridden by `over`.
    A value of None removes the field."""
    p = {
        "provider": "aliyun-oss",
        "signature": "v1",
        "bucket": "examplebucket",
        "region": "cn-hangzhou",
        "endpoint": "https://examplebucket.oss-cn-hangzhou.aliyuncs.com",
        "key": "avatars/{user}/{uuid}{ext}",
        "extensions": ["jpg", "jpeg", "png", "webp"],
        "content_types": ["image/jpeg", "image/png", "image/webp"],
        "min_size": 0,
        "max_size": 1048576000,
        "expires_in": 300,
        "format": "java",
        "require_user": True,
        "credentials": "env",
    }
    p.update(over)
    return {k: v for k, v in p.items() if v is not None}


def standard_profiles(credentials: str = "env") -> dict:
    """The profiles most tests use; chosen to exercise every template placeholder and rule."""
    c = {"credentials": credentials}
    return {
        # The classic java endpoint.
        "avatar": profile(**c),
        # Native, content types restricted: the client's contentType, else its extension's type.
        "photo": profile(
            bucket="photo-bucket", region="cn-shanghai",
            endpoint="https://photo-bucket.oss-cn-shanghai.aliyuncs.com",
            key="photos/{user}/{yyyy}/{mm}/{dd}/{uuid}{ext}", format="native",
            min_size=1, max_size=10485760, expires_in=600, **c),
        # Native, any alphanumeric extension, any content type.
        "doc": profile(
            bucket="doc-bucket", endpoint="https://doc-bucket.oss-cn-hangzhou.aliyuncs.com",
            key="docs/{profile}/{hh}/{user}-{uuid}{ext}", extensions=None, content_types=None,
            format="native", min_size=10, max_size=5000000, expires_in=3600, **c),
        # No identity needed (template has no {user}, require_user false).
        "public": profile(
            key="public/{uuid}{ext}", extensions=None, content_types=None, require_user=False,
            expires_in=60, **c),
        # {timestamp}
        "stamp": profile(key="t/{timestamp}/{uuid}{ext}", require_user=False, format="native",
                         extensions=None, content_types=None, **c),
    }


STANDARD_SERVER = {
    "base_path": "/upload",
    "identity_param": "UPSIGN_USER",
    "threads": 16,
    "max_body": 1024,
    "default_profile": "avatar",
    # The tests exercise lifetimes up to the 7 days OSS allows; upsign's default cap is 1 h.
    "max_expires_in": 604800,
}


def write_config(directory: Path, server: dict | None = None, profiles: dict | None = None,
                 name: str = "upsign.toml") -> Path:
    path = Path(directory) / name
    profiles = profiles if profiles is not None else standard_profiles()
    if server is None:
        server = dict(STANDARD_SERVER)
        if server["default_profile"] not in profiles:
            del server["default_profile"]
    path.write_text(toml_text(server, profiles))
    return path


def load_profiles_from(path: Path) -> dict:
    import tomllib
    return tomllib.loads(Path(path).read_text())
