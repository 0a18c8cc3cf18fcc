"""Build configuration for the optional C accelerators; everything else is in pyproject.toml.

Both are optional: without a compiler (or OpenSSL's headers, for _mint) the package still
works, on the pure-Python reference implementations, only slower.
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension("mailbeacon.core.instrumentation._scan", sources=["src/mailbeacon/core/instrumentation/_scan.c"], optional=True),
        Extension(
            "mailbeacon.core.instrumentation._mint",
            sources=["src/mailbeacon/core/instrumentation/_mint.c"],
            libraries=["crypto"],
            optional=True,
        ),
    ]
)
