"""A sphinx-gallery image scraper for the Figures that softmaxkit.plot returns."""

from __future__ import annotations

import weakref

_scraped: weakref.WeakSet = weakref.WeakSet()


def returned_figures(block, block_vars, gallery_conf):
    """Picture the matplotlib Figures an example holds in its variables.

    ``softmaxkit.plot`` returns ``matplotlib.figure.Figure`` objects that pyplot does not
    know, so sphinx-gallery's own scraper (which asks pyplot) cannot see them; the examples
    just write ``fig = temperature_sweep(...)``, as a user would.
    """
    from matplotlib.figure import Figure
    from sphinx_gallery.scrapers import figure_rst

    figures = [
        value
        for value in block_vars["example_globals"].values()
        if isinstance(value, Figure) and value not in _scraped
    ]
    paths = []
    for figure, path in zip(figures, block_vars["image_path_iterator"]):
        figure.savefig(path, dpi=100)
        _scraped.add(figure)
        paths.append(path)
    return figure_rst(paths, gallery_conf["src_dir"])
