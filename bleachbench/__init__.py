"""bleachbench's namespace: the ``datasets``, ``detectors`` and ``methods`` folders are installed
as ``bleachbench.datasets``, ``bleachbench.detectors`` and ``bleachbench.methods`` (pyproject.toml,
``package-dir``), so that Hugging Face's ``datasets`` (or any other top-level package with one of
those names) can live in the same environment. The harness itself is the top-level ``bench``
package (``python -m bench``)."""

import os as _os

# Run from a source checkout that was never installed (the GPU machine's own python3, a
# `PYTHONPATH=.` run): the three folders sit beside this one, so they are found here too.
# An installed wheel has them inside this folder and no pyproject.toml beside it.
_checkout = _os.path.dirname(_os.path.dirname(_os.path.abspath(__file__)))
if _os.path.isfile(_os.path.join(_checkout, "pyproject.toml")) and all(
    _os.path.isfile(_os.path.join(_checkout, name, "__init__.py"))
    for name in ("datasets", "detectors", "methods")
):
    __path__.append(_checkout)  # noqa: F821 - the package's own search path
