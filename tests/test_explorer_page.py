"""The explorer page's files, its URL fragment and the self-contained export (no browser)."""

from __future__ import annotations

import base64
import hashlib
import html
import re
import subprocess
import sys

import pytest

from softmaxkit.explorer import page

SVG_NAMESPACE = "http://www.w3.org/2000/svg"


def test_every_page_file_is_installed_and_not_empty():
    sizes = {name: len(page.read_page_file(name)) for name in page.PAGE_FILES}
    assert all(size > 1000 for size in sizes.values()), sizes


def test_read_page_file_refuses_other_files_of_the_package():
    with pytest.raises(ValueError, match=r"name must be one of .* got 'page\.py'"):
        page.read_page_file("page.py")


def test_index_html_links_the_script_and_the_style_sheet_it_ships():
    index = page.read_page_file("index.html").decode()
    assert '<script src="explorer.js" defer></script>' in index
    assert '<link rel="stylesheet" href="explorer.css">' in index


def test_index_html_labels_every_input():
    index = page.read_page_file("index.html").decode()
    inputs = re.findall(r'<input id="([\w-]+)"', index)
    labelled = re.findall(r'<label for="([\w-]+)"', index)
    assert sorted(inputs) == sorted(labelled) == sorted(
        ["logits", "names", "temperature-slider", "temperature", "beta"]
    )


def test_temperature_slider_spans_1e_minus_4_to_1e4_in_log10():
    # Was 0.01 to 1000: the seeds' β = 500 (T = 0.002) pinned the thumb at its end.
    index = page.read_page_file("index.html").decode()
    assert re.search(r'id="temperature-slider" type="range" min="-4" max="4"', index)
    script = page.read_page_file("explorer.js").decode()
    assert "var SLIDER_MIN = -4;" in script and "var SLIDER_MAX = 4;" in script


@pytest.mark.parametrize(
    ("logits", "expected"),
    [
        ([1.0, 2.0, 3.0], "z=1,2,3"),
        ([0.1, -2.5e-7], "z=0.1,-2.5e-07"),
        ([1e308, -1e308], "z=1e308,-1e308"),
        ([float("inf"), float("-inf"), float("nan")], "z=inf,-inf,nan"),
    ],
    ids=["integers", "decimals", "huge", "non-finite"],
)
def test_state_fragment_writes_logits_in_shortest_round_trip_form(logits, expected):
    assert page.state_fragment(logits) == expected


def test_state_fragment_numbers_read_back_exactly(rng):
    logits = rng.standard_normal(20) * 10.0 ** rng.integers(-300, 300, size=20)
    fragment = page.state_fragment(logits)
    assert [float(token) for token in fragment[2:].split(",")] == list(logits)


def test_state_fragment_escapes_names():
    fragment = page.state_fragment([1, 2], names=["polar bear", "a&b=c#d"])
    assert fragment == "z=1,2&names=polar%20bear,a%26b%3Dc%23d"


def test_state_fragment_leaves_out_what_is_not_given():
    assert page.state_fragment(temperature=0.002) == "T=0.002"
    assert page.state_fragment() == ""


def _references(document: str) -> list[str]:
    """What src= and href= attributes would load, data: URLs aside."""
    return re.findall(r"""\b(?:src|href)\s*=\s*["']?(?!data:)([^"'\s>]+)""", document, flags=re.I)


def _inline(element: str, document: str) -> str:
    match = re.search(rf"<{element}>(.*?)</{element}>", document, flags=re.DOTALL)
    assert match, f"no inline <{element}>"
    return match.group(1)


def _csp_source(content: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(content.encode()).digest()).decode() + "'"


class TestStandalone:
    def test_inlines_the_script_and_the_style_sheet(self):
        document = page.standalone_html()
        assert _inline("script", document).strip() == page.read_page_file("explorer.js").decode().strip()
        assert _inline("style", document).strip() == page.read_page_file("explorer.css").decode().strip()

    def test_loads_nothing_from_anywhere(self):
        document = page.standalone_html()
        index = page.read_page_file("index.html").decode()
        assert _references(index) == ["explorer.css", "explorer.js"]  # the check sees links
        assert _references(document) == []
        assert not re.search(r"@import|url\(", document, flags=re.I)
        # The only absolute URL is the SVG namespace name, which is never fetched.
        urls = set(re.findall(r"\b\w+://[^\s'\"<>)]+", document))
        assert urls == {SVG_NAMESPACE}

    def test_content_security_policy_allows_exactly_its_inline_code(self):
        document = page.standalone_html()
        policy = html.unescape(
            re.search(r'http-equiv="Content-Security-Policy" content="([^"]+)"', document).group(1)
        )
        directives = dict(d.strip().split(" ", 1) for d in policy.split(";"))
        assert directives["default-src"] == "'none'"
        assert directives["script-src"] == _csp_source(_inline("script", document))
        assert directives["style-src"] == _csp_source(_inline("style", document))

    def test_without_a_fragment_keeps_the_page_default_view(self):
        document = page.standalone_html()
        index = page.read_page_file("index.html").decode()
        default = re.search(r'name="softmaxkit-initial-state" content="([^"]*)"', index).group(1)
        assert f'name="softmaxkit-initial-state" content="{default}"' in document

    def test_embeds_the_fragment_escaped(self):
        fragment = 'z=1,2&names=a"><script>x</script>,b'
        document = page.standalone_html(fragment)
        content = re.search(r'name="softmaxkit-initial-state" content="([^"]*)"', document).group(1)
        assert html.unescape(content) == fragment
        assert document.count("<script>") == 1

    def test_is_deterministic(self):
        assert page.standalone_html("z=1") == page.standalone_html("z=1")


def test_importing_softmaxkit_does_not_import_the_explorer():
    code = "import sys, softmaxkit; print(any('explorer' in m for m in sys.modules))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"
