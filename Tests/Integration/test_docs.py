"""The documentation's snippets run: every ```toml block in README.md and docs/ passes
`upsign check-config`, every ```nginx block passes `nginx -t` inside a generated wrapper, and
every command of docs/getting-started.md's "Try it" part runs against the demo
(`deploy/demo.sh local`).
A doc that drifts from the code fails here.

Conventions the docs follow so that blocks can be checked:
  * a ```toml block is a whole configuration, or a part of one: a block without a profile gets
    a minimal one, a block with a profile callback and no binding secret gets one, and absolute
    paths under /etc/upsign/ and /var/lib/upsign/ are mapped into a scratch folder holding
    plausible files (secrets, credentials, keys, certificates);
  * a ```nginx block is a whole nginx.conf (it has `http {`), a server block, or locations; the
    wrapper adds what such a block refers to but cannot define itself (the upstreams `upsign`,
    `app` and `php`, the `upsign_policy` request zone, the `@upsign_*` error locations); its
    top-level upstreams, zones, maps and server blocks go in http {}, the rest in a server {};
  * a snippet that is not meant to run is fenced as ```text.
"""

from __future__ import annotations

import re
import secrets
import subprocess
from pathlib import Path

import pytest

import helpers
import oss_callback_sim as sim
import pki

ROOT = helpers.ROOT
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
FENCE = re.compile(r"^```(\w+)[^\n]*\n(.*?)^```", re.M | re.S)


def blocks(kind: str) -> list[tuple[str, str]]:
    """(`file:line`, text) of every fenced block of `kind` in the docs."""
    out = []
    for doc in DOCS:
        text = doc.read_text()
        for m in FENCE.finditer(text):
            if m.group(1) == kind:
                line = text.count("\n", 0, m.start()) + 1
                out.append((f"{doc.relative_to(ROOT)}:{line}", m.group(2)))
    return out


def test_the_docs_have_blocks_to_check():
    """A guard against a fence pattern that matches nothing (then every test below would pass)."""
    assert len(blocks("toml")) >= 3 and len(blocks("nginx")) >= 2, (len(blocks("toml")), len(blocks("nginx")))
    assert (ROOT / "docs" / "getting-started.md").exists()


def test_the_readme_is_short_and_links_every_doc():
    readme = (ROOT / "README.md").read_text()
    assert len(readme.encode()) <= 10 * 1024, f"README.md is {len(readme.encode())} bytes"
    for doc in sorted((ROOT / "docs").glob("*.md")):
        assert f"docs/{doc.name}" in readme, f"README.md's index does not link docs/{doc.name}"


# --------------------------------------------------------------------------------------------
# TOML


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> Path:
    """A scratch folder standing for /etc/upsign and /var/lib/upsign, with plausible files."""
    d = tmp_path_factory.mktemp("docfiles")
    (d / "var").mkdir()
    return d


def plausible_file(path: Path) -> None:
    """Creates `path` as what its name says it is, unless it exists."""
    if path.exists():
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    name = path.name
    if name.endswith(".jsonl"):
        return                                   # a records file: its folder exists
    if name.endswith(".json"):
        path.write_text('{"AccessKeyId":"LTAI5tDocsExample0000000","AccessKeySecret":"docs-example-secret-000000000000"}')
    elif name.endswith(".pem") and "ca" in name:
        pki.CA("docs test CA").write(path)
    elif name.endswith(".pem"):
        path.write_bytes(sim.public_pem(sim.new_key(1024)))
    else:                                        # a secret: the binding key and the like
        path.write_text(secrets.token_hex(32) + "\n")
    path.chmod(0o600)


def runnable_toml(text: str, files: Path) -> str:
    """The block as a whole configuration whose files exist."""
    def mapped(m: re.Match) -> str:
        target = files / m.group(1).lstrip("/")
        plausible_file(target)
        return f'"{target}"'
    text = re.sub(r'"(/(?:etc/upsign|var/lib/upsign|run/upsign)/[^"]*)"', mapped, text)
    if not re.search(r"^\[profiles\.[^.\]]+\]", text, re.M):
        if re.search(r"^\[profiles\.([^.\]]+)\.callback\]", text, re.M):
            name = re.search(r"^\[profiles\.([^.\]]+)\.callback\]", text, re.M).group(1)
            text = f'[profiles.{name}]\nbucket = "examplebucket"\nregion = "cn-hangzhou"\n\n' + text
        else:
            text += '\n[profiles.docs]\nbucket = "examplebucket"\nregion = "cn-hangzhou"\n'
    if re.search(r"^\[profiles\.[^\]]+\.callback\]", text, re.M) and "binding_secret" not in text:
        secret = files / "etc" / "upsign" / "callback-binding.key"
        plausible_file(secret)
        line = f'binding_secret = "{secret}"\n'
        text = re.sub(r"^\[callback\]\n", "[callback]\n" + line, text, flags=re.M) if re.search(r"^\[callback\]", text, re.M) \
            else text + "\n[callback]\n" + line
    return text


@pytest.mark.parametrize("where,text", blocks("toml"), ids=[w for w, _ in blocks("toml")])
def test_every_toml_block_passes_check_config(where, text, files):
    cfg = files / (re.sub(r"\W", "_", where) + ".toml")
    cfg.write_text(runnable_toml(text, files))
    env = helpers.cred_env(token=True)
    for var in ("AWS_ACCESS_KEY_ID", "TENCENTCLOUD_SECRET_ID", "OBS_ACCESS_KEY_ID", "QINIU_ACCESS_KEY", "GCS_HMAC_ACCESS_ID"):
        env[var] = "DOCSEXAMPLEKEY0000000"
    for var in ("AWS_SECRET_ACCESS_KEY", "TENCENTCLOUD_SECRET_KEY", "OBS_SECRET_ACCESS_KEY", "QINIU_SECRET_KEY", "GCS_HMAC_SECRET"):
        env[var] = "docs-example-secret-000000000000"
    r = helpers.run_cli(["check-config", "--config", str(cfg)], env=env)
    assert r.returncode == 0, f"{where}: check-config exit {r.returncode}\n{r.stdout}{r.stderr}\n--- checked:\n{cfg.read_text()}"


# --------------------------------------------------------------------------------------------
# nginx


STUBS = {
    "upstream upsign": "upstream upsign { server unix:{dir}/upsign.sock; keepalive 8; }",
    "upstream app": "upstream app { server 127.0.0.1:9; }",
    "upstream php": "upstream php { server unix:{dir}/php.sock; }",
    "zone=upsign_policy": "limit_req_zone $binary_remote_addr zone=upsign_policy:1m rate=10r/s;",
}


HTTP_LEVEL = ("upstream", "limit_req_zone", "limit_conn_zone", "map", "split_clients", "geo", "log_format", "proxy_cache_path", "server")


def split_levels(text: str) -> tuple[str, str]:
    """A block's top-level statements for http {} (upstreams, zones, maps, server blocks) and
    for server {} (locations and the rest), each with its nested lines."""
    http, server = [], []
    depth = 0
    target = server
    for line in text.splitlines():
        code = line.split("#", 1)[0]
        if depth == 0 and code.strip():
            target = http if code.strip().split()[0] in HTTP_LEVEL else server
        (target if depth or code.strip() else server).append(line)
        depth += code.count("{") - code.count("}")
    return "\n".join(http), "\n".join(server)


def wrapped_nginx(text: str, d: Path) -> str:
    """The block inside an nginx.conf that `nginx -t` can check: a whole nginx.conf as it is
    (its user and pid made local), else its http-level statements in http {} and the rest in a
    server {}; listeners become a plain loopback one (certificates are the site's own)."""
    text = text.replace("/run/upsign/", f"{d}/").replace("/etc/nginx/fastcgi_params", helpers.FASTCGI_PARAMS)
    text = re.sub(r"^(\s*)listen\s[^;]*;", r"\1listen 127.0.0.1:9;", text, flags=re.M)
    text = re.sub(r"^\s*ssl_[a-z_]+\s[^;]*;", "", text, flags=re.M)
    if re.search(r"^\s*http\s*\{", text, re.M):
        conf = re.sub(r"^\s*user\s+[^;]+;", "", text, flags=re.M)
        return re.sub(r"^\s*pid\s+[^;]+;", f"pid {d}/nginx.pid;", conf, flags=re.M)
    http_part, server_part = split_levels(text)
    everything = http_part + server_part
    extra = []
    for name in ("upsign", "app", "php"):
        if re.search(rf"(fastcgi_pass|proxy_pass)\s+(http://)?{name}\b", everything) and f"upstream {name} " not in everything:
            extra.append(STUBS[f"upstream {name}"].replace("{dir}", str(d)))
    if "zone=upsign_policy" in everything and "limit_req_zone" not in everything:
        extra.append(STUBS["zone=upsign_policy"])
    named = set(re.findall(r"@(upsign_\w+)", everything)) - set(re.findall(r"location\s+@(upsign_\w+)", everything))
    stubs = "\n".join(f"location @{n} {{ return 502; }}" for n in sorted(named))
    if server_part.strip() or stubs:
        server_part = "server {\nlisten 127.0.0.1:9;\n" + server_part + "\n" + stubs + "\n}"
    return (f"pid {d}/nginx.pid;\nerror_log {d}/error.log;\nevents {{}}\nhttp {{\n"
            f"include /etc/nginx/mime.types;\naccess_log off;\n" + "\n".join(extra) + "\n" + http_part + "\n"
            + server_part + "\n}\n")


@pytest.mark.parametrize("where,text", blocks("nginx"), ids=[w for w, _ in blocks("nginx")])
def test_every_nginx_block_passes_nginx_t(where, text, nginx_bin, tmp_path):
    conf = tmp_path / "nginx.conf"
    conf.write_text(wrapped_nginx(text, tmp_path))
    r = subprocess.run([nginx_bin, "-t", "-q", "-c", str(conf), "-p", str(tmp_path), "-e", str(tmp_path / "error.log")],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, f"{where}: nginx -t failed:\n{r.stderr}\n--- checked:\n{conf.read_text()}"


# --------------------------------------------------------------------------------------------
# curl, against the demo


def try_it_scripts(doc: Path) -> list[str]:
    """The ```sh blocks of `doc`'s "Try it" part (from its "## 1." heading to "## 2."), but the
    one that starts the demo: each runs on its own against the demo."""
    text = doc.read_text()
    start = text.index("\n## 1.")
    part = text[start:text.index("\n## 2.", start)]
    return [m.group(2) for m in FENCE.finditer(part) if m.group(1) == "sh" and "deploy/demo.sh" not in m.group(2)]


def test_every_command_of_getting_started_runs_against_the_demo(nginx_bin, tmp_path):
    doc = ROOT / "docs" / "getting-started.md"
    scripts = try_it_scripts(doc)
    assert sum(s.count("curl ") for s in scripts) >= 5, "docs/getting-started.md lost its curl examples"
    port = helpers.free_port_pair()
    env = helpers.clean_env(UPSIGN_BIN=helpers.UPSIGN_BIN, UPSIGN_SKIP_DEPS="1",
                            UPSIGN_DEMO_DIR=str(tmp_path / "demo"), UPSIGN_DEMO_PORT=str(port))
    demo = ROOT / "deploy" / "demo.sh"
    started = subprocess.run(["bash", str(demo), "local"], env=env, capture_output=True, text=True, timeout=240,
                             stdin=subprocess.DEVNULL)
    try:
        assert started.returncode == 0, started.stdout[-3000:] + started.stderr[-3000:]
        for script in scripts:
            command = script.replace("127.0.0.1:8080", f"127.0.0.1:{port}").replace("localhost:8080", f"127.0.0.1:{port}")
            r = subprocess.run(["bash", "-euo", "pipefail", "-c", command], env=env, capture_output=True, text=True,
                               timeout=60, cwd=tmp_path)
            assert r.returncode == 0, f"{script}\nexit {r.returncode}: {r.stdout[-1500:]}{r.stderr[-1500:]}"
            assert r.stdout.strip(), f"{script}\nprinted nothing"
    finally:
        subprocess.run(["bash", str(demo), "stop"], env=env, capture_output=True, text=True, timeout=120)
