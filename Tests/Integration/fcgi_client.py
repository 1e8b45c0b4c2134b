"""The FastCGI client under its old name, for Benchmarks/coldstart.py (which puts this folder on
sys.path). The code lives in harness/fastcgi.py."""

from harness.fastcgi import Connection, Response, encode_params

__all__ = ["Connection", "Response", "encode_params"]
