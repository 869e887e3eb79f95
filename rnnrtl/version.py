"""rnnrtl's version, in a module of its own so that modules inside the package (the writer's
manifest, the report, the CLI) can read it without importing the package facade
(``rnnrtl/__init__.py``), which imports them in turn. pyproject.toml reads it from here."""

__version__ = "0.1.0"
