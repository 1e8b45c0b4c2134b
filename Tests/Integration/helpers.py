"""The suite's shared names under one module, as the test files use them (`helpers.X`).

The code lives in the harness: test credentials and environments in harness/credentials.py,
configuration files in harness/config.py, workers, the CLI and the session's record of outputs
in harness/processes.py, the contract's checks of a signed answer in harness/contract.py.
"""

from harness.config import (STANDARD_SERVER, load_profiles_from, profile, standard_profiles, toml_text,
                            toml_value, write_config)
from harness.contract import (ACTIVE_TYPES, ERROR_STATUS, EXPIRATION_RE, EXTENSION_TYPES, UUID4_RE,
                              assert_error_body, assert_http_error, assert_std_headers, check_signed,
                              evaluate_policy, expand_key, ext_of, fmt_expiration, has_condition, is_active_type,
                              ok_json, parse_expiration, parse_iso, pinned_content_type, type_allowed)
from harness.credentials import (AKID, ALL_SECRETS, ALT_AKID, ALT_SECRET, ALT_TOKEN, CRED_ENV_VARS, FILE_AKID,
                                 FILE_SECRET, FILE_TOKEN, SECRET, TOKEN, clean_env, cred_env, secrets_in)
from harness.processes import (CAPTURED_OUTPUT, FASTCGI_PARAMS, LOG_FILES, RESPONSE_BODIES, ROOT, SCRATCH_DIRS,
                               UPSIGN_BIN, Worker, check_config, descriptor_targets, free_port, free_port_pair,
                               listening_unix_socket, log_events, output_lines, record_response, run_cli,
                               scratch_dir, serve_argv, socket_count, wait_log_event, wait_tcp, wait_unix_socket)

__all__ = [
    # harness.config
    "STANDARD_SERVER", "load_profiles_from", "profile", "standard_profiles", "toml_text", "toml_value",
    "write_config",
    # harness.contract
    "ACTIVE_TYPES", "ERROR_STATUS", "EXPIRATION_RE", "EXTENSION_TYPES", "UUID4_RE", "assert_error_body",
    "assert_http_error", "assert_std_headers", "check_signed", "evaluate_policy", "expand_key", "ext_of",
    "fmt_expiration", "has_condition", "is_active_type", "ok_json", "parse_expiration", "parse_iso",
    "pinned_content_type", "type_allowed",
    # harness.credentials
    "AKID", "ALL_SECRETS", "ALT_AKID", "ALT_SECRET", "ALT_TOKEN", "CRED_ENV_VARS", "FILE_AKID", "FILE_SECRET",
    "FILE_TOKEN", "SECRET", "TOKEN", "clean_env", "cred_env", "secrets_in",
    # harness.processes
    "CAPTURED_OUTPUT", "FASTCGI_PARAMS", "LOG_FILES", "RESPONSE_BODIES", "ROOT", "SCRATCH_DIRS", "UPSIGN_BIN",
    "Worker", "check_config", "descriptor_targets", "free_port", "free_port_pair", "listening_unix_socket", "log_events",
    "output_lines", "record_response", "run_cli", "scratch_dir", "serve_argv", "socket_count", "wait_log_event",
    "wait_tcp", "wait_unix_socket",
]
