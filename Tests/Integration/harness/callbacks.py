"""The callback tests' configuration under test (test_callback, test_callback_forward): profiles
with callbacks, the config text with its binding secret, OSS's key pairs, the HTTPS key server
(under a test CA) and a stack whose records file the tests read."""

from __future__ import annotations

from pathlib import Path

import oss_callback_sim as sim
import pki
from harness.config import profile, toml_text, toml_value
from harness.processes import scratch_dir

P = profile

# --------------------------------------------------------------------------------------------
# Configuration under test

SERVER = {
    "base_path": "/upload",
    "identity_param": "UPSIGN_USER",
    "threads": 16,
    "max_body": 65536,
    "default_profile": "cb",
    "max_expires_in": 3600,
}

_common = dict(extensions=None, content_types=None, min_size=1, max_size=10485760, expires_in=600)
PROFILES = {
    # native V1, two callback URLs, host, sni, JSON body with the identity and a custom var
    "cb": P(format="native", signature="v1", bucket="cb-bucket",
            endpoint="https://cb-bucket.oss-cn-hangzhou.aliyuncs.com",
            key="uploads/{user}/{uuid}{ext}", **_common),
    # native V4, one URL (a plain string), no host/sni/body_type: the defaults
    "cb4": P(format="native", signature="v4", region="oss-cn-shanghai", bucket="cb4-bucket",
             endpoint="https://cb4-bucket.oss-cn-shanghai.aliyuncs.com",
             key="uploads4/{user}/{uuid}{ext}", **_common),
    # native V1, form-encoded body naming the identity `x:user`, sni explicitly false
    "cbform": P(format="native", signature="v1", bucket="cbf-bucket",
                endpoint="https://cbf-bucket.oss-cn-hangzhou.aliyuncs.com",
                key="forms/{user}/{uuid}{ext}", **_common),
    # Aliyun's sample front end (V4), a callback without x: vars
    "cbapp": P(format="aliyun-appserver", signature="v4", region="cn-beijing", bucket="cba-bucket",
               endpoint="https://cba-bucket.oss-cn-beijing.aliyuncs.com",
               key="appsrv/{user}/{uuid}{ext}", extensions=None, content_types=None),
    # no callback at all
    "plain": P(format="native", signature="v1", bucket="plain-bucket",
               endpoint="https://plain-bucket.oss-cn-hangzhou.aliyuncs.com",
               key="plain/{user}/{uuid}{ext}", **_common),
}

CB_BODY = ('{"bucket":${bucket},"object":${object},"etag":${etag},"size":${size},'
           '"mimeType":${mimeType},"user":${x:user},"album":${x:album}}')
CB4_BODY = ('{"bucket":${bucket},"object":${object},"etag":${etag},"size":${size},'
            '"mimeType":${mimeType},"user":${x:user}}')
FORM_BODY = "bucket=${bucket}&object=${object}&etag=${etag}&size=${size}&mimeType=${mimeType}&x:user=${x:user}"
APP_BODY = "bucket=${bucket}&object=${object}&etag=${etag}&size=${size}&mimeType=${mimeType}"

CALLBACKS = {
    "cb": {"url": ["https://app.example.com/upload/callback?src=oss&b=%2F",
                   "https://backup.example.com/upload/callback"],
           "host": "app.example.com", "body": CB_BODY, "body_type": "application/json", "sni": True},
    "cb4": {"url": "https://app.example.com/upload/callback", "body": CB4_BODY},
    "cbform": {"url": "https://app.example.com/upload/callback?via=form", "host": "app.example.com",
               "body": FORM_BODY, "body_type": "application/x-www-form-urlencoded", "sni": False},
    "cbapp": {"url": "https://app.example.com/upload/callback", "body": APP_BODY,
              "body_type": "application/x-www-form-urlencoded"},
}
XVARS = {"cb": ["user", "album"], "cb4": ["user"], "cbform": ["user"], "cbapp": []}

RESPONSE = ('{"ok":true,"key":"${object}","bucket":"${bucket}","size":"${size}",'
            '"mimeType":"${mimeType}","etag":"${etag}"}')
RECORD_KEYS = {"bucket", "key", "size", "mimeType", "etag", "user", "time"}

KEY_PREFIX_PATH = "/ossk/"       # the allow-listed part of the key server


BINDING_SECRET = "itest-callback-binding-" + "5" * 40


def config_text(*, records: Path | None, prefixes: list[str], public_key_file: str | None = None,
                server: dict = SERVER, profiles: dict = PROFILES, callbacks: dict = CALLBACKS,
                response: str | None = RESPONSE, callback_section: bool = True,
                require_binding: bool = True, ca_file: Path | None = None,
                forward: str | None = None, forward_timeout: float | str | None = None,
                secret_dir: Path | None = None) -> str:
    """The test configuration. Its binding secret is written next to `records` (into
    `secret_dir` when given, which a config without records needs). Stacks whose
    tests send callbacks no policy issued (OSS signature, key fetching) set require_binding
    False; the binding tests keep the default. `records` None writes no `records =` line;
    `forward` / `forward_timeout` (test_callback_forward.py) add those keys after it."""
    tv = toml_value
    text = toml_text(server, profiles)
    for name, cb in callbacks.items():
        text += f"\n[profiles.{name}.callback]\n" + "".join(f"{k} = {tv(v)}\n" for k, v in cb.items())
    if callback_section:
        secret = Path(secret_dir if secret_dir is not None else Path(records).parent) / "binding.key"
        secret.parent.mkdir(parents=True, exist_ok=True)
        secret.write_text(BINDING_SECRET + "\n")
        secret.chmod(0o600)
        text += "\n[callback]\n"
        text += f"binding_secret = {tv(str(secret))}\n"
        if not require_binding:
            text += "require_binding = false\n"
        text += f"public_key_url_prefixes = {tv(prefixes)}\n"
        if ca_file is not None:
            text += f"ca_file = {tv(str(ca_file))}\n"
        if public_key_file is not None:
            text += f"public_key_file = {tv(public_key_file)}\n"
        if records is not None:
            text += f"records = {tv(str(records))}\n"
        if forward is not None:
            text += f"forward = {tv(forward)}\n"
        if forward_timeout is not None:
            text += "forward_timeout = " + (repr(forward_timeout) if isinstance(forward_timeout, float)
                                            else tv(forward_timeout)) + "\n"
        if response is not None:
            text += f"response = {tv(response)}\n"
    import tomllib
    tomllib.loads(text)   # the harness's own TOML must be valid
    return text


# --------------------------------------------------------------------------------------------
# Fixtures: keys, key servers, stacks


class Keys:
    def __init__(self):
        self.main = sim.new_key(1024)      # what the allow-listed key server serves
        self.other = sim.new_key(1024)     # an attacker's key
        self.pinned = sim.new_key(1024)    # the public_key_file stack's key
        self.k512 = sim.new_key(512)       # the size of OSS's real callback key
        self.k2048 = sim.new_key(2048)


def make_key_pki(d: Path) -> dict:
    """The CA upsign trusts for key fetches (callback.ca_file) and the key server's certificate."""
    ca = pki.CA("upsign test CA")
    return {"ca_file": ca.write(d / "ca.pem"), "tls": ca.leaf(d, "keys", pki.LOOPBACK)}


def start_keyserver(keys: Keys, key_pki: dict) -> sim.KeyServer:
    # HTTPS, as upsign fetches every key; its URLs stay http:// as OSS writes them.
    ks = sim.KeyServer(tls=key_pki["tls"])
    ks.ca_file = key_pki["ca_file"]
    pem = sim.public_pem(keys.main)
    ks.add("/ossk/main.pem", pem)
    ks.add("/ossk/cache.pem", pem)
    ks.add("/ossk/cache2.pem", pem)
    ks.add("/ossk/conc.pem", pem)
    ks.add("/ossk/k512.pem", sim.public_pem(keys.k512))
    ks.add("/ossk/k2048.pem", sim.public_pem(keys.k2048))
    ks.add("/ossk/other-served.pem", sim.public_pem(keys.other))
    # outside the allow-listed prefix, serving the attacker's key
    ks.add("/evil/other.pem", sim.public_pem(keys.other))
    ks.add("/osskevil/other.pem", sim.public_pem(keys.other))
    # misbehaving keys, all inside the prefix
    ks.add("/ossk/garbage.pem", b"this is not a PEM public key\n" * 4)
    ks.add("/ossk/empty.pem", b"")
    ks.add("/ossk/big.pem", pem + b"# padding\n" * 7000)              # 70 KB, a valid PEM first
    ks.add("/ossk/endless.pem", sim.endless_route(pem))
    ks.add("/ossk/status500.pem", sim.status_route(500, pem))
    ks.add("/ossk/slow.pem", sim.slow_route(pem, 9.0))
    return ks


def write_stack_config(name: str, keyserver, dead_port, *, with_records: bool = True,
                        **kw) -> tuple[Path, Path | None]:
    """The stack's config in a scratch directory, and its records file (None, and no
    `records =` line, when `with_records` is False: the binding secret then sits in
    `records/` all the same)."""
    d = scratch_dir(f"uscb{name}")
    records = d / "records" / "uploads.jsonl"
    records.parent.mkdir()
    if with_records:
        records.write_bytes(b"")
    else:
        kw.setdefault("secret_dir", records.parent)
        records = None
    prefixes = [keyserver.url(KEY_PREFIX_PATH), f"http://127.0.0.1:{dead_port}{KEY_PREFIX_PATH}"]
    cfg = d / "upsign.toml"
    kw.setdefault("ca_file", getattr(keyserver, "ca_file", None))
    cfg.write_text(config_text(records=records, prefixes=prefixes, **kw))
    return cfg, records


class CbStack:
    def __init__(self, stack, records: Path, cfg: Path):
        self.stack, self.records, self.cfg = stack, records, cfg
        self.port = stack.nginx.port
