"""Sphinx configuration of softmaxkit's documentation site.

Build from a fresh clone (README.md, "Documentation")::

    pip install torch==2.13.0 && pip install ".[docs]"
    sphinx-build -W --keep-going -b html docs docs/_build/html

Nothing is fetched at build time: no intersphinx inventories, no remote
images, no analytics; the theme's fonts and icons are bundled with it.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

import softmaxkit

sys.path.insert(0, str(Path(__file__).parent / "_ext"))

project = "softmaxkit"
author = "softmaxkit developers"
copyright = "2026, softmaxkit developers"
version = release = softmaxkit.__version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.doctest",
    "numpydoc",
    "myst_parser",
    "sphinx_gallery.gen_gallery",
]

source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
exclude_patterns = ["_build", "dask.md", "scaling.md", "examples/README.rst"]
root_doc = "index"

# API reference: one page per public name, generated from the docstrings.
autosummary_generate = True
autosummary_imported_members = True
autodoc_typehints = "none"  # the numpydoc sections carry the types
autodoc_default_options = {"members": False}
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_xref_param_type = False

# Only the guides' ``.. doctest::`` blocks run in the doctest build; the
# docstrings' examples are run by tests/test_package.py, not twice.
doctest_test_doctest_blocks = ""
doctest_global_setup = "import numpy as np\nimport softmaxkit as sk"

myst_heading_anchors = 3


sphinx_gallery_conf = {
    "examples_dirs": "examples",
    "gallery_dirs": "gallery",
    "filename_pattern": r"/plot_",
    "download_all_examples": False,
    "remove_config_comments": True,
    "matplotlib_animations": False,
    "image_scrapers": ("gallery_scraper.returned_figures",),
    "within_subsection_order": "FileNameSortKey",
    "show_signature": False,
}

html_theme = "pydata_sphinx_theme"
html_title = f"softmaxkit {version}"
# MathJax from the django-static-mathjax wheel (a plain copy of MathJax 3, no dependencies),
# served from _static: Sphinx's default loads it from a CDN when a reader opens a page.
_mathjax = Path(importlib.util.find_spec("mathjax").submodule_search_locations[0]) / "static/mathjax/es5"
html_static_path = ["_static", str(_mathjax)]
mathjax_path = "tex-mml-chtml.js"
html_show_sourcelink = False
html_favicon = "_static/softmaxkit-icon.svg"
html_logo = "_static/softmaxkit-icon.svg"
html_theme_options = {
    "logo": {"text": "softmaxkit"},
    "navbar_end": ["version-switcher-placeholder", "theme-switcher", "navbar-icon-links"],
    "navbar_persistent": ["search-button"],
    "show_version_warning_banner": False,
    "footer_start": ["copyright"],
    "footer_end": ["sphinx-version"],
    "secondary_sidebar_items": ["page-toc"],
}
html_context = {"default_mode": "light"}
html_sidebars = {"gallery/index": []}
templates_path = ["_templates"]

# Matplotlib draws with Agg and the bundled DejaVu fonts: the same pictures on any machine.
os.environ.setdefault("MPLBACKEND", "Agg")
