"""SIGHUP reloads the configuration: a good one replaces the running one whole (new profiles,
changed ones, other credentials variables) without a failed request; a bad one is refused with
its problems logged and the running one goes on serving.

Through a real nginx with kept connections; signatures checked with the SDK oracle.
"""

from __future__ import annotations

import json
import os
import signal
import threading
import time

import helpers
import oracle
from harness.stack import start_stack
from helpers import AKID, SECRET, log_events

ALT_ID, ALT_SECRET = "LTAI5tReloadAlternateKey9", "reload-alternate-secret-5e5e5e5e5e"


def config_with(directory, **profiles):
    base = helpers.standard_profiles()
    base.update(profiles)
    return helpers.write_config(directory, profiles=base)


def get(stack, profile: str, user: str = "reload-user"):
    return stack.request("GET", f"/upload/policy?profile={profile}&filename=a.png&contentType=image/png",
                         user=user)


def wait_until(predicate, what: str, timeout: float = 5.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.02)
    raise AssertionError(f"not within {timeout}s: {what}")


def env_with_alt():
    return helpers.cred_env(RELOAD_ALT_ID=ALT_ID, RELOAD_ALT_SECRET=ALT_SECRET)


def test_sighup_applies_a_new_configuration(nginx_bin, tmp_path):
    config = config_with(tmp_path)
    stack = start_stack(config, env=env_with_alt())
    try:
        assert get(stack, "extra").status_code == 404
        # A new profile, on another bucket, signing with other variables (a new credentials store).
        config_with(tmp_path, extra=helpers.profile(
            bucket="reload-bucket", endpoint="https://reload-bucket.oss-cn-hangzhou.aliyuncs.com",
            format="native", signature="v1", key="r/{user}/{uuid}{ext}", credentials=None,
            access_key_id_env="RELOAD_ALT_ID", secret_env="RELOAD_ALT_SECRET"))
        os.kill(stack.worker.pid, signal.SIGHUP)
        wait_until(lambda: get(stack, "extra").status_code == 200, "the new profile answers")
        body = get(stack, "extra").json()
        fields = body["fields"]
        assert body["url"] == "https://reload-bucket.oss-cn-hangzhou.aliyuncs.com"
        assert fields["OSSAccessKeyId"] == ALT_ID
        assert fields["Signature"] == oracle.v1_signature(ALT_SECRET, fields["policy"])
        # The profiles that were there keep signing with their own key.
        photo = get(stack, "photo").json()["fields"]
        assert photo["OSSAccessKeyId"] == AKID
        assert photo["Signature"] == oracle.v1_signature(SECRET, photo["policy"])
        msgs = [e.get("msg") for e in log_events(stack.worker)]
        assert "configuration reloaded" in msgs, msgs[-10:]
    finally:
        stack.close()


def test_a_bad_configuration_is_refused_and_the_running_one_stays(nginx_bin, tmp_path):
    config = config_with(tmp_path)
    stack = start_stack(config)
    try:
        assert get(stack, "photo").status_code == 200
        config.write_text(config.read_text() + "\n[profiles.broken]\nbucket = \"NO\"\nthreads = 3\n")
        os.kill(stack.worker.pid, signal.SIGHUP)
        wait_until(lambda: any(e.get("msg") == "configuration reload refused; the running configuration stays"
                               for e in log_events(stack.worker)), "the refusal is logged")
        refused = [e for e in log_events(stack.worker)
                   if e.get("msg") == "configuration reload refused; the running configuration stays"]
        assert {e.get("config.field") for e in refused} >= {"profiles.broken.bucket", "profiles.broken.threads"}, refused
        for _ in range(20):
            r = get(stack, "photo")
            assert r.status_code == 200, r.text
            f = r.json()["fields"]
            assert f["OSSAccessKeyId"] == AKID and f["Signature"] == oracle.v1_signature(SECRET, f["policy"])
        assert get(stack, "broken").status_code == 404
        assert stack.worker.alive(), stack.worker.describe()
    finally:
        stack.close()


def test_toml_that_aborts_the_parser_is_refused_and_the_worker_lives(nginx_bin, tmp_path):
    """`[+a]` makes TOMLKit's parser (toml++) fail an assert and abort its process: the reload
    parses new text in a child first, so only the child dies."""
    config = config_with(tmp_path)
    stack = start_stack(config)
    try:
        assert get(stack, "photo").status_code == 200
        good = config.read_text()
        config.write_text(good + "\n[+a]\n")
        os.kill(stack.worker.pid, signal.SIGHUP)
        wait_until(lambda: any(e.get("msg") == "configuration reload refused; the running configuration stays"
                               for e in log_events(stack.worker)), "the refusal is logged")
        refused = [e for e in log_events(stack.worker)
                   if e.get("msg") == "configuration reload refused; the running configuration stays"]
        assert refused[0]["config.field"] == "file" and "not valid TOML" in refused[0]["config.problem"], refused
        assert stack.worker.alive(), stack.worker.describe()
        for _ in range(5):
            assert get(stack, "photo").status_code == 200
        config.write_text(good)   # and a good one after it still applies
        os.kill(stack.worker.pid, signal.SIGHUP)
        wait_until(lambda: any(e.get("msg") == "configuration reloaded" for e in log_events(stack.worker)), "reloaded")
    finally:
        stack.close()


def test_reloads_under_load_fail_no_request(nginx_bin, tmp_path):
    """Four clients keep asking while the configuration flips between two versions ten times:
    every answer is a 200 signed by one whole configuration (old or new), never a mix."""
    a = config_with(tmp_path).read_text()
    b = config_with(tmp_path, photo=helpers.profile(
        bucket="photo-bucket-two", region="cn-shanghai", endpoint="https://photo-bucket-two.oss-cn-shanghai.aliyuncs.com",
        key="photos/{user}/{uuid}{ext}", format="native", min_size=1, max_size=10485760)).read_text()
    config = tmp_path / "upsign.toml"
    config.write_text(a)
    stack = start_stack(config)
    stop = threading.Event()
    failures: list[str] = []
    buckets: set[str] = set()
    counts = [0]

    def client(n: int):
        import http.client
        conn = http.client.HTTPConnection("127.0.0.1", stack.nginx.port, timeout=10)
        while not stop.is_set():
            try:
                conn.request("GET", "/upload/policy?profile=photo&filename=a.png&contentType=image/png",
                             headers={"X-Test-User": f"load{n}"})
                r = conn.getresponse()
                body = r.read()
            except (http.client.HTTPException, OSError) as e:
                failures.append(f"client {n}: {e!r}")
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", stack.nginx.port, timeout=10)
                continue
            counts[0] += 1
            if r.status != 200:
                failures.append(f"{r.status}: {body[:200]!r}")
                continue
            answer = json.loads(body)
            f = answer["fields"]
            policy = oracle.decode_policy(f["policy"])
            bucket = next(c["bucket"] for c in policy["conditions"] if isinstance(c, dict) and "bucket" in c)
            # One whole configuration: the policy's bucket is the one of the answer's url.
            if not answer["url"].startswith(f"https://{bucket}."):
                failures.append(f"mixed answer: url {answer['url']} with bucket {bucket}")
            buckets.add(bucket)
        conn.close()

    threads = [threading.Thread(target=client, args=(n,)) for n in range(4)]
    try:
        for t in threads:
            t.start()
        for i in range(10):
            time.sleep(0.25)
            config.write_text(b if i % 2 == 0 else a)
            os.kill(stack.worker.pid, signal.SIGHUP)
        time.sleep(0.3)
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=15)
        stack.close()
    assert not failures, f"{len(failures)} failed of {counts[0]}: {failures[:5]}"
    assert counts[0] > 100, counts[0]
    assert buckets == {"photo-bucket", "photo-bucket-two"}, buckets
