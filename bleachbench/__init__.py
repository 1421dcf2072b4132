"""bleachbench's namespace: the ``datasets``, ``detectors`` and ``methods`` folders are installed
as ``bleachbench.datasets``, ``bleachbench.detectors`` and ``bleachbench.methods`` (pyproject.toml,
``package-dir``), so that Hugging Face's ``datasets`` (or any other top-level package with one of
those names) can live in the same environment. The harness itself is the top-level ``bench``
package (``python -m bench``)."""
