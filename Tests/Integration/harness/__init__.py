"""The integration suite's harness: what the test files share, so that they hold only tests.

Modules, each named for what it holds:
  credentials the test credentials, the workers' environments, the scan for secrets
  config      upsign configuration files (TOML from dicts, the standard profiles)
  processes   workers, the CLI, scratch folders, waits, the worker's log, descriptors, memory and
              crash lines, and the session's record of outputs for the secret scan
  contract    the independent checks of a signed answer against the interface contract
  http        a raw HTTP/1.1 client (bytes on the wire as written) and the response type of the
              http.client-based clients
  fastcgi     the FastCGI 1.0 record encoder, a responder client and raw-record helpers
  nginx       a private nginx in front of one FastCGI upstream
  stack       one worker behind one nginx, with a keep-alive client (the `stack` fixtures)
  wrk         reading wrk's summary
  measure     the clock window around a request, and printing measurements (never asserted)
  apache      a private Apache httpd (its own ServerRoot, virtual hosts, mod_fcgid's log)
  cgi         a program run as Apache runs CGI (pipes or mod_cgid's socket), its answer parsed
  frontends   lighttpd, Caddy and Apache mod_proxy_fcgi from the shipped examples
  frontend_stack  one worker behind one of them, its request log read through marker requests
  rules       the contract's request rules (file names, content types, download names, mimeLimit)
  differential  the case framework of the three differential files (Case, generators,
              make_case / check_case / run_cases with per-file hooks)
  oss_v4      the check of one OSS V4 answer against the contract's addendum
  hostile     the hostile-input configuration, values and request encoders (test_security)
  verdicts    the checks of a hostile request's answer and OSS's model of a form
  callbacks   the callback tests' configuration, key server and callback stack
  callback_checks  what the callback tests expect, and OSS's side of a callback
  listeners   loopback listeners that misbehave (a first-bytes sniffer, a blackhole)

Beside the package: helpers (the names of credentials, config, processes and contract under one
module, as the test files use them: helpers.X), fcgi_client (harness.fastcgi under its old name,
for Benchmarks/coldstart.py), and the shared modules oracle / oracle_stores (SDK signature
oracles), pki (a test CA), rgw (a Ceph RGW store), oss_callback_sim (OSS's side of a callback),
upload_app (an application server for forwarded callbacks), supervisor (run as a script).
"""
