"""The browser example (deploy/examples/browser/index.html) in a real browser: headless Chromium,
driven by Selenium through Debian's chromedriver, loads the page from a private nginx (which
serves it as nginx.conf.example does and passes /upload/policy to upsign), picks files, clicks
Upload and waits for the rows. The page posts each file to the Ceph RADOS Gateway (rgw fixture)
cross-origin, as a browser does to a bucket: the bucket gets a CORS rule for nginx's origin.

Screenshots go to $UPSIGN_ARTIFACTS/browser/ (default .build-artifacts/browser/ in the checkout)
and their paths are printed even under -q, so a CI log names them.

Chromium and chromedriver are Debian packages (deploy/install-deps.sh); Selenium comes from
PyPI (requirements.txt) and is pointed at /usr/bin/chromedriver, so it never downloads a driver.
Without them these tests fail, never skip.
"""

from __future__ import annotations

import json
import os
import struct
import subprocess
import time
import zlib
from pathlib import Path

import pytest

import helpers

PAGE = helpers.ROOT / "deploy" / "examples" / "browser" / "index.html"
CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
ARTIFACTS = Path(os.environ.get("UPSIGN_ARTIFACTS") or helpers.ROOT / ".build-artifacts") / "browser"
USER = "browser-user"
MAX_SIZE = 64 * 1024
WAIT_SECONDS = 30

NGINX_CONF = """\
daemon off;
worker_processes 1;
user root;
pid {dir}/nginx.pid;
error_log {dir}/error.log info;
events {{ worker_connections 256; }}
http {{
    include /etc/nginx/mime.types;
    access_log {dir}/access.log;
    client_body_temp_path {dir}/client_body;
    fastcgi_temp_path {dir}/fastcgi;
    proxy_temp_path {dir}/proxy;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;
    upstream upsign {{
        server unix:{sock};
        keepalive 4;
    }}
    server {{
        listen 127.0.0.1:{port};
        # The page, served as nginx.conf.example serves it.
        location = /upload/demo/ {{
            root {page_dir};
            try_files /index.html =404;
        }}
        location = /upload/policy {{
            include /etc/nginx/fastcgi_params;
            fastcgi_param UPSIGN_USER {user};
            fastcgi_keep_conn on;
            fastcgi_pass upsign;
        }}
    }}
}}
"""


def png_bytes(size: int) -> bytes:
    """A PNG signature, random bytes, an IEND trailer: `size` bytes in all."""
    head, tail = b"\x89PNG\r\n\x1a\n", b"IEND\xaeB`\x82"
    return head + os.urandom(size - len(head) - len(tail)) + tail


def real_png(width: int, height: int) -> bytes:
    """A decodable PNG of `width` x `height` grey pixels (for the page's thumbnails)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    rows = b"".join(b"\x00" + b"\x80" * width for _ in range(height))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))


class Site:
    """upsign (unix socket) behind a private nginx that also serves the page."""

    def __init__(self, rgw, tmp: Path):
        self.dir = helpers.scratch_dir("usbrw")
        badkey = self.dir / "bad-credentials.json"
        badkey.write_text(json.dumps({"AccessKeyId": rgw.access_key,
                                      "SecretAccessKey": "not-the-gateway-secret-000000000000"}))
        badkey.chmod(0o600)
        common = {"provider": "s3", "bucket": rgw.bucket, "region": rgw.region,
                  "endpoint": rgw.bucket_url, "key": "browser/{user}/{uuid}{ext}",
                  "min_size": 1, "max_size": MAX_SIZE, "format": "native", "require_user": True}
        profiles = {
            "browser": {**common, "credentials": "env"},
            # The objects are public-read: the page's thumbnails are read back from the store.
            "browser-public": {**common, "credentials": "env", "object_acl": "public-read"},
            # Signs with a secret the gateway does not know: the store itself refuses the form.
            "browser-badkey": {**common, "credentials": str(badkey)},
        }
        config = helpers.write_config(tmp, profiles=profiles)
        sock = self.dir / "upsign.sock"
        env = helpers.clean_env(AWS_ACCESS_KEY_ID=rgw.access_key, AWS_SECRET_ACCESS_KEY=rgw.secret)
        self.worker = helpers.Worker(helpers.serve_argv(config, listen=f"unix:{sock}"), env,
                                     name="browser", log_dir=self.dir)
        self.nginx = None
        try:
            helpers.wait_unix_socket(sock, self.worker)
            self.port = helpers.free_port()
            conf = self.dir / "nginx.conf"
            conf.write_text(NGINX_CONF.format(dir=self.dir, sock=sock, port=self.port,
                                              page_dir=PAGE.parent, user=USER))
            self._out = open(self.dir / "nginx.out", "wb")
            self.nginx = subprocess.Popen(
                ["nginx", "-p", str(self.dir), "-c", str(conf), "-e", str(self.dir / "error.log")],
                stdin=subprocess.DEVNULL, stdout=self._out, stderr=subprocess.STDOUT,
                start_new_session=True)

            def check():
                if self.nginx.poll() is not None:
                    raise AssertionError(f"nginx exited: {self.logs()}")

            helpers.wait_tcp("127.0.0.1", self.port, proc_check=check)
        except BaseException:
            self.stop()
            raise
        self.origin = f"http://127.0.0.1:{self.port}"

    def logs(self) -> str:
        out = []
        for name in ("nginx.out", "error.log", "access.log"):
            p = self.dir / name
            if p.exists():
                out.append(f"--- nginx {name} ---\n" + p.read_text(errors="replace")[-3000:])
        out.append("--- upsign ---\n" + self.worker.log()[-3000:])
        return "\n".join(out)

    def stop(self):
        if self.nginx is not None and self.nginx.poll() is None:
            self.nginx.terminate()
            try:
                self.nginx.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.nginx.kill()
                self.nginx.wait(timeout=10)
        self.worker.stop()


@pytest.fixture(scope="module")
def browser_tools():
    """Chromium, chromedriver and Selenium must be there: missing, the module fails."""
    missing = [p for p in (CHROMIUM, CHROMEDRIVER) if not (os.path.isfile(p) and os.access(p, os.X_OK))]
    if missing:
        pytest.fail(f"{', '.join(missing)} missing: install Debian's chromium and chromium-driver "
                    "(deploy/install-deps.sh)", pytrace=False)
    try:
        import selenium  # noqa: F401
    except ImportError:
        pytest.fail("selenium is not installed (pip install -r Tests/Integration/requirements.txt)",
                    pytrace=False)


@pytest.fixture(scope="module")
def site(nginx_bin, rgw, browser_tools, tmp_path_factory):
    s = Site(rgw, tmp_path_factory.mktemp("browser"))
    # A browser posts to the bucket from the page's origin: the bucket must allow it (the
    # XMLHttpRequest upload listener makes Chromium send a preflight OPTIONS first).
    rgw.client.put_bucket_cors(Bucket=rgw.bucket, CORSConfiguration={"CORSRules": [{
        "AllowedOrigins": [s.origin], "AllowedMethods": ["POST", "GET"],
        "AllowedHeaders": ["*"], "MaxAgeSeconds": 60}]})
    yield s
    try:
        rgw.client.delete_bucket_cors(Bucket=rgw.bucket)
    finally:
        s.stop()


@pytest.fixture(scope="module")
def driver(browser_tools):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile_dir = helpers.scratch_dir("uschr")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--window-size=1280,800", f"--user-data-dir={profile_dir}",
                "--no-first-run", "--no-default-browser-check", "--disable-extensions"):
        options.add_argument(arg)
    service = Service(executable_path=CHROMEDRIVER, log_output=str(profile_dir / "chromedriver.log"))
    d = webdriver.Chrome(service=service, options=options)
    d.set_page_load_timeout(WAIT_SECONDS)
    yield d
    d.quit()


def upload(driver, site, profile: str, paths: list[Path]) -> list:
    """Open the page, choose `paths`, click Upload; the rows once every one is done or in error."""
    from selenium.common.exceptions import TimeoutException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    driver.get(f"{site.origin}/upload/demo/?profile={profile}")
    assert driver.find_element(By.ID, "profile-name").text == profile
    driver.find_element(By.ID, "files").send_keys("\n".join(str(p) for p in paths))
    driver.find_element(By.ID, "upload").click()

    def finished(d):
        rows = d.find_elements(By.CSS_SELECTOR, "#file-rows .file-row")
        states = [r.get_attribute("data-state") for r in rows]
        return rows if len(rows) == len(paths) and all(s in ("done", "error") for s in states) else False

    try:
        return WebDriverWait(driver, WAIT_SECONDS, poll_frequency=0.1).until(finished)
    except TimeoutException:
        rows = driver.find_elements(By.CSS_SELECTOR, "#file-rows .file-row")
        raise AssertionError(f"rows not finished after {WAIT_SECONDS}s: "
                             f"{[(r.get_attribute('data-state'), r.text) for r in rows]}\n{site.logs()}")


def drop(driver, site, profile: str, paths: list[Path]) -> list:
    """Open the page and drop `paths` on it (a DataTransfer holding them, as a drag from the
    desktop delivers); the rows once every one is done or in error."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    driver.get(f"{site.origin}/upload/demo/?profile={profile}")
    driver.execute_script("""
        const input = document.createElement('input');
        input.type = 'file'; input.multiple = true; input.id = 'drag-source';
        document.body.appendChild(input);""")
    driver.find_element(By.ID, "drag-source").send_keys("\n".join(str(p) for p in paths))
    driver.execute_script("""
        const dt = new DataTransfer();
        for (const f of document.getElementById('drag-source').files) dt.items.add(f);
        document.getElementById('drag-source').remove();
        document.body.dispatchEvent(new DragEvent('dragenter', {bubbles: true, cancelable: true, dataTransfer: dt}));
        document.body.dispatchEvent(new DragEvent('dragover', {bubbles: true, cancelable: true, dataTransfer: dt}));
        document.body.dispatchEvent(new DragEvent('drop', {bubbles: true, cancelable: true, dataTransfer: dt}));""")

    def finished(d):
        rows = d.find_elements(By.CSS_SELECTOR, "#file-rows .file-row")
        states = [r.get_attribute("data-state") for r in rows]
        return rows if len(rows) == len(paths) and all(s in ("done", "error") for s in states) else False

    return WebDriverWait(driver, WAIT_SECONDS, poll_frequency=0.1).until(finished)


def loaded_thumbnail(driver, row):
    """The row's thumbnail once the browser has decoded it (its source and natural size)."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    img = row.find_element(By.CSS_SELECTOR, "img.thumb")
    WebDriverWait(driver, WAIT_SECONDS, poll_frequency=0.1).until(
        lambda d: d.execute_script("return arguments[0].complete && arguments[0].naturalWidth > 0", img))
    return img


def screenshot(driver, capsys, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    assert driver.save_screenshot(str(path)), f"no screenshot written to {path}"
    with capsys.disabled():
        print(f"\n[browser] screenshot: {path}", flush=True)
    return path


def keys_under(rgw, prefix: str) -> set[str]:
    pages = rgw.client.get_paginator("list_objects_v2").paginate(Bucket=rgw.bucket, Prefix=prefix)
    return {o["Key"] for page in pages for o in page.get("Contents", [])}


def test_the_page_uploads_files_that_read_back_identical(driver, site, rgw, capsys):
    from selenium.webdriver.common.by import By

    d = helpers.scratch_dir("usbrf")
    files = {d / "holiday photo.png": png_bytes(20 * 1024), d / "small.png": png_bytes(3000)}
    for path, data in files.items():
        path.write_bytes(data)
    t0 = time.monotonic()
    rows = upload(driver, site, "browser", list(files))
    took = time.monotonic() - t0
    shot = screenshot(driver, capsys, "upload-done")

    for row, (path, data) in zip(rows, files.items()):
        state = row.get_attribute("data-state")
        assert state == "done", f"{path.name}: {state}: {row.text}\n{site.logs()}"
        assert row.find_element(By.CSS_SELECTOR, ".name").text == path.name
        key = row.find_element(By.CSS_SELECTOR, ".key").text
        assert key.startswith(f"browser/{USER}/") and key.endswith(".png"), key
        assert row.find_element(By.CSS_SELECTOR, ".size").text == f"{len(data)} bytes"
        assert row.find_element(By.TAG_NAME, "progress").get_attribute("value") == "1"
        assert row.find_element(By.CSS_SELECTOR, "a.link").get_attribute("href") == f"{rgw.bucket_url}/{key}"
        assert rgw.get_object(key) == data, f"{key}: the stored object differs from {path.name}"
        head = rgw.client.head_object(Bucket=rgw.bucket, Key=key)
        assert head["ContentType"] == "image/png", head["ContentType"]
    with capsys.disabled():
        print(f"[browser] {len(files)} files uploaded by Chromium in {took:.1f}s ({shot.name})", flush=True)


def test_a_file_over_max_size_shows_upsigns_refusal_and_stores_nothing(driver, site, rgw, capsys):
    from selenium.webdriver.common.by import By

    path = helpers.scratch_dir("usbrf") / "too big.png"
    path.write_bytes(png_bytes(100 * 1024))
    before = keys_under(rgw, "browser/")
    (row,) = upload(driver, site, "browser", [path])
    screenshot(driver, capsys, "upload-too-large")

    assert row.get_attribute("data-state") == "error", row.text
    error = row.find_element(By.CSS_SELECTOR, ".error").text
    assert "HTTP 400 size_out_of_range" in error, error
    assert not row.find_elements(By.CSS_SELECTOR, ".key"), row.text
    assert keys_under(rgw, "browser/") == before, "an object was stored for a refused file"


def test_a_store_refusal_shows_the_stores_error_code(driver, site, rgw, capsys):
    """upsign signs, the store refuses (a secret it does not know): the page shows the store's
    XML <Code> (RGW: 403 AccessDenied), which only works if the error answer carries CORS too."""
    from selenium.webdriver.common.by import By

    path = helpers.scratch_dir("usbrf") / "refused.png"
    path.write_bytes(png_bytes(4096))
    before = keys_under(rgw, "browser/")
    (row,) = upload(driver, site, "browser-badkey", [path])
    screenshot(driver, capsys, "upload-store-refused")

    assert row.get_attribute("data-state") == "error", row.text
    error = row.find_element(By.CSS_SELECTOR, ".error").text
    assert "the store refused the upload: HTTP 403 AccessDenied" in error, error
    assert keys_under(rgw, "browser/") == before, "an object was stored for a refused form"


def test_dropped_images_upload_and_show_thumbnails_read_back_from_the_store(driver, site, rgw, capsys):
    from selenium.webdriver.common.by import By

    d = helpers.scratch_dir("usbrf")
    files = {d / "dropped one.png": real_png(40, 30), d / "dropped two.png": real_png(12, 9)}
    for path, data in files.items():
        path.write_bytes(data)
    rows = drop(driver, site, "browser-public", list(files))
    for row, (path, data) in zip(rows, files.items()):
        assert row.get_attribute("data-state") == "done", f"{path.name}: {row.text}\n{site.logs()}"
        key = row.find_element(By.CSS_SELECTOR, ".key").text
        assert rgw.get_object(key) == data
        img = loaded_thumbnail(driver, row)
        assert img.get_attribute("data-source") == "store", row.text
        assert img.get_attribute("src") == f"{rgw.bucket_url}/{key}"
        width, height = struct.unpack(">II", data[16:24])
        assert driver.execute_script("return [arguments[0].naturalWidth, arguments[0].naturalHeight]", img) == [width, height]
    screenshot(driver, capsys, "dropped-with-thumbnails")


def test_a_private_object_shows_the_local_file_and_says_why(driver, site, rgw, capsys):
    from selenium.webdriver.common.by import By

    path = helpers.scratch_dir("usbrf") / "private.png"
    path.write_bytes(real_png(20, 20))
    (row,) = upload(driver, site, "browser", [path])
    assert row.get_attribute("data-state") == "done", row.text
    img = loaded_thumbnail(driver, row)
    assert img.get_attribute("data-source") == "local" and img.get_attribute("src").startswith("blob:")
    assert "does not serve this object" in row.find_element(By.CSS_SELECTOR, ".thumb-note").text
    screenshot(driver, capsys, "private-thumbnail")
