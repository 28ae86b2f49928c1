"""exportspec: compile, validate and run Bloomreach Engagement customer-export specs.

Kept import-light on purpose: `exportspec --version` must not pay for jsonschema,
jinja2 or requests.
"""

from __future__ import annotations

__version__ = "0.1.0"
__all__ = ["__version__"]
