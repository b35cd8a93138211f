"""The explorer in a real browser: Debian's chromium driven by Playwright.

The tests start ``softmaxkit explore --no-browser --port 0``, drive the page as a
person would (typing, the slider, the number fields, the examples, the
keyboard) and compare every number it shows with softmaxkit itself, to the
digits shown. The exported file is tested the same way from a file:// URL.
Every page must log no error or warning and load nothing from elsewhere; a
screenshot of each test's page is saved in its tmp dir.

The tests are skipped only when chromium or Playwright's Python package is
missing, and fail instead when SOFTMAXKIT_REQUIRE_BROWSER=1 (as in CI).
"""

from __future__ import annotations

import math
import re
import time
from pathlib import Path

import mpmath
import numpy as np
import pytest
from browser_support import chromium_context
from explorer_support import Explorer
from hypothesis import given
from hypothesis import strategies as st

import softmaxkit as sk
from softmaxkit.cli.__main__ import main
from softmaxkit.cli.explain import format_exp
from softmaxkit.explorer import page as explorer_page

INF = math.inf
NAN = math.nan


# ---------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    """One chromium for the module, with a fresh profile."""
    with chromium_context(
        tmp_path_factory.mktemp("chromium-profile"),
        viewport={"width": 1280, "height": 900},
        color_scheme="light",
    ) as context:
        yield context


@pytest.fixture(scope="module")
def explorer():
    with Explorer("--port", "0") as running:
        yield running.url


class Tab:
    """A browser tab that records console errors and warnings, uncaught exceptions,
    and requests to anywhere but the page's own origin."""

    def __init__(self, context, origin: str):
        self.page = context.new_page()
        self.problems: list[str] = []
        self.page.on("console", self._on_console)
        self.page.on("pageerror", lambda error: self.problems.append(f"uncaught: {error}"))
        self.page.on("request", lambda request: self._on_request(request.url, origin))

    def _on_console(self, message) -> None:
        if message.type in ("error", "warning"):
            self.problems.append(f"console.{message.type}: {message.text}")

    def _on_request(self, url: str, origin: str) -> None:
        if not url.startswith((origin, "data:", "about:blank")):
            self.problems.append(f"request to {url}")

    def open(self, url: str) -> None:
        self.page.goto("about:blank")  # so that a new fragment is a new load, not a hashchange
        self.page.goto(url)
        self.page.wait_for_selector("html[data-ready=true]")

    def field(self, label: str):
        return self.page.get_by_label(label, exact=True)

    def wait_until(self, expression: str, timeout: float = 15.0) -> None:
        """Poll a JavaScript expression from Python until it is truthy.

        Playwright's ``wait_for_function`` compiles its string in the page, which
        the page's content-security policy (no ``unsafe-eval``) refuses, so it only
        ever passed when the condition held at the first check. ``evaluate`` goes
        through the DevTools protocol, which the policy does not govern.
        """
        deadline = time.monotonic() + timeout
        while not self.page.evaluate(expression):
            if time.monotonic() > deadline:
                raise AssertionError(f"still false after {timeout} s: {expression}")
            time.sleep(0.02)


@pytest.fixture
def tab(browser, explorer, tmp_path):
    """A fresh tab on the served page; afterwards a screenshot and no console problems."""
    opened = Tab(browser, explorer.split("#")[0])
    opened.open(explorer)
    yield opened
    opened.page.screenshot(path=tmp_path / "page.png", full_page=True)
    opened.page.close()
    assert opened.problems == []


@pytest.fixture(scope="module")
def js(browser, explorer):
    """A tab kept open for calling the page's functions (window.softmaxExplorer)."""
    opened = Tab(browser, explorer.split("#")[0])
    opened.open(explorer)
    yield opened.page
    opened.page.close()
    assert opened.problems == []


# ---------------------------------------------------------------------------- reading the page

READ_TABLE = """() => Array.from(document.querySelectorAll('#steps tbody tr')).map(tr => {
    const row = {name: tr.querySelector('th').textContent};
    tr.querySelectorAll('td').forEach(td => { row[td.dataset.col] = td.textContent; });
    return row;
})"""

READ_SUMMARY = """() => Object.fromEntries(
    ['total-exp', 'total-p', 'total-argmax', 'entropy', 'effective', 'logsumexp', 'top-class',
     'steps-caption'].map(id => [id, document.getElementById(id).textContent]))"""


def read_table(tab: Tab) -> list[dict]:
    return tab.page.evaluate(READ_TABLE)


def read_summary(tab: Tab) -> dict:
    return tab.page.evaluate(READ_SUMMARY)


def fragment_of(tab: Tab) -> str:
    return tab.page.evaluate("location.hash").lstrip("#")


# ---------------------------------------------------------------------------- the digits shown

SPECIAL_TEXT = {INF: "∞", -INF: "-∞"}


def assert_shows(text: str, value: float, significant: int) -> None:
    """``text`` is ``value`` to ``significant`` digits (as the page's formatG writes it)."""
    value = float(value)
    if math.isnan(value):
        assert text == "NaN"
        return
    if math.isinf(value):
        assert text == SPECIAL_TEXT[value]
        return
    if value == 0:
        assert text == "0"
        return
    assert re.fullmatch(r"-?\d+(\.\d+)?(e[+-]\d\d+)?", text), text
    half_unit = 0.5 * 10.0 ** (math.floor(math.log10(abs(value))) - significant + 1)
    # The slack covers an ulp or two between the browser's and NumPy's exp and log.
    assert abs(float(text) - value) <= half_unit * (1 + 1e-9), (text, value)


def assert_shows_exp(text: str, log_value: float) -> None:
    """``text`` is e^log_value with 3 significant digits (or 10^(...) past 1e13 decades)."""
    log_value = float(log_value)
    if math.isnan(log_value):
        assert text == "NaN"
        return
    if math.isinf(log_value):
        assert text == ("∞" if log_value > 0 else "0")
        return
    log10 = mpmath.mpf(log_value) / mpmath.log(10)
    powered = re.fullmatch(r"10\^\((.+)\)", text)
    if powered:
        assert abs(log10) >= 1e13
        assert_shows(powered.group(1), float(log10), 6)
        return
    match = re.fullmatch(r"(\d\.\d\d)e([+-]\d\d+)", text)
    assert match, text
    mantissa, exponent = float(match.group(1)), int(match.group(2))
    assert 1 <= mantissa < 10
    exact = mpmath.power(10, log10 - exponent)
    # log10 is a float64 in the page (as in format_exp): its rounding moves the mantissa.
    float_limit = 10 * math.log(10) * abs(float(log10)) * 2.0**-52
    assert abs(mantissa - exact) <= 0.005 * (1 + 1e-9) + float_limit, (text, log_value)


def expected_shifted(z: np.ndarray) -> np.ndarray:
    """z - max(z) with the library's limits: +inf entries at 0 when the max is +inf."""
    present = z[~np.isnan(z)]
    zmax = present.max() if present.size else -INF
    with np.errstate(invalid="ignore", over="ignore"):  # -1e308 - 1e308 is -inf, as shown
        out = z - zmax if np.isfinite(zmax) else np.full_like(z, -INF)
    if zmax == INF:
        out = np.where(z == INF, 0.0, -INF)
    return np.where(np.isnan(z), NAN, out)


def assert_page_matches_softmaxkit(tab: Tab, logits, temperature: float, names=None) -> None:
    """Every number in the table and the summary agrees with softmaxkit to the digits shown."""
    z = np.asarray(logits, dtype=np.float64)
    p = sk.softmax(z, temperature=temperature)
    log_p = sk.log_softmax(z, temperature=temperature)
    with np.errstate(over="ignore"):  # z / T overflows to inf in the huge-over-T case
        scaled = z / temperature
    total = sk.logsumexp(scaled)
    one_hot = sk.hardmax(z)
    rows = read_table(tab)
    assert len(rows) == z.size
    shifted = expected_shifted(z)
    for i, row in enumerate(rows):
        assert row["name"] == (names[i] if names else str(i))
        assert_shows(row["z"], z[i], 6)
        assert_shows(row["shifted"], shifted[i], 6)
        assert_shows_exp(row["exp"], scaled[i])
        assert_shows(row["p"], 100 * p[i], 4)
        assert row["argmax"] == ("NaN" if np.isnan(one_hot[i]) else f"{one_hot[i]:g}")
        assert_shows(row["loss"], -log_p[i], 6)
    summary = read_summary(tab)
    assert_shows_exp(summary["total-exp"], total)
    assert_shows(summary["total-p"], 100 * np.sum(p), 4)
    assert_shows(summary["total-argmax"], np.sum(one_hot), 6)
    assert_shows(summary["logsumexp"], total, 6)
    entropy = -np.sum(p * np.where(p > 0, log_p, 0.0))
    assert_shows(summary["entropy"], entropy, 6)
    assert_shows(summary["effective"], np.exp(entropy), 6)
    beta = 1 / temperature
    assert summary["steps-caption"].endswith(
        f"at T = {format_g(temperature)} (β = {format_g(beta)})"
    )


def format_g(value: float) -> str:
    return SPECIAL_TEXT.get(value) or format(value, ".6g")


# ---------------------------------------------------------------------------- the numbers


EDGE_CASES = [
    pytest.param([4.8, 1.21, 2.385], 1.0, id="dog-cat-bird"),
    pytest.param([0.95, 0.99, 0.98], 0.002, id="beta-500"),
    pytest.param([1.0, 2.0, 3.0], 1000.0, id="hot"),
    pytest.param([1.0, INF, INF, -INF], 1.0, id="plus-inf-split"),
    pytest.param([-INF, -INF, -INF], 1.0, id="all-minus-inf"),
    pytest.param([1.0, NAN, 2.0], 1.0, id="nan-row"),
    pytest.param([1e308, -1e308, 0.0], 1.0, id="huge"),
    pytest.param([1e308, 5e307], 0.5, id="huge-over-T-overflows"),
    pytest.param([1000.0, 0.0, -1000.0], 1.0, id="wide-spread"),
    pytest.param([700.0, 710.0], 1.0, id="exp-past-float64"),
    pytest.param([1.0, 2.0, 3.0], 1e-320, id="subnormal-T"),
    pytest.param([5.0], 1.0, id="single"),
    pytest.param([2.0, 2.0, 1.0], 1.0, id="tie"),
    pytest.param([-0.0, 0.0], 1.0, id="signed-zeros"),
    pytest.param([1e-300, -1e-300], 1e-300, id="tiny"),
]


@pytest.mark.parametrize(("logits", "temperature"), EDGE_CASES)
def test_table_agrees_with_softmaxkit_from_a_link(tab, explorer, logits, temperature):
    tab.open(f"{explorer}#{explorer_page.state_fragment(logits, temperature=temperature)}")
    assert_page_matches_softmaxkit(tab, logits, temperature)


def test_many_classes_agree_with_softmaxkit(tab, explorer, rng):
    logits = list(rng.standard_normal(40) * 3)
    tab.open(f"{explorer}#{explorer_page.state_fragment(logits, temperature=0.7)}")
    assert_page_matches_softmaxkit(tab, logits, 0.7)


def test_default_view_is_dog_cat_bird(tab):
    assert tab.field("Logits").input_value() == "4.8, 1.21, 2.385"
    assert tab.field("Class names (optional)").input_value() == "dog, cat, bird"
    assert_page_matches_softmaxkit(tab, [4.8, 1.21, 2.385], 1.0, names=["dog", "cat", "bird"])


def test_beta_500_shows_e_to_the_475_without_overflow(tab, explorer):
    tab.open(f"{explorer}#z=0.95,0.99,0.98&T=0.002")
    assert [row["exp"] for row in read_table(tab)] == ["1.95e+206", "9.46e+214", "6.37e+212"]


# ---------------------------------------------------------------------------- typing and controls


def test_typing_logits_updates_everything(tab):
    logits = tab.field("Logits")
    logits.fill("")
    logits.press_sequentially("3, -1.5e2 7 0.25")  # passes through "3, -" on the way
    assert tab.page.locator("#logits-error").is_hidden()
    assert_page_matches_softmaxkit(tab, [3, -150, 7, 0.25], 1.0, names=["dog", "cat", "bird", "3"])


def test_pasted_python_list_is_read(tab):
    tab.field("Logits").fill("[1.0, 2.0, 3.0]")
    assert_page_matches_softmaxkit(tab, [1, 2, 3], 1.0, names=["dog", "cat", "bird"])


def test_class_names_label_the_rows_and_the_url(tab):
    tab.field("Class names (optional)").fill("polar bear, cat, bird")
    assert [row["name"] for row in read_table(tab)] == ["polar bear", "cat", "bird"]
    assert "names=polar%20bear,cat,bird" in fragment_of(tab)


@pytest.mark.parametrize(
    ("names", "note"),
    [("a b", "2 names for 3 logits: the others are numbered."),
     ("a b c d e", "5 names for 3 logits: the last 2 are not used.")],
    ids=["too-few", "too-many"],
)
def test_a_name_count_that_differs_is_noted_not_refused(tab, names, note):
    tab.field("Class names (optional)").fill(names)
    assert tab.page.locator("#names-note").text_content() == note
    assert [row["name"] for row in read_table(tab)] == (["a", "b", "2"] if names == "a b" else ["a", "b", "c"])


def test_names_are_shown_as_text_never_as_markup(tab):
    hostile = '<img src=x onerror="window.pwned=1">, <b>bold</b>, c'
    tab.field("Class names (optional)").fill(hostile)
    assert [row["name"] for row in read_table(tab)] == [
        '<img src=x onerror="window.pwned=1">', "<b>bold</b>", "c"
    ]
    assert tab.page.evaluate("window.pwned === undefined && !document.querySelector('main img, main b')")


def test_temperature_field_sets_beta_slider_and_table(tab):
    tab.field("Temperature T").fill("0.5")
    assert tab.field("β = 1/T").input_value() == "2"
    assert float(tab.field("Temperature slider (log scale)").input_value()) == pytest.approx(math.log10(0.5), abs=0.01)
    assert_page_matches_softmaxkit(tab, [4.8, 1.21, 2.385], 0.5, names=["dog", "cat", "bird"])


def test_beta_field_sets_the_temperature(tab):
    tab.field("Logits").fill("0.95 0.99 0.98")
    tab.field("β = 1/T").fill("500")
    assert tab.field("Temperature T").input_value() == "0.002"
    assert fragment_of(tab).endswith("T=0.002")
    assert_page_matches_softmaxkit(tab, [0.95, 0.99, 0.98], 1 / 500, names=["dog", "cat", "bird"])


def test_temperature_beyond_the_slider_pins_it_at_its_end(tab):
    tab.field("Temperature T").fill("1e-5")
    assert tab.field("Temperature slider (log scale)").input_value() == "-4"
    assert_page_matches_softmaxkit(tab, [4.8, 1.21, 2.385], 1e-5, names=["dog", "cat", "bird"])


@pytest.mark.parametrize(
    ("keys", "temperature"),
    [(["End"], 10000.0), (["Home"], 0.0001), (["End", "ArrowLeft", "ArrowLeft"], 9550.0),
     (["Home", "ArrowRight"], 0.000102), (["PageUp"], 6.31)],
    ids=["end", "home", "end-left-left", "home-right", "page-up"],
)
def test_slider_moves_the_temperature_on_a_log_scale_by_keyboard(tab, keys, temperature):
    slider = tab.field("Temperature slider (log scale)")
    slider.focus()
    for key in keys:
        slider.press(key)
    assert tab.field("Temperature T").input_value() == format_g(temperature)
    assert tab.field("β = 1/T").input_value() == format_g(1 / temperature)
    assert slider.get_attribute("aria-valuetext") == f"T = {format(temperature, '.4g')}"
    assert_page_matches_softmaxkit(tab, [4.8, 1.21, 2.385], temperature, names=["dog", "cat", "bird"])


def test_dragging_on_the_temperature_chart_sets_the_temperature(tab):
    plot = tab.page.locator("#temperature-chart rect.hit")
    plot.scroll_into_view_if_needed()  # mouse positions are in the viewport
    box = plot.bounding_box()
    middle_y = box["y"] + box["height"] / 2
    tab.page.mouse.click(box["x"] + box["width"] * 0.75, middle_y)  # log10 T = 2, 3/4 of [-4, 4]
    assert tab.field("Temperature T").input_value() == "100"
    tab.page.mouse.move(box["x"] + box["width"] * 0.2, middle_y)
    tab.page.mouse.down()
    tab.page.mouse.move(box["x"] + box["width"] + 50, middle_y, steps=5)  # past the right end
    tab.page.mouse.up()
    assert tab.field("Temperature T").input_value() == "10000"
    assert_page_matches_softmaxkit(tab, [4.8, 1.21, 2.385], 10000.0, names=["dog", "cat", "bird"])


PRESETS = [
    ("1, 2, 3", [1, 2, 3], 1.0, None),
    ("dog, cat, bird", [4.8, 1.21, 2.385], 1.0, ["dog", "cat", "bird"]),
    ("0.95, 0.99, 0.98 · β = 1", [0.95, 0.99, 0.98], 1.0, None),
    ("0.95, 0.99, 0.98 · β = 500", [0.95, 0.99, 0.98], 0.002, None),
    ("+∞ takes the limit", [1, INF, INF, -INF], 1.0, None),
    ("all −∞", [-INF, -INF, -INF], 1.0, None),
    ("huge values", [1e308, -1e308, 0], 1.0, None),
    ("a NaN", [1, NAN, 2], 1.0, None),
]


@pytest.mark.parametrize(("button", "logits", "temperature", "names"), PRESETS, ids=[p[0] for p in PRESETS])
def test_example_buttons_load_their_example(tab, button, logits, temperature, names):
    tab.field("Temperature T").fill("7")  # to see that the example sets T back
    tab.page.get_by_role("button", name=button, exact=True).click()
    assert tab.field("Temperature T").input_value() == format_g(temperature)
    assert_page_matches_softmaxkit(tab, logits, temperature, names=names)


# ---------------------------------------------------------------------------- bad input


BAD_INPUTS = [
    ("Logits", "1, abc, 3", "logits", "“abc” is not a number."),
    ("Logits", "", "logits", "Enter at least one logit: numbers separated by commas or spaces."),
    ("Logits", " , ,", "logits", "Enter at least one logit: numbers separated by commas or spaces."),
    ("Logits", "1 2 3e", "logits", "“3e” is not a number."),
    ("Logits", " ".join(["1"] * (explorer_page.MAX_LOGITS + 1)), "logits",
     f"At most {explorer_page.MAX_LOGITS} logits, got {explorer_page.MAX_LOGITS + 1}."),
    ("Temperature T", "-1", "temperature", "Temperature must be a finite number > 0, got -1."),
    ("Temperature T", "0", "temperature", "Temperature must be a finite number > 0, got 0."),
    ("Temperature T", "inf", "temperature", "Temperature must be a finite number > 0, got ∞."),
    ("Temperature T", "nan", "temperature", "Temperature must be a finite number > 0, got NaN."),
    ("Temperature T", "warm", "temperature", "“warm” is not a number."),
    ("Temperature T", "", "temperature", "Temperature is empty: enter a number > 0."),
    ("β = 1/T", "0", "beta", "β must be a finite number > 0, got 0."),
    ("β = 1/T", "-2", "beta", "β must be a finite number > 0, got -2."),
    ("β = 1/T", "1e-320", "beta", "β = 9.99989e-321 is too small: T = 1/β is infinite."),
]


@pytest.mark.parametrize(
    ("label", "text", "field_id", "message"),
    BAD_INPUTS,
    ids=["word", "empty", "only-commas", "half-exponent", "too-many", "T-negative", "T-zero",
         "T-inf", "T-nan", "T-word", "T-empty", "beta-zero", "beta-negative", "beta-tiny"],
)
def test_bad_input_shows_a_message_and_keeps_the_last_good_result(tab, label, text, field_id, message):
    before_table, before_fragment = read_table(tab), fragment_of(tab)
    tab.field(label).fill(text)
    error = tab.page.locator(f"#{field_id}-error")
    assert error.is_visible()
    assert error.text_content() == message
    assert tab.field(label).get_attribute("aria-invalid") == "true"
    assert field_id + "-error" in tab.field(label).get_attribute("aria-describedby")
    assert read_table(tab) == before_table
    assert fragment_of(tab) == before_fragment


def test_fixing_bad_input_clears_the_message(tab):
    tab.field("Logits").fill("1, x")
    tab.field("Logits").fill("1, 2")
    assert tab.page.locator("#logits-error").is_hidden()
    assert tab.field("Logits").get_attribute("aria-invalid") is None
    assert len(read_table(tab)) == 2


def test_temperature_still_moves_while_the_logits_are_bad(tab):
    tab.field("Logits").fill("1, x")
    tab.field("Temperature T").fill("2")
    assert_page_matches_softmaxkit(tab, [4.8, 1.21, 2.385], 2.0, names=["dog", "cat", "bird"])


def test_a_bad_link_shows_the_message_and_the_default_view(tab, explorer):
    tab.open(f"{explorer}#z=1,oops&T=0")
    assert tab.page.locator("#logits-error").text_content() == "“oops” is not a number."
    assert tab.page.locator("#temperature-error").is_visible()
    assert_page_matches_softmaxkit(tab, [4.8, 1.21, 2.385], 1.0)


# ---------------------------------------------------------------------------- URL round trip


def test_the_url_reproduces_the_view(tab, browser, explorer):
    tab.field("Logits").fill("3 1 2 inf -inf")
    tab.field("Class names (optional)").fill("x y z w v")
    tab.field("Temperature T").fill("0.25")
    assert fragment_of(tab) == "z=3,1,2,inf,-inf&names=x,y,z,w,v&T=0.25"
    link = tab.page.url
    table = read_table(tab)
    other = Tab(browser, explorer.split("#")[0])
    other.open(link)
    assert read_table(other) == table
    assert other.field("Logits").input_value() == "3, 1, 2, inf, -inf"
    assert other.field("Temperature T").input_value() == "0.25"
    other.page.close()
    assert other.problems == []


def test_editing_the_url_fragment_updates_the_page(tab):
    tab.page.evaluate("location.hash = 'z=1,2&T=3'")
    tab.wait_until("document.querySelectorAll('#steps tbody tr').length === 2")
    assert_page_matches_softmaxkit(tab, [1, 2], 3.0)


def test_the_page_reads_the_fragments_python_writes_exactly(js):
    logits = [0.1, -2.5e-7, 1e308, 1e20, 5e-324, -0.0, INF, -INF]
    fragment = explorer_page.state_fragment(logits, names=["polar bear", "a&b"], temperature=0.002)
    fields = js.evaluate("f => softmaxExplorer.decodeFragment(f)", fragment)
    assert js.evaluate("t => softmaxExplorer.parseLogits(t).values", fields["logits"]) == logits
    assert fields["names"] == "polar bear, a&b"
    assert js.evaluate("t => softmaxExplorer.parseTemperature(t).value", fields["temperature"]) == 0.002


def test_python_reads_the_fragments_the_page_writes_exactly(js):
    state = {"logits": [0.1, -2.5e-7, 1e308, 1e21, 5e-324, INF, NAN], "names": [], "temperature": 1e-7}
    fragment = js.evaluate("state => softmaxExplorer.encodeState(state)", state)
    parts = dict(part.split("=") for part in fragment.split("&"))
    assert [float(v) for v in parts["z"].split(",")][:-1] == state["logits"][:-1]
    assert parts["z"].endswith(",nan")
    assert float(parts["T"]) == 1e-7


# ---------------------------------------------------------------------------- keyboard, themes, phones


def test_the_controls_are_reached_in_order_with_tab(tab):
    tab.field("Logits").focus()
    order = []
    for _ in range(5):
        tab.page.keyboard.press("Tab")
        order.append(tab.page.evaluate("document.activeElement.id || document.activeElement.textContent"))
    assert order == ["names", "temperature-slider", "temperature", "beta", "1, 2, 3"]


def test_an_example_runs_from_the_keyboard_with_a_visible_focus_ring(tab):
    tab.field("β = 1/T").focus()
    tab.page.keyboard.press("Tab")
    assert tab.page.evaluate("getComputedStyle(document.activeElement).outlineStyle") == "solid"
    tab.page.keyboard.press("Enter")
    assert tab.field("Logits").input_value() == "1, 2, 3"
    assert_page_matches_softmaxkit(tab, [1, 2, 3], 1.0)


@pytest.mark.parametrize(
    ("scheme", "background"), [("light", "rgb(245, 246, 248)"), ("dark", "rgb(15, 18, 22)")]
)
def test_the_theme_follows_the_system(tab, tmp_path, scheme, background):
    tab.page.emulate_media(color_scheme=scheme)
    assert tab.page.evaluate("getComputedStyle(document.body).backgroundColor") == background
    tab.page.screenshot(path=tmp_path / f"{scheme}.png", full_page=True)


def test_a_phone_width_screen_needs_no_sideways_scrolling(tab, tmp_path):
    tab.page.set_viewport_size({"width": 375, "height": 800})
    tab.wait_until("document.querySelector('#bars svg').getAttribute('width') <= 375")
    assert tab.page.evaluate("document.documentElement.scrollWidth") <= 375
    widths = tab.page.evaluate(
        "Array.from(document.querySelectorAll('.chart svg')).map(s => s.getBoundingClientRect().right)"
    )
    assert max(widths) <= 375
    tab.page.screenshot(path=tmp_path / "phone.png", full_page=True)


def test_the_charts_draw_a_bar_and_a_curve_per_class(tab):
    counts = tab.page.evaluate("""() => ({
        logitBars: document.querySelectorAll('#bars .logit-bar').length,
        probBars: document.querySelectorAll('#bars .prob-bar').length,
        curves: document.querySelectorAll('#temperature-chart .curve').length,
        lossPoints: document.querySelectorAll('#loss-chart .dot').length,
    })""")
    assert counts == {"logitBars": 3, "probBars": 3, "curves": 3, "lossPoints": 3}


READ_PROBABILITY_BARS = """() => Array.from(document.querySelectorAll('#bars .prob-bar')).map(
    bar => [Number(bar.getAttribute('x')), Number(bar.getAttribute('width'))])"""

READ_CURVES = """() => Array.from(document.querySelectorAll('#temperature-chart .curve')).map(
    path => path.getAttribute('d'))"""


@pytest.mark.parametrize(
    ("logits", "temperature"),
    [([4.8, 1.21, 2.385], 1.0), ([0.3, 1.9, 1.2, -0.4], 2.5), ([2.0, 2.0, -1.0], 0.7)],
    ids=["dog-cat-bird", "four", "tie"],
)
def test_the_probability_bars_are_as_long_as_the_probabilities(tab, explorer, logits, temperature):
    # What the chart shows, not how many elements it has: every bar starts at
    # the same place and its length is p times the length of a bar of p = 1.
    tab.open(f"{explorer}#{explorer_page.state_fragment(logits, temperature=temperature)}")
    bars = np.array(tab.page.evaluate(READ_PROBABILITY_BARS))
    p = sk.softmax(np.array(logits), temperature=temperature)
    assert len(bars) == len(p)
    assert np.ptp(bars[:, 0]) == 0
    full_length = bars[:, 1] / p
    assert np.ptp(full_length) <= 1e-6 * full_length.max()
    assert full_length.min() > 100  # a readable chart, not a degenerate one


def curve_points(d: str) -> np.ndarray:
    """The (x, y) points of an SVG path of M/L commands."""
    return np.array(re.findall(r"[ML]\s*(-?[\d.]+)[ ,]+(-?[\d.]+)", d), dtype=float)


def test_the_temperature_curves_go_from_one_hot_when_cold_to_uniform_when_hot(tab, explorer):
    # At the cold end of the axis softmax is the one-hot argmax; at the hot end
    # it is nearly uniform: the curves must show both, whichever way x runs.
    logits = [4.8, 1.21, 2.385]
    tab.open(f"{explorer}#{explorer_page.state_fragment(logits, temperature=1.0)}")
    curves = [curve_points(d) for d in tab.page.evaluate(READ_CURVES)]
    assert len(curves) == 3
    for curve in curves:
        assert np.all(np.diff(curve[:, 0]) > 0), "x grows along each curve"
    cold = np.array([curve[0, 1] for curve in curves])  # the leftmost point: the smallest T
    hot = np.array([curve[-1, 1] for curve in curves])
    # Screen y grows downwards: the argmax's curve is highest (smallest y) when cold.
    top, bottom = cold.min(), cold.max()
    assert np.argmin(cold) == int(np.argmax(logits))
    assert np.sum(cold == bottom) == 2  # the two others at p = 0
    height = bottom - top  # the chart's p = 0 to p = 1
    assert np.ptp(hot) <= 0.01 * height, "nearly uniform at the hot end"
    assert abs(hot.mean() - (bottom - height / 3)) <= 0.01 * height


# ---------------------------------------------------------------------------- the exported file


@pytest.fixture
def exported(tmp_path):
    target = tmp_path / "softmax.html"
    assert main(["explore", "0.95", "0.99", "0.98", "--beta", "500", "--export", str(target)]) == 0
    return target


def test_the_exported_file_works_from_a_file_url(browser, exported, tmp_path):
    offline = Tab(browser, "file://")
    offline.open(exported.as_uri())
    assert_page_matches_softmaxkit(offline, [0.95, 0.99, 0.98], 0.002)
    offline.field("Logits").fill("1 2 3")
    offline.field("Temperature T").fill("4")
    assert_page_matches_softmaxkit(offline, [1, 2, 3], 4.0)
    assert offline.page.url == f"{exported.as_uri()}#z=1,2,3&T=4"
    offline.page.screenshot(path=tmp_path / "exported.png", full_page=True)
    offline.page.close()
    assert offline.problems == []


def test_the_exported_file_reproduces_a_link(browser, exported):
    offline = Tab(browser, "file://")
    offline.open(exported.as_uri() + "#z=2,2,1&names=a,b,c&T=0.5")
    assert_page_matches_softmaxkit(offline, [2, 2, 1], 0.5, names=["a", "b", "c"])
    offline.page.close()
    assert offline.problems == []


# ---------------------------------------------------------------------------- the page's functions


def test_js_softmax_agrees_with_softmaxkit_to_a_few_ulps(js, rng):
    cases = []
    for scale in [1.0, 30.0, 700.0, 1e5, 1e300]:
        for size in [1, 2, 3, 7, 8, 9, 16, 100, 129, 300]:
            for temperature in [1.0, 0.37, 1e-3, 250.0]:
                cases.append((list(rng.standard_normal(size) * scale), temperature))
    results = js.evaluate(
        "cases => cases.map(([z, t]) => softmaxExplorer.softmax(z, t))", cases
    )
    for (z, temperature), result in zip(cases, results):
        expected = sk.softmax(np.array(z), temperature=temperature)
        np.testing.assert_allclose(result, expected, rtol=4 * 2.0**-52, atol=0)


def test_js_explain_losses_and_entropy_agree_with_softmaxkit(js, rng):
    z = list(rng.standard_normal(50) * 20)
    model = js.evaluate("z => softmaxExplorer.explain(z, 0.8)", z)
    log_p = sk.log_softmax(np.array(z), temperature=0.8)
    np.testing.assert_allclose(model["losses"], -log_p, rtol=4 * 2.0**-52)
    p = sk.softmax(np.array(z), temperature=0.8)
    assert model["entropy"] == pytest.approx(-np.sum(p * log_p), rel=1e-14)
    assert model["logTotal"] == pytest.approx(float(sk.logsumexp(np.array(z) / 0.8)), rel=1e-15)


def test_js_pairwise_sum_is_numpy_sum_bit_for_bit(js, rng):
    arrays = [list(rng.standard_normal(n) * 10.0 ** rng.integers(-5, 20, size=n)) for n in range(1, 400, 7)]
    sums = js.evaluate("arrays => arrays.map(a => softmaxExplorer.pairwiseSum(a))", arrays)
    # Playwright hands a whole-number double over as an int parsed from its shortest decimal.
    assert [float(s) for s in sums] == [float(np.sum(np.array(a))) for a in arrays]


FORMAT_VALUES = [
    1234565.0, 50.125, 0.125, 2.5, 99.99995, 999999.5, 0.0001, 0.00001, 1e-5, 123456.5, 1e16,
    5e-324, 1.7976931348623157e308, -0.5, -1234565.0, 0.1, 1 / 3, 100.0, 9.9995, 1e21,
]


@pytest.mark.parametrize("significant", [3, 4, 6])
def test_js_format_g_is_python_format_g_on_ties_and_extremes(js, significant):
    shown = js.evaluate(f"xs => xs.map(x => softmaxExplorer.formatG(x, {significant}))", FORMAT_VALUES)
    assert shown == [format(x, f".{significant}g") for x in FORMAT_VALUES]


@given(st.floats(allow_nan=False, allow_infinity=False).filter(lambda x: x != 0))
def test_js_format_g_is_python_format_g(js, x):
    assert js.evaluate("x => softmaxExplorer.formatG(x, 6)", x) == format(x, ".6g")


@given(st.floats(min_value=-1e16, max_value=1e16))
def test_js_format_exp_is_the_cli_format_exp(js, log_value):
    assert js.evaluate("v => softmaxExplorer.formatExp(v)", log_value) == format_exp(log_value)


@pytest.mark.parametrize("token", ["1", "-2.5", "+3", ".5", "5.", "1e3", "1E-3", "-1e+308", "1e400",
                                   "inf", "-inf", "+Infinity", "NaN", "∞", "−4"])
def test_js_reads_numbers_as_python_float_does(js, token):
    value = js.evaluate("t => softmaxExplorer.parseNumber(t)", token)
    expected = float(token.replace("∞", "inf").replace("−", "-"))
    assert value == expected or (math.isnan(value) and math.isnan(expected))


@pytest.mark.parametrize("token", ["0x10", "1_000", "", "e5", "1e", "--1", "1.2.3", "infinite", "nan1"])
def test_js_refuses_what_is_not_a_number(js, token):
    assert js.evaluate("t => softmaxExplorer.parseNumber(t)", token) is None


def test_js_and_python_share_the_logit_limit(js):
    limit = explorer_page.MAX_LOGITS
    accepted = js.evaluate("n => softmaxExplorer.parseLogits(Array(n).fill('1').join(' '))", limit)
    refused = js.evaluate("n => softmaxExplorer.parseLogits(Array(n).fill('1').join(' '))", limit + 1)
    assert len(accepted["values"]) == limit
    assert refused["error"] == f"At most {limit} logits, got {limit + 1}."


def test_screenshots_are_saved(tab, tmp_path):
    path = Path(tmp_path / "explicit.png")
    tab.page.screenshot(path=path)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
