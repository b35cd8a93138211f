"""The softmax explorer: an interactive page that shows softmax step by step.

The page (``index.html``, ``explorer.js``, ``explorer.css``) computes softmax in
the browser with the same edge-case policy as :func:`softmaxkit.softmax` and
draws with plain SVG: no library, no network. :mod:`.server` serves it on
127.0.0.1 and :mod:`.page` writes it as one self-contained HTML file; the
``softmaxkit explore`` command uses both.

This package imports only the standard library, and ``import softmaxkit``
does not import it.
"""
