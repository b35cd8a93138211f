"""The explorer's layout in a real browser, at a phone's width (390 px) and a desktop's.

What the other browser tests cannot see from the numbers: that the bars are on the
first screen of a phone, that the step table fits its card without sideways
scrolling, that no chart draws outside its box or writes a label over another at
any number of logits, that the temperature slider reaches the seeds' β = 500, and
that the served page opens on the command line's logits. Each test leaves a
screenshot of its page in its tmp dir.
"""

from __future__ import annotations

import math

import pytest
from browser_support import chromium_context
from explorer_support import Explorer

SIZES = {"phone": (390, 844), "desktop": (1280, 900)}

VIEWS = {
    "dog-cat-bird": "z=4.8,1.21,2.385&names=dog,cat,bird&T=1",
    "beta-500": "z=0.95,0.99,0.98&T=0.002",
    "huge": "z=1e308,-1e308,0",
    "plus-inf": "z=1,inf,inf,-inf",
    "nan": "z=1,nan,2",
    "200-logits": "z=" + ",".join(f"{math.sin(7 * i) * 5:.3f}" for i in range(200)),
    "1000-logits": "z=" + ",".join(f"{math.sin(3 * i) * 20:.2f}" for i in range(1000)),
    "30000-logits": "z=" + ",".join(f"{math.sin(3 * i) * 20 + i * 1e-4:.4f}" for i in range(30_000)),
}

# Every drawn element of each chart lies inside its SVG box, which lies inside its card.
SPILLS = """() => {
  const spills = [];
  for (const chart of document.querySelectorAll('.chart')) {
    const box = chart.querySelector('svg').getBoundingClientRect();
    const card = chart.closest('.card').getBoundingClientRect();
    if (box.left < card.left || box.right > card.right) spills.push(chart.id + ' svg leaves its card');
    for (const el of chart.querySelectorAll('svg rect, svg path, svg circle, svg text, svg line')) {
      const r = el.getBoundingClientRect();
      if (r.width === 0 && r.height === 0) continue;
      if (r.left < box.left - 1 || r.right > box.right + 1 || r.top < box.top - 1 || r.bottom > box.bottom + 1) {
        spills.push(chart.id + ': ' + el.tagName + ' ' + (el.textContent || el.getAttribute('class')));
      }
    }
  }
  return spills;
}"""

# Pairs of texts in a chart whose boxes overlap by more than a pixel each way.
COLLISIONS = """() => {
  const hits = [];
  for (const chart of document.querySelectorAll('.chart')) {
    const texts = Array.from(chart.querySelectorAll('svg text')).map(t => [t.textContent, t.getBoundingClientRect()]);
    for (let i = 0; i < texts.length; i++) {
      for (let j = i + 1; j < texts.length; j++) {
        const a = texts[i][1], b = texts[j][1];
        const x = Math.min(a.right, b.right) - Math.max(a.left, b.left);
        const y = Math.min(a.bottom, b.bottom) - Math.max(a.top, b.top);
        if (x > 1 && y > 1) hits.push(chart.id + ': ' + texts[i][0] + ' / ' + texts[j][0]);
      }
    }
  }
  return hits;
}"""

TABLE_FIT = """() => {
  const wrap = document.querySelector('.table-wrap');
  const last = document.querySelector('#steps thead th:last-child').getBoundingClientRect();
  return {table: wrap.scrollWidth, room: wrap.clientWidth, page: document.documentElement.scrollWidth,
          lastHeaderRight: last.right, wrapRight: wrap.getBoundingClientRect().right};
}"""


@pytest.fixture(scope="module", params=sorted(SIZES))
def screen(request, tmp_path_factory):
    """A chromium context at a phone's or a desktop's size."""
    width, height = SIZES[request.param]
    with chromium_context(tmp_path_factory.mktemp("chromium-profile"),
                          viewport={"width": width, "height": height}, color_scheme="light") as context:  # fmt: skip
        yield request.param, context


@pytest.fixture(scope="module")
def served():
    with Explorer("--port", "0") as running:
        yield running.url.split("#")[0]


class Page:
    """A tab that fails the test on a console error or warning or an uncaught exception."""

    def __init__(self, context):
        self.page = context.new_page()
        self.problems: list[str] = []
        self.page.on("console", lambda m: m.type in ("error", "warning") and self.problems.append(m.text))
        self.page.on("pageerror", lambda error: self.problems.append(f"uncaught: {error}"))

    def open(self, url: str):
        self.page.goto("about:blank")
        self.page.goto(url)
        self.page.wait_for_selector("html[data-ready=true]")
        return self.page


@pytest.fixture
def tab(screen, tmp_path):
    opened = Page(screen[1])
    yield opened
    # The whole page, unless a thousand table rows make it too long to picture.
    tall = opened.page.evaluate("document.documentElement.scrollHeight") > 6000
    opened.page.screenshot(path=tmp_path / f"{screen[0]}.png", full_page=not tall)
    opened.page.close()
    assert opened.problems == []


@pytest.mark.parametrize("view", sorted(VIEWS))
def test_the_step_table_fits_without_sideways_scrolling(tab, served, view):
    # Was: on a phone the table scrolled sideways and was cut at "argma".
    fit = tab.open(f"{served}#{VIEWS[view]}").evaluate(TABLE_FIT)
    assert fit["table"] <= fit["room"], fit
    assert fit["lastHeaderRight"] <= fit["wrapRight"] + 0.5, fit
    assert fit["page"] <= tab.page.viewport_size["width"], fit


@pytest.mark.parametrize("view", sorted(VIEWS))
def test_no_chart_spills_out_of_its_card_or_writes_over_itself(tab, served, view):
    # Was: at 200 logits the loss chart's markers marched off its card.
    page = tab.open(f"{served}#{VIEWS[view]}")
    assert page.evaluate(SPILLS) == []
    assert page.evaluate(COLLISIONS) == []


def test_on_a_phone_the_bars_are_on_the_first_screen(tab, served, screen):
    # Was: everything after the inputs lay below the first screen of a phone.
    page = tab.open(f"{served}#{VIEWS['beta-500']}")
    bars = page.locator("#bars svg").bounding_box()
    inputs = page.locator("#logits").bounding_box()
    assert inputs["y"] < bars["y"]
    assert bars["y"] + bars["height"] <= SIZES[screen[0]][1]


@pytest.mark.parametrize(("view", "drawn"), [("dog-cat-bird", 3), ("200-logits", 20), ("1000-logits", 20),
                                             ("30000-logits", 20)])  # fmt: skip
def test_past_30_logits_the_charts_draw_the_top_20_and_the_others(tab, served, view, drawn):
    page = tab.open(f"{served}#{VIEWS[view]}")
    counts = page.evaluate("""() => ({
        bars: document.querySelectorAll('#bars .prob-bar').length,
        others: document.querySelectorAll('#bars .others-bar').length,
        curves: document.querySelectorAll('#temperature-chart .curve').length,
        otherCurves: document.querySelectorAll('#temperature-chart .others-curve').length,
        rows: document.querySelectorAll('#steps tbody tr').length,
        note: document.getElementById('bars-note').textContent,
        tableNote: document.getElementById('steps-note').textContent,
    })""")
    n = len(VIEWS[view].split("&")[0].split(","))
    grouped = n > 30
    assert counts["bars"] == counts["curves"] == drawn
    assert counts["others"] == (2 if grouped else 0)  # its logit range and its probability
    assert counts["otherCurves"] == (1 if grouped else 0)
    assert counts["rows"] == min(n, 1000)  # the table keeps every class up to 1000
    if grouped:
        assert counts["note"].startswith(f"The 20 largest of {n} logits; the last row adds up the other {n - 20}")
        shown = page.evaluate("Array.from(document.querySelectorAll('#bars .bar-row')).map(g => g.dataset.class)")
        logits = [float(v) for v in VIEWS[view].split("&")[0][2:].split(",")]
        top = sorted(range(n), key=lambda i: (-logits[i], i))[:20]
        assert shown == [str(i) for i in top] + ["others"]
    else:
        assert counts["note"] == ""
    if n > 1000:
        assert counts["tableNote"] == f"The table lists the 1000 largest of {n} logits; its total row is over all of them."
        listed = page.evaluate("Array.from(document.querySelectorAll('#steps tbody th')).map(th => th.textContent)")
        logits = [float(v) for v in VIEWS[view].split("&")[0][2:].split(",")]
        assert listed == [str(i) for i in sorted(sorted(range(n), key=lambda i: (-logits[i], i))[:1000])]
    else:
        assert counts["tableNote"] == ""


def test_the_slider_reaches_the_seeds_beta_500_and_beyond(tab, served):
    # Was: the slider spanned 0.01 to 1000, and T = 0.002 pinned its thumb at the end.
    page = tab.open(f"{served}#{VIEWS['beta-500']}")
    slider = page.get_by_label("Temperature slider (log scale)", exact=True)
    assert float(slider.input_value()) == pytest.approx(math.log10(0.002), abs=0.01)
    slider.focus()
    slider.press("Home")
    assert page.get_by_label("Temperature T", exact=True).input_value() == "0.0001"
    slider.press("End")
    assert page.get_by_label("Temperature T", exact=True).input_value() == "10000"


def test_a_decimal_beyond_the_largest_double_is_refused(tab, served):
    # Was: 1e309 silently became ∞.
    page = tab.open(f"{served}#{VIEWS['dog-cat-bird']}")
    page.get_by_label("Logits", exact=True).fill("1e309, 2")
    error = page.locator("#logits-error")
    assert error.is_visible()
    assert error.text_content() == (
        "\u201c1e309\u201d is beyond the largest number (1.8e308) and would become \u221e; "
        "write inf if that is meant."
    )
    page.get_by_label("Logits", exact=True).fill("inf, 2")
    assert error.is_hidden()


def test_the_served_page_without_a_fragment_opens_on_the_command_lines_logits(screen, tmp_path):
    # Was: the address without #... showed dog/cat/bird whatever the command line said.
    with Explorer("0.95", "0.99", "0.98", "--beta", "500") as explorer:
        opened = Page(screen[1])
        page = opened.open(explorer.url.split("#")[0])
        assert page.get_by_label("Logits", exact=True).input_value() == "0.95, 0.99, 0.98"
        assert page.get_by_label("Temperature T", exact=True).input_value() == "0.002"
        assert page.evaluate("document.getElementById('top-class').textContent") == "1"
        page.screenshot(path=tmp_path / "served.png", full_page=True)
        opened.page.close()
        assert opened.problems == []
