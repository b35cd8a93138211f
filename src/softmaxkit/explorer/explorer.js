/* softmax explorer: softmax of a few logits, computed in the browser and drawn with SVG.
 *
 * The numbers follow softmaxkit.softmax exactly in method, not just in spirit: the same
 * max-shift with its rounding error recovered by TwoSum, the same k + t split of the
 * normaliser, NumPy's pairwise summation, and the same edge-case policy (softmaxkit/_stable.py):
 * +inf entries share the mass, an all -inf row gives zeros, a NaN makes its row NaN, and no
 * finite input overflows. e^(βz) is shown from its logarithm, so e^(475) reads 1.95e+206.
 *
 * No network and no libraries: the page works from a file:// URL.
 */
(function () {
  'use strict';

  var MAX_LOGITS = 100000;
  // Past this many logits the table lists the largest ones (the charts group as below).
  var TABLE_ROWS = 1000;
  var SLIDER_MIN = -4; // log10 of the slider's temperature range, 1e-4 ... 1e4
  var SLIDER_MAX = 4;
  // Up to MAX_ROWS classes every class has its bar and curve; past it the TOP_ROWS most
  // probable ones and one "others" row and curve (as softmaxkit.plot draws them).
  var MAX_ROWS = 30;
  var TOP_ROWS = 20;
  var CURVE_POINTS = 241; // fewer past 4,000 logits, so that a drag stays quick
  var LOSS_Y_MAX = 5; // -log p axis of the loss chart; larger losses are marked at the top
  var SVG_NS = 'http://www.w3.org/2000/svg';

  // ------------------------------------------------------------------ parsing

  var DECIMAL = /^[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:e[+-]?\d+)?$/i;
  var INFINITE = /^([+-]?)(?:inf|infinity|\u221e)$/i;
  var NOT_A_NUMBER = /^[+-]?nan$/i;

  /** One number: a decimal, inf or nan as Python's float() reads them (without its
   *  underscores), plus ∞ and the minus sign −; null if not a number. */
  function parseNumber(token) {
    var text = token.replace(/\u2212/g, '-');
    if (DECIMAL.test(text)) return Number(text);
    var infinite = INFINITE.exec(text);
    if (infinite) return infinite[1] === '-' ? -Infinity : Infinity;
    if (NOT_A_NUMBER.test(text)) return NaN;
    return null;
  }

  /** Tokens separated by commas or white space; a pasted [1, 2, 3] loses its brackets. */
  function splitList(text) {
    var inner = text.trim().replace(/^[[(]/, '').replace(/[\])]$/, '');
    return inner.split(/[\s,]+/).filter(function (token) { return token.length > 0; });
  }

  /** {values} or {error}: the logits typed by the user. */
  function parseLogits(text) {
    var tokens = splitList(text);
    if (tokens.length === 0) {
      return { error: 'Enter at least one logit: numbers separated by commas or spaces.' };
    }
    if (tokens.length > MAX_LOGITS) {
      return { error: 'At most ' + MAX_LOGITS + ' logits, got ' + tokens.length + '.' };
    }
    var values = [];
    for (var i = 0; i < tokens.length; i++) {
      var value = parseNumber(tokens[i]);
      if (value === null) return { error: '\u201c' + tokens[i] + '\u201d is not a number.' };
      if (!isFinite(value) && value === value && !INFINITE.test(tokens[i].replace(/\u2212/g, '-'))) {
        // A decimal beyond the largest double (1e309) would silently become \u00b1\u221e.
        return { error: '\u201c' + tokens[i] + '\u201d is beyond the largest number (1.8e308) and ' +
          'would become ' + (value < 0 ? '\u2212' : '') + '\u221e; write ' + (value < 0 ? '-' : '') +
          'inf if that is meant.' };
      }
      values.push(value);
    }
    return { values: values };
  }

  /** Class names: split on commas if there is one (so names may hold spaces), else on spaces. */
  function parseNames(text) {
    var trimmed = text.trim();
    if (trimmed === '') return [];
    var parts = trimmed.indexOf(',') >= 0 ? trimmed.split(',') : trimmed.split(/\s+/);
    return parts.map(function (name) { return name.trim(); });
  }

  /** {value} or {error}: a finite number > 0, as softmaxkit's temperature check demands. */
  function parsePositive(text, what) {
    var trimmed = text.trim();
    if (trimmed === '') return { error: what + ' is empty: enter a number > 0.' };
    var value = parseNumber(trimmed);
    if (value === null) return { error: '\u201c' + trimmed + '\u201d is not a number.' };
    if (!(isFinite(value) && value > 0)) {
      return { error: what + ' must be a finite number > 0, got ' + formatG(value, 6) + '.' };
    }
    return { value: value };
  }

  function parseTemperature(text) {
    return parsePositive(text, 'Temperature');
  }

  function parseBeta(text) {
    var parsed = parsePositive(text, '\u03b2');
    if (parsed.error) return parsed;
    var temperature = 1 / parsed.value;
    if (!isFinite(temperature)) {
      return { error: '\u03b2 = ' + formatG(parsed.value, 6) + ' is too small: T = 1/\u03b2 is infinite.' };
    }
    return { value: temperature };
  }

  // ------------------------------------------------------------------ numerics

  /** The exact rounding error of s = a + b (Knuth's TwoSum). */
  function twoSumError(a, b, s) {
    var bVirtual = s - a;
    var aVirtual = s - bVirtual;
    return (a - aVirtual) + (b - bVirtual);
  }

  /** NumPy's pairwise summation (numpy/_core/src/umath/loops_utils.h.src), so that sums
   *  round the same way as np.sum on a contiguous float64 array. */
  function pairwiseSum(values, start, count) {
    if (start === undefined) { start = 0; count = values.length; }
    var i, sum;
    if (count < 8) {
      sum = -0;
      for (i = 0; i < count; i++) sum += values[start + i];
      return sum;
    }
    if (count <= 128) {
      var r = values.slice(start, start + 8);
      var end = count - (count % 8);
      for (i = 8; i < end; i += 8) {
        for (var j = 0; j < 8; j++) r[j] += values[start + i + j];
      }
      sum = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
      for (i = end; i < count; i++) sum += values[start + i];
      return sum;
    }
    var half = Math.floor(count / 2);
    half -= half % 8;
    return pairwiseSum(values, start, half) + pairwiseSum(values, start + half, count - half);
  }

  /** z - max(z) and what softmax, log_softmax and logsumexp derive from it: a port of
   *  softmaxkit._stable.shift_by_max with compensate=True, for one row. */
  function shiftByMax(z) {
    var n = z.length;
    var work = new Array(n);
    var nanRow = false;
    var zmax = -Infinity;
    for (var i = 0; i < n; i++) {
      var v = z[i];
      if (v !== v) { nanRow = true; v = -Infinity; }
      work[i] = v;
      if (v > zmax) zmax = v;
    }
    var hasPosInf = zmax === Infinity;
    var shift = isFinite(zmax) ? zmax : 0;
    // Below `lowest`, z - shift would overflow: the library writes -inf there.
    var lowest = (shift > 0 ? shift : 0) - Number.MAX_VALUE;
    var diff = new Array(n);
    var diffLo = new Array(n);
    var expDiff = new Array(n);
    var counted = new Array(n); // exp_diff off the maximum; 0 at it
    var k = 0;
    for (i = 0; i < n; i++) {
      var d;
      var lo = 0;
      if (hasPosInf) {
        d = work[i] === Infinity ? 0 : -Infinity;
      } else if (work[i] < lowest) {
        d = -Infinity;
      } else {
        d = work[i] - shift;
        lo = twoSumError(work[i], -shift, d);
      }
      var e = Math.exp(d);
      e = e + e * lo;
      diff[i] = d;
      diffLo[i] = lo;
      expDiff[i] = e;
      if (d === 0) k += 1;
      counted[i] = d === 0 ? 0 : e;
    }
    var t = pairwiseSum(counted);
    var norm = k + t;
    var logNorm = k > 0 ? Math.log(k) + Math.log1p(t / k) : (norm > 0 ? Math.log(norm) : -Infinity);
    return {
      diff: diff, diffLo: diffLo, expDiff: expDiff, norm: norm, logNorm: logNorm,
      shift: hasPosInf ? Infinity : shift, nanRow: nanRow,
    };
  }

  function softmaxFrom(s) {
    var normSafe = s.norm > 0 ? s.norm : 1;
    return s.expDiff.map(function (e) { return s.nanRow ? NaN : e / normSafe; });
  }

  function logSoftmaxFrom(s) {
    var logNormSafe = s.norm > 0 ? s.logNorm : 0;
    return s.diff.map(function (d, i) {
      // (d - L) + d_lo: d <= 0 and L >= 0, so d - L never cancels.
      return s.nanRow ? NaN : (d - logNormSafe) + s.diffLo[i];
    });
  }

  /** softmax(z / temperature), as softmaxkit.softmax(z, temperature=temperature). */
  function softmax(z, temperature) {
    return softmaxFrom(shiftByMax(scaleForSoftmax(z, temperature).values));
  }

  function scale(z, temperature) {
    return temperature === 1 ? z.slice() : z.map(function (v) { return v / temperature; });
  }

  /** z / temperature as softmaxkit divides it (_stable.divide_by_temperature): where a finite
   *  quotient exceeds half the largest double, the row is first shifted by its largest finite
   *  entry c, as 2 * ((z / 2 - c / 2) / T). Returns the values, whose softmax is softmax(z / T),
   *  and the offset c / T that logsumexp(z / T) adds back. */
  function scaleForSoftmax(z, temperature) {
    var halfLimit = 0.5 * Number.MAX_VALUE * Math.min(temperature, 2);
    var overflows = z.some(function (v) { return isFinite(v) && Math.abs(v) > halfLimit; });
    if (!overflows) return { values: scale(z, temperature), offset: 0 };
    var c = -Infinity;
    z.forEach(function (v) { if (isFinite(v) && v > c) c = v; });
    var values = z.map(function (v) {
      var half = 0.5 * v - 0.5 * c;
      if (Math.abs(half) > halfLimit) return half > 0 ? Infinity : -Infinity;
      return 2 * (half / temperature);
    });
    return { values: values, offset: c / temperature };
  }

  /** One-hot of the first argmax, as softmaxkit.hardmax: zeros for an all -inf row, NaN for a NaN row. */
  function hardmax(z) {
    var best = -1;
    var nanRow = false;
    for (var i = 0; i < z.length; i++) {
      if (z[i] !== z[i]) nanRow = true;
      else if (z[i] > -Infinity && (best < 0 || z[i] > z[best])) best = i;
    }
    return z.map(function (v, j) { return nanRow ? NaN : (j === best ? 1 : 0); });
  }

  /** z - max(z) on the logits as typed, with the library's limits: where the maximum is +inf
   *  the +inf entries are at 0 and the rest at -inf; an all -inf row is all -inf. */
  function shiftedLogits(z) {
    var zmax = -Infinity;
    z.forEach(function (v) { if (v > zmax) zmax = v; });
    return z.map(function (v) {
      if (v !== v) return NaN;
      if (zmax === Infinity) return v === Infinity ? 0 : -Infinity;
      if (zmax === -Infinity) return -Infinity;
      return v - zmax;
    });
  }

  /** Everything the page shows for logits z at a temperature: the explain table and its totals. */
  function explain(z, temperature) {
    var scaled = scale(z, temperature);
    var forSoftmax = scaleForSoftmax(z, temperature);
    var s = shiftByMax(forSoftmax.values);
    var p = softmaxFrom(s);
    var logp = logSoftmaxFrom(s);
    var plogp = p.map(function (pi, i) { return pi * (pi > 0 ? logp[i] : 0); });
    var entropy = -pairwiseSum(plogp) + 0; // + 0 turns -0 into 0
    var oneHot = hardmax(z);
    return {
      logits: z.slice(),
      temperature: temperature,
      beta: 1 / temperature,
      shifted: shiftedLogits(z),
      scaled: scaled, // βz, the natural log of e^(βz)
      probabilities: p,
      oneHot: oneHot,
      losses: logp.map(function (lp) { return -lp + 0; }),
      logTotal: s.nanRow ? NaN : forSoftmax.offset + (s.shift + s.logNorm),
      totalProbability: pairwiseSum(p),
      totalOneHot: pairwiseSum(oneHot),
      entropy: entropy,
      effectiveClasses: Math.exp(entropy),
      nanRow: s.nanRow,
    };
  }

  // ------------------------------------------------------------------ formatting

  function pad2(n) {
    return n < 10 ? '0' + n : String(n);
  }

  /** Whether x is exactly a decimal of at most `significant` significant digits. A double's
   *  decimal expansion is finite; toPrecision(100) shows all of it when it is that short. */
  function isShortDecimal(x, significant) {
    var digits = x.toPrecision(100).split('e')[0].replace(/[-.]/g, '').replace(/^0+/, '');
    return /^0*$/.test(digits.slice(significant));
  }

  /** The digits and decimal exponent of x rounded to `significant` digits, ties to even as
   *  Python rounds (toExponential rounds ties away from zero: 1234565 -> 1.23457e+6). */
  function roundDecimal(x, significant) {
    var text = Math.abs(x).toExponential(significant - 1);
    var longer = Math.abs(x).toExponential(significant);
    if (longer.split('e')[0].slice(-1) === '5' && isShortDecimal(x, significant + 1)) {
      var down = longer.split('e')[0].slice(0, -1).replace(/\.$/, '') + 'e' + longer.split('e')[1];
      var lastDown = Number(down.split('e')[0].slice(-1));
      if (lastDown % 2 === 0) text = Number(down).toExponential(significant - 1);
    }
    var parts = text.split('e');
    return { digits: parts[0].replace('.', ''), exponent: Number(parts[1]), negative: x < 0 };
  }

  /** Python's format(x, '.Ng') digit for digit, with ∞, -∞ and NaN spelled as on the page. */
  function formatG(x, significant) {
    if (x !== x) return 'NaN';
    if (x === Infinity) return '\u221e';
    if (x === -Infinity) return '-\u221e';
    if (x === 0) return '0';
    var r = roundDecimal(x, significant);
    var sign = r.negative ? '-' : '';
    var e = r.exponent;
    if (e < -4 || e >= significant) {
      var mantissa = stripZeros(r.digits[0] + '.' + r.digits.slice(1));
      return sign + mantissa + 'e' + (e < 0 ? '-' : '+') + pad2(Math.abs(e));
    }
    var fixed = e >= 0 ?
      r.digits.slice(0, e + 1) + '.' + r.digits.slice(e + 1) :
      '0.' + '0'.repeat(-e - 1) + r.digits;
    return sign + stripZeros(fixed);
  }

  function stripZeros(text) {
    return text.indexOf('.') < 0 ? text : text.replace(/0+$/, '').replace(/\.$/, '');
  }

  /** x rounded to two decimals, ties to even, as Python's round(x, 2) (for 1 <= x < 10). */
  function round2(x) {
    var r = roundDecimal(x, 3);
    return Number(r.digits) / 100 * Math.pow(10, r.exponent);
  }

  /** e^logValue in scientific notation with 3 significant digits, never overflowing: a port of
   *  softmaxkit.cli.explain.format_exp (e^475 -> 1.95e+206, e^1e6 -> 3.03e+434294). */
  function formatExp(logValue) {
    if (logValue !== logValue) return 'NaN';
    if (logValue === Infinity) return '\u221e';
    if (logValue === -Infinity) return '0';
    var log10 = logValue / Math.LN10;
    var exponent = Math.floor(log10);
    if (Math.abs(log10) >= 1e13) {
      // The fractional part of log10 no longer holds three digits.
      return '10^(' + formatG(log10, 6) + ')';
    }
    var mantissa = round2(Math.pow(10, log10 - exponent));
    if (mantissa >= 10) {
      mantissa /= 10;
      exponent += 1;
    }
    return mantissa.toFixed(2) + 'e' + (exponent < 0 ? '-' : '+') + pad2(Math.abs(exponent));
  }

  /** A probability as a percentage with 4 significant digits: 99.33, 0.6693, 2.04e-07. */
  function formatPercent(p) {
    return formatG(100 * p, 4);
  }

  /** A number as it goes into the URL: shortest round trip, inf/-inf/nan spelled out. */
  function numberToken(v) {
    if (v !== v) return 'nan';
    if (v === Infinity) return 'inf';
    if (v === -Infinity) return '-inf';
    return String(v).replace('e+', 'e');
  }

  // ------------------------------------------------------------------ state and URL

  /** The URL fragment that reproduces a view: z=...&names=...&T=... */
  function encodeState(state) {
    var parts = ['z=' + state.logits.map(numberToken).join(',')];
    if (state.names.length > 0) {
      parts.push('names=' + state.names.map(encodeURIComponent).join(','));
    }
    parts.push('T=' + numberToken(state.temperature));
    return parts.join('&');
  }

  /** The fields a fragment sets, as the text to put in each input (missing ones left out). */
  function decodeFragment(fragment) {
    var fields = {};
    fragment.replace(/^#/, '').split('&').forEach(function (pair) {
      if (pair === '') return;
      var eq = pair.indexOf('=');
      var key = eq < 0 ? pair : pair.slice(0, eq);
      var raw = eq < 0 ? '' : pair.slice(eq + 1);
      // Split before decoding, so that an escaped comma (%2C) stays inside its item.
      var items = raw.split(',').map(decodeItem);
      if (key === 'z') fields.logits = items.join(', ');
      else if (key === 'names') fields.names = items.join(', ');
      else if (key === 'T') fields.temperature = items.join(',');
    });
    return fields;
  }

  function decodeItem(raw) {
    try {
      return decodeURIComponent(raw.replace(/\+/g, ' '));
    } catch (err) {
      return raw; // a malformed %-escape: shown as typed, and validation speaks
    }
  }

  // ------------------------------------------------------------------ SVG helpers

  function svg(name, attrs, parent) {
    var node = document.createElementNS(SVG_NS, name);
    Object.keys(attrs || {}).forEach(function (key) { node.setAttribute(key, attrs[key]); });
    if (parent) parent.appendChild(node);
    return node;
  }

  function svgText(content, attrs, parent) {
    var node = svg('text', attrs, parent);
    node.textContent = content;
    return node;
  }

  function tooltip(node, text) {
    svg('title', {}, node).textContent = text;
  }

  function newChart(container, width, height, label) {
    var root = svg('svg', {
      width: width, height: height, viewBox: '0 0 ' + width + ' ' + height,
      role: 'img', 'aria-label': label,
    });
    container.replaceChildren(root);
    return root;
  }

  /** Round, evenly spaced tick values covering [lo, hi]: steps of 1, 2 or 5 times a power of 10. */
  function niceTicks(lo, hi, count) {
    var span = hi - lo;
    if (!(span > 0) || !isFinite(span)) return [lo];
    var raw = span / count;
    var power = Math.pow(10, Math.floor(Math.log10(raw)));
    var step = [1, 2, 5, 10].map(function (m) { return m * power; })
      .find(function (s) { return s >= raw; });
    var ticks = [];
    for (var t = Math.ceil(lo / step) * step; t <= hi + step * 1e-9; t += step) {
      ticks.push(Math.abs(t) < step * 1e-9 ? 0 : t);
    }
    return ticks;
  }

  var PALETTE_SIZE = 10;

  function colorClass(i) {
    return 'c' + (i % PALETTE_SIZE);
  }

  // ------------------------------------------------------------------ charts

  /** The classes the charts draw one by one: all of them up to MAX_ROWS, else the TOP_ROWS
   *  with the largest logits (the most probable at every temperature; ties and NaN: lower
   *  index first, NaN last), and the rest, which the charts add up as "others". */
  function shownClasses(logits) {
    if (logits.length <= MAX_ROWS) return { top: logits.map(function (z, i) { return i; }), rest: [] };
    var order = byLogit(logits);
    return { top: order.slice(0, TOP_ROWS), rest: order.slice(TOP_ROWS) };
  }

  /** Class indices from the largest logit down (ties: lower index first; NaN last). */
  function byLogit(logits) {
    var order = logits.map(function (z, i) { return i; });
    function key(i) { return logits[i] === logits[i] ? logits[i] : -Infinity; }
    return order.sort(function (a, b) {
      if (key(a) !== key(b)) return key(a) > key(b) ? -1 : 1;
      if ((logits[a] === logits[a]) !== (logits[b] === logits[b])) return logits[a] === logits[a] ? -1 : 1;
      return a - b;
    });
  }

  /** The classes the table lists, in class order: all, or the TABLE_ROWS largest logits. */
  function tableClasses(logits) {
    if (logits.length <= TABLE_ROWS) return logits.map(function (z, i) { return i; });
    return byLogit(logits).slice(0, TABLE_ROWS).sort(function (a, b) { return a - b; });
  }

  /** The rows of the bar chart: one per shown class, then "others" (their summed p and the
   *  range of their logits) when there are more classes than rows. */
  function barRows(model, labels, shown) {
    var rows = shown.top.map(function (i) {
      return { index: i, label: labels[i], z: model.logits[i], p: model.probabilities[i], argmax: model.oneHot[i] === 1 };
    });
    if (shown.rest.length > 0) {
      var lo = Infinity;
      var hi = -Infinity;
      shown.rest.forEach(function (i) {
        var z = model.logits[i];
        if (z < lo) lo = z;
        if (z > hi) hi = z;
      });
      rows.push({
        index: null, label: shown.rest.length + ' others', z: hi, zLow: lo,
        p: pairwiseSum(shown.rest.map(function (i) { return model.probabilities[i]; })), argmax: false,
      });
    }
    return rows;
  }

  /** Logits and probabilities side by side, one row per shown class (and "others"). */
  function drawBars(container, model, rows) {
    var n = rows.length;
    var width = Math.max(280, container.clientWidth);
    var rowHeight = Math.max(18, Math.min(30, Math.floor(480 / n)));
    var top = 30;
    var bottom = 26;
    var height = top + n * rowHeight + bottom;
    var longest = rows.reduce(function (m, row) { return Math.max(m, row.label.length); }, 1);
    var labelWidth = Math.min(Math.round(width * 0.26), 18 + 7.5 * longest);
    var gap = 22;
    var panel = (width - labelWidth - gap - 8) / 2;
    var logitX0 = labelWidth;
    var probX0 = labelWidth + panel + gap;
    var root = newChart(container, width, height,
      'Bar chart of the logits and the probabilities of ' + model.logits.length + ' classes');

    svgText('logits z', { x: logitX0, y: 16, class: 'panel-title' }, root);
    svgText('probabilities p', { x: probX0, y: 16, class: 'panel-title' }, root);

    // Logit scale over the finite logits drawn and 0, with room for the value labels. Huge
    // logits (1e308) are scaled by their magnitude first so that hi - lo cannot overflow.
    var drawn = [];
    rows.forEach(function (row) {
      drawn.push(row.z);
      if (row.zLow !== undefined) drawn.push(row.zLow);
    });
    var finite = drawn.filter(isFinite);
    var lo = Math.min.apply(null, finite.concat([0]));
    var hi = Math.max.apply(null, finite.concat([0]));
    var magnitude = Math.max(Math.abs(lo), Math.abs(hi)) || 1;
    var loS = lo / magnitude;
    var hiS = hi / magnitude;
    var anyInfinite = drawn.some(function (v) { return v === Infinity || v === -Infinity; });
    if (hiS - loS === 0 || anyInfinite) { loS = Math.min(loS, -1); hiS = Math.max(hiS, 1); }
    // Room beside the bars for their value labels (up to 40% of a narrow phone panel), so
    // that every label sits at its bar's end on the same side.
    function room(negative) {
      var widest = 0;
      rows.forEach(function (row) {
        if (row.index !== null && isFinite(row.z) && (row.z < 0) === negative) {
          widest = Math.max(widest, 6.5 * formatG(row.z, 4).length + 10);
        }
      });
      return Math.min(Math.round(panel * 0.4), Math.max(8, widest));
    }
    var padLeft = loS < 0 || drawn.indexOf(-Infinity) >= 0 ? room(true) : 4;
    var padRight = room(false);
    var plotLeft = logitX0 + padLeft;
    var plotRight = logitX0 + panel - padRight;
    function xLogit(v) {
      if (v === Infinity) return logitX0 + panel - 4;
      if (v === -Infinity) return logitX0 + 4;
      return plotLeft + (v / magnitude - loS) / (hiS - loS) * (plotRight - plotLeft);
    }
    var axisY = top + n * rowHeight;
    var grid = svg('g', { class: 'grid' }, root);
    var tickCount = panel < 220 ? 2 : 4;
    var ticks = isFinite(hi - lo) ? niceTicks(loS * magnitude, hiS * magnitude, tickCount) :
      niceTicks(loS, hiS, tickCount).map(function (t) { return t * magnitude; });
    // Every tick has its grid line; a label that would touch one already placed (zero's
    // first) or leave the panel is left out.
    var placed = [];
    ticks.slice().sort(function (s, t) { return (s !== 0) - (t !== 0); }).forEach(function (t) {
      var x = xLogit(t);
      var text = formatG(t, 3);
      var half = 3.3 * text.length;
      svg('line', { x1: x, x2: x, y1: top - 4, y2: axisY, class: t === 0 ? 'zero' : '' }, grid);
      var clash = placed.some(function (span) { return x - half < span[1] + 6 && x + half > span[0] - 6; });
      if (clash || x - half < logitX0 || x + half > logitX0 + panel) return;
      placed.push([x - half, x + half]);
      svgText(text, { x: x, y: axisY + 16, class: 'tick', 'text-anchor': 'middle' }, root);
    });

    var probLeft = probX0;
    var probRight = probX0 + panel - 52;
    function xProb(p) { return probLeft + p * (probRight - probLeft); }
    (panel < 220 ? [0, 0.5, 1] : [0, 0.25, 0.5, 0.75, 1]).forEach(function (t) {
      var x = xProb(t);
      svg('line', { x1: x, x2: x, y1: top - 4, y2: axisY, class: t === 0 ? 'zero' : '' }, grid);
      svgText(formatG(100 * t, 3) + '%', { x: x, y: axisY + 16, class: 'tick', 'text-anchor': 'middle' }, root);
    });

    var barHeight = Math.max(4, rowHeight * 0.62);
    rows.forEach(function (row, r) {
      var others = row.index === null;
      var y = top + r * rowHeight + (rowHeight - barHeight) / 2;
      var yText = top + (r + 0.5) * rowHeight + 4;
      var kind = others ? 'others' : colorClass(row.index) + (row.argmax ? ' argmax' : '');
      var g = svg('g', { class: 'bar-row ' + kind, 'data-class': others ? 'others' : String(row.index) }, root);
      tooltip(g, others ?
        row.label + ': logits from ' + formatG(row.zLow, 6) + ' to ' + formatG(row.z, 6) +
          ', p together = ' + formatPercent(row.p) + '%' :
        row.label + ': z = ' + formatG(row.z, 6) + ', p = ' + formatPercent(row.p) + '%');
      svgText(clip(row.label, labelWidth), { x: labelWidth - 10, y: yText, class: 'label', 'text-anchor': 'end' }, g);
      var z = row.z;
      if (z === z) {
        var x0 = xLogit(others ? row.zLow : 0);
        var x1 = xLogit(z);
        svg('rect', {
          x: Math.min(x0, x1), y: y, width: Math.max(1, Math.abs(x1 - x0)), height: barHeight,
          rx: 2, class: others ? 'others-bar' : 'logit-bar',
        }, g);
        var value = others ? formatG(row.zLow, 3) + ' \u2026 ' + formatG(z, 3) : formatG(z, 4);
        var place = valuePlace(value, Math.min(x0, x1), Math.max(x0, x1), x1 < xLogit(0), xLogit(0),
          logitX0, logitX0 + panel);
        if (place) {
          svgText(value, { x: place.x, y: yText, class: 'value', 'text-anchor': place.anchor }, g);
        }
      } else {
        svgText('NaN', { x: xLogit(0) + 5, y: yText, class: 'value' }, g);
      }
      var p = row.p;
      if (p === p) {
        svg('rect', {
          x: probLeft, y: y, width: Math.max(p > 0 ? 1 : 0, xProb(p) - probLeft), height: barHeight,
          rx: 2, class: others ? 'others-bar' : 'prob-bar',
        }, g);
        svgText(formatPercent(p) + '%', { x: xProb(p) + 5, y: yText, class: 'value' }, g);
      } else {
        svgText('NaN', { x: probLeft + 5, y: yText, class: 'value' }, g);
      }
    });
  }

  /** Where a bar's value label fits inside its panel [left, right]: beyond the bar's end
   *  (its left end for a negative bar), else on the free side of the zero line, else left of
   *  the bar; null when nowhere (the row's tooltip still has it). */
  function valuePlace(text, barLeft, barRight, negative, zeroX, left, right) {
    var needed = 6.5 * text.length + 5;
    var options = negative ?
      [{ x: barLeft - 5, anchor: 'end', room: barLeft - left }, { x: zeroX + 5, anchor: 'start', room: right - zeroX }] :
      [{ x: barRight + 5, anchor: 'start', room: right - barRight }, { x: barLeft - 5, anchor: 'end', room: barLeft - left }];
    for (var i = 0; i < options.length; i++) {
      if (options[i].room >= needed) return options[i];
    }
    return null;
  }

  function clip(text, width) {
    var fits = Math.max(3, Math.floor((width - 14) / 7.5));
    return text.length <= fits ? text : text.slice(0, fits - 1) + '\u2026';
  }

  /** The probability of each class against temperature on a log axis, the current T marked. */
  function drawTemperatureCurve(container, model, labels, shown) {
    var width = Math.max(280, container.clientWidth);
    var height = Math.round(Math.min(340, Math.max(240, width * 0.55)));
    var margin = { left: 46, right: 14, top: 26, bottom: 48 };
    var root = newChart(container, width, height,
      'Line chart of each probability against temperature, current T = ' + formatG(model.temperature, 4));
    var logT = Math.log10(model.temperature);
    var a = Math.min(SLIDER_MIN, Math.floor(logT));
    var b = Math.max(SLIDER_MAX, Math.ceil(logT));
    var x0 = margin.left;
    var x1 = width - margin.right;
    var y0 = height - margin.bottom;
    var y1 = margin.top;
    function x(lt) { return x0 + (lt - a) / (b - a) * (x1 - x0); }
    function y(p) { return y0 - p * (y0 - y1); }

    var grid = svg('g', { class: 'grid' }, root);
    var decadeStep = Math.max(1, Math.ceil((b - a) / 6));
    for (var d = a; d <= b; d += decadeStep) {
      svg('line', { x1: x(d), x2: x(d), y1: y1, y2: y0 }, grid);
      svgText(d >= -3 && d <= 3 ? formatG(Math.pow(10, d), 6) : '1e' + d,
        { x: x(d), y: y0 + 16, class: 'tick', 'text-anchor': 'middle' }, root);
    }
    [0, 0.25, 0.5, 0.75, 1].forEach(function (p) {
      svg('line', { x1: x0, x2: x1, y1: y(p), y2: y(p), class: p === 0 ? 'zero' : '' }, grid);
      svgText(formatG(100 * p, 3) + '%', { x: x0 - 6, y: y(p) + 4, class: 'tick', 'text-anchor': 'end' }, root);
    });
    svgText('temperature T (log scale)', { x: (x0 + x1) / 2, y: height - 8, class: 'axis-title', 'text-anchor': 'middle' }, root);
    if (x1 - x0 >= 470) { // room for the hints beside the axis title
      svgText('\u2190 sharper: argmax', { x: x0, y: height - 8, class: 'hint' }, root);
      svgText('flatter: uniform \u2192', { x: x1, y: height - 8, class: 'hint', 'text-anchor': 'end' }, root);
    }

    var n = model.logits.length;
    if (model.logits.every(isFinite) && n > 1) {
      var yu = y(1 / n);
      svg('line', { x1: x0, x2: x1, y1: yu, y2: yu, class: 'uniform' }, root);
      svgText('1/K', { x: x1 - 4, y: yu - 5, class: 'hint', 'text-anchor': 'end' }, root);
    }

    // One curve per shown class, then (past MAX_ROWS classes) one for the others added up.
    var curves = shown.top.slice();
    if (shown.rest.length > 0) curves.push(null);
    var paths = curves.map(function () { return ''; });
    var pen = curves.map(function () { return false; });
    var points = Math.max(41, Math.min(CURVE_POINTS, Math.floor(1e6 / n)));
    for (var k = 0; k < points; k++) {
      var lt = a + (b - a) * k / (points - 1);
      var p = softmax(model.logits, Math.pow(10, lt));
      curves.forEach(function (cls, c) {
        var value = cls === null ? pairwiseSum(shown.rest.map(function (i) { return p[i]; })) : p[cls];
        if (value === value) {
          paths[c] += (pen[c] ? 'L' : 'M') + x(lt).toFixed(1) + ' ' + y(value).toFixed(1);
          pen[c] = true;
        } else {
          pen[c] = false;
        }
      });
    }
    var lines = svg('g', { class: 'curves' }, root);
    paths.forEach(function (path, c) {
      if (path) {
        var others = curves[c] === null;
        var line = svg('path', {
          d: path, class: others ? 'others-curve' : 'curve ' + colorClass(curves[c]),
          'data-class': others ? 'others' : String(curves[c]),
        }, lines);
        tooltip(line, others ? 'the other ' + shown.rest.length + ' classes added up' : labels[curves[c]]);
      }
    });

    var xt = x(logT);
    svg('line', { x1: xt, x2: xt, y1: y1 - 6, y2: y0, class: 'marker' }, root);
    var anchor = xt > (x0 + x1) / 2 ? 'end' : 'start';
    svgText('T = ' + formatG(model.temperature, 4), {
      x: anchor === 'end' ? xt - 6 : xt + 6, y: y1 - 10, class: 'marker-label', 'text-anchor': anchor,
    }, root);
    shown.top.forEach(function (j) {
      var pi = model.probabilities[j];
      if (pi === pi) {
        var dot = svg('circle', { cx: xt, cy: y(pi), r: 4.5, class: 'dot ' + colorClass(j) }, root);
        tooltip(dot, labels[j] + ': p = ' + formatPercent(pi) + '%');
      }
    });
    if (model.nanRow) {
      svgText('a NaN logit makes every probability NaN', { x: (x0 + x1) / 2, y: (y0 + y1) / 2, class: 'hint', 'text-anchor': 'middle' }, root);
    }

    // The transparent plot area shows a drag cursor; the page turns drags into temperatures.
    svg('rect', { x: x0, y: y1, width: x1 - x0, height: y0 - y1, class: 'hit' }, root);
    return {
      /** The temperature under a pointer at (px, py) in chart pixels, or null outside the plot. */
      temperatureAt: function (px, py, clamp) {
        if (!clamp && (px < x0 || px > x1 || py < y1 || py > y0)) return null;
        var fraction = (Math.min(x1, Math.max(x0, px)) - x0) / (x1 - x0);
        return roundSignificant(Math.pow(10, a + fraction * (b - a)), 3);
      },
    };
  }

  /** The loss -log p against p, with each class's (p, -log p) on it. */
  function drawLossCurve(container, model, labels) {
    var width = Math.max(280, container.clientWidth);
    var height = Math.round(Math.min(340, Math.max(240, width * 0.55)));
    var margin = { left: 40, right: 14, top: 26, bottom: 48 };
    var root = newChart(container, width, height,
      'The cross-entropy loss -log p against p, with a point for each class');
    var x0 = margin.left;
    var x1 = width - margin.right;
    var y0 = height - margin.bottom;
    var y1 = margin.top;
    function x(p) { return x0 + p * (x1 - x0); }
    function y(loss) { return y0 - loss / LOSS_Y_MAX * (y0 - y1); }

    var grid = svg('g', { class: 'grid' }, root);
    [0, 0.25, 0.5, 0.75, 1].forEach(function (p) {
      svg('line', { x1: x(p), x2: x(p), y1: y1, y2: y0, class: p === 0 ? 'zero' : '' }, grid);
      svgText(formatG(p, 3), { x: x(p), y: y0 + 16, class: 'tick', 'text-anchor': 'middle' }, root);
    });
    for (var l = 0; l <= LOSS_Y_MAX; l++) {
      svg('line', { x1: x0, x2: x1, y1: y(l), y2: y(l), class: l === 0 ? 'zero' : '' }, grid);
      svgText(String(l), { x: x0 - 6, y: y(l) + 4, class: 'tick', 'text-anchor': 'end' }, root);
    }
    svgText('probability p of the true class', { x: (x0 + x1) / 2, y: height - 8, class: 'axis-title', 'text-anchor': 'middle' }, root);
    svgText('loss \u2212log p', { x: x0, y: y1 - 10, class: 'axis-title' }, root);

    var path = '';
    for (var k = 0; k <= 200; k++) {
      var loss = LOSS_Y_MAX * k / 200;
      path += (k ? 'L' : 'M') + x(Math.exp(-loss)).toFixed(1) + ' ' + y(loss).toFixed(1);
    }
    svg('path', { d: path, class: 'loss-curve' }, root);

    // A loss above the axis is a triangle at the top, at its own p: never beside the others,
    // which at hundreds of classes would march off the card.
    var offChart = 0;
    tableClasses(model.logits).forEach(function (j) {
      var p = model.probabilities[j];
      var loss = model.losses[j];
      if (p !== p) return;
      var text = labels[j] + ': p = ' + formatPercent(p) + '%, \u2212log p = ' + formatG(loss, 6);
      if (loss <= LOSS_Y_MAX) {
        tooltip(svg('circle', { cx: x(p), cy: y(loss), r: 5, class: 'dot ' + colorClass(j) }, root), text);
      } else {
        offChart += 1;
        var marker = svg('path', {
          d: 'M' + x(p) + ' ' + (y1 - 2) + 'l-5 9h10z', class: 'dot ' + colorClass(j),
        }, root);
        tooltip(marker, text);
      }
    });
    if (offChart > 0) {
      svgText('\u25b2 ' + (offChart === 1 ? 'loss' : offChart + ' losses') + ' above ' + LOSS_Y_MAX +
        ' (see the table)', { x: x1, y: y1 - 10, class: 'hint', 'text-anchor': 'end' }, root);
    }
  }

  function roundSignificant(value, digits) {
    return Number(value.toPrecision(digits));
  }

  // ------------------------------------------------------------------ the page

  function $(id) {
    return document.getElementById(id);
  }

  function setError(id, message) {
    var field = $(id);
    var box = $(id + '-error');
    if (message) {
      box.textContent = message;
      box.hidden = false;
      field.setAttribute('aria-invalid', 'true');
    } else {
      box.textContent = '';
      box.hidden = true;
      field.removeAttribute('aria-invalid');
    }
  }

  function classLabels(names, n) {
    var labels = [];
    for (var i = 0; i < n; i++) labels.push(i < names.length && names[i] !== '' ? names[i] : String(i));
    return labels;
  }

  /** A number's text with a line-break opportunity before its exponent and after "10^(",
   *  so that a phone's table fits its card; a <wbr> adds no text, so the cell reads the same. */
  function setNumberText(node, text) {
    node.textContent = '';
    text.split(/(?=e[+-])|(?<=\^\()/).forEach(function (part, i) {
      if (i > 0) node.appendChild(document.createElement('wbr'));
      var piece = document.createElement('span');
      piece.className = 'nobreak'; // never at the minus sign of e-07
      piece.textContent = part;
      node.appendChild(piece);
    });
  }

  function cell(row, text, col, title) {
    var td = document.createElement('td');
    setNumberText(td, text);
    if (col) td.dataset.col = col;
    if (title) td.title = title;
    row.appendChild(td);
    return td;
  }

  function fillTable(model, labels) {
    $('steps-caption').textContent = 'softmax of ' + model.logits.length +
      (model.logits.length === 1 ? ' logit' : ' logits') + ' at T = ' +
      formatG(model.temperature, 6) + ' (\u03b2 = ' + formatG(model.beta, 6) + ')';
    var body = document.createElement('tbody');
    var listed = tableClasses(model.logits);
    $('steps-note').textContent = listed.length === model.logits.length ? '' :
      'The table lists the ' + listed.length + ' largest of ' + model.logits.length +
      ' logits; its total row is over all of them.';
    listed.forEach(function (i) {
      var z = model.logits[i];
      var tr = document.createElement('tr');
      if (model.oneHot[i] === 1) tr.className = 'argmax';
      var th = document.createElement('th');
      th.scope = 'row';
      var swatch = document.createElement('span');
      swatch.className = 'swatch ' + colorClass(i);
      swatch.setAttribute('aria-hidden', 'true');
      th.appendChild(swatch);
      th.appendChild(document.createTextNode(labels[i]));
      tr.appendChild(th);
      cell(tr, formatG(z, 6), 'z');
      cell(tr, formatG(model.shifted[i], 6), 'shifted');
      cell(tr, formatExp(model.scaled[i]), 'exp');
      cell(tr, formatPercent(model.probabilities[i]), 'p', 'p = ' + model.probabilities[i]);
      cell(tr, model.oneHot[i] === model.oneHot[i] ? String(model.oneHot[i]) : 'NaN', 'argmax');
      cell(tr, formatG(model.losses[i], 6), 'loss', '\u2212log p = ' + model.losses[i]);
      body.appendChild(tr);
    });
    $('steps').replaceChild(body, $('steps').tBodies[0]);
    setNumberText($('total-exp'), formatExp(model.logTotal));
    $('total-p').textContent = formatPercent(model.totalProbability);
    $('total-argmax').textContent = formatG(model.totalOneHot, 6);
  }

  function fillSummary(model, labels) {
    var n = model.logits.length;
    $('entropy').textContent = formatG(model.entropy, 6);
    $('entropy-max').textContent = formatG(Math.log(n), 4);
    $('effective').textContent = formatG(model.effectiveClasses, 6);
    $('class-count').textContent = String(n);
    var fraction = model.effectiveClasses === model.effectiveClasses ? model.effectiveClasses / n : 0;
    $('effective-meter').style.width = (100 * Math.min(1, Math.max(0, fraction))).toFixed(2) + '%';
    var best = model.oneHot.indexOf(1);
    $('top-class').textContent = best >= 0 ? labels[best] : '\u2014';
    $('top-p').textContent = best >= 0 ? 'p = ' + formatPercent(model.probabilities[best]) + '%' : (model.nanRow ? 'a NaN: every p is NaN' : 'all \u2212\u221e: every p is 0');
    $('logsumexp').textContent = formatG(model.logTotal, 6);
  }

  function namesNote(names, n) {
    if (names.length === 0 || names.length === n) return '';
    if (names.length < n) {
      return names.length + ' names for ' + n + ' logits: the others are numbered.';
    }
    var unused = names.length - n;
    return names.length + ' names for ' + n + ' logits: the last ' +
      (unused === 1 ? 'one is' : unused + ' are') + ' not used.';
  }

  function start() {
    var logitsField = $('logits');
    var namesField = $('names');
    var temperatureField = $('temperature');
    var betaField = $('beta');
    var slider = $('temperature-slider');
    var defaults = decodeFragment($('initial-state').content);
    var state = {
      logits: parseLogits(defaults.logits || '').values || [1, 2, 3],
      names: parseNames(defaults.names || ''),
      temperature: parseTemperature(defaults.temperature || '').value || 1,
    };
    var model = null;
    var temperatureChart = null;

    function syncTemperatureControls(source) {
      var t = state.temperature;
      if (source !== 'slider') {
        slider.value = String(Math.min(SLIDER_MAX, Math.max(SLIDER_MIN, Math.log10(t))));
      }
      slider.setAttribute('aria-valuetext', 'T = ' + formatG(t, 4));
      if (source !== 'temperature') temperatureField.value = formatG(t, 6);
      if (source !== 'beta') betaField.value = formatG(1 / t, 6);
      if (source !== 'temperature' && source !== 'beta') {
        setError('temperature', '');
        setError('beta', '');
      }
    }

    function render() {
      model = explain(state.logits, state.temperature);
      var labels = classLabels(state.names, state.logits.length);
      $('names-note').textContent = namesNote(state.names, state.logits.length);
      fillTable(model, labels);
      fillSummary(model, labels);
      drawCharts(labels);
      history.replaceState(null, '', '#' + encodeState(state));
    }

    function drawCharts(labels) {
      var shown = shownClasses(model.logits);
      drawBars($('bars'), model, barRows(model, labels, shown));
      $('bars-note').textContent = shown.rest.length === 0 ? '' :
        'The ' + shown.top.length + ' largest of ' + model.logits.length + ' logits; the last ' +
        'row adds up the other ' + shown.rest.length + ' (their probabilities, the range of ' +
        'their logits). ' + (model.logits.length <= TABLE_ROWS ? 'The table has every class.' :
          'The table lists the ' + TABLE_ROWS + ' largest.');
      temperatureChart = drawTemperatureCurve($('temperature-chart'), model, labels, shown);
      drawLossCurve($('loss-chart'), model, labels);
    }

    function readLogits() {
      var parsed = parseLogits(logitsField.value);
      setError('logits', parsed.error);
      if (parsed.error) return false;
      state.logits = parsed.values;
      return true;
    }

    function readTemperature(field, parse, source) {
      var parsed = parse(field.value);
      setError(source, parsed.error);
      if (parsed.error) return false;
      state.temperature = parsed.value;
      syncTemperatureControls(source);
      return true;
    }

    /** Fill the fields from a fragment's values (defaults for the missing ones) and validate. */
    function load(fields) {
      logitsField.value = fields.logits !== undefined ? fields.logits : (defaults.logits || '1, 2, 3');
      namesField.value = fields.names !== undefined ? fields.names : (fields.logits !== undefined ? '' : (defaults.names || ''));
      temperatureField.value = fields.temperature !== undefined ? fields.temperature : (defaults.temperature || '1');
      readLogits();
      state.names = parseNames(namesField.value);
      if (!readTemperature(temperatureField, parseTemperature, 'temperature')) {
        betaField.value = '';
        slider.value = String(Math.min(SLIDER_MAX, Math.max(SLIDER_MIN, Math.log10(state.temperature))));
      }
      render();
    }

    logitsField.addEventListener('input', function () {
      if (readLogits()) render();
    });
    namesField.addEventListener('input', function () {
      state.names = parseNames(namesField.value);
      render();
    });
    temperatureField.addEventListener('input', function () {
      if (readTemperature(temperatureField, parseTemperature, 'temperature')) render();
    });
    betaField.addEventListener('input', function () {
      if (readTemperature(betaField, parseBeta, 'beta')) render();
    });
    slider.addEventListener('input', function () {
      state.temperature = roundSignificant(Math.pow(10, Number(slider.value)), 3);
      syncTemperatureControls('slider');
      render();
    });
    // A field left with bad input goes back to showing the value in use.
    [temperatureField, betaField].forEach(function (field) {
      field.addEventListener('change', function () {
        if (field.getAttribute('aria-invalid') !== 'true') syncTemperatureControls('field');
      });
    });
    Array.prototype.forEach.call(document.querySelectorAll('[data-logits]'), function (button) {
      button.addEventListener('click', function () {
        load({
          logits: button.dataset.logits,
          names: button.dataset.names || '',
          temperature: button.dataset.temperature || '1',
        });
      });
    });
    // Drag (or click) on the temperature chart to set T; the slider is the keyboard route.
    var chartBox = $('temperature-chart');
    function temperatureUnder(event, clamp) {
      var box = chartBox.firstChild.getBoundingClientRect();
      return temperatureChart.temperatureAt(event.clientX - box.left, event.clientY - box.top, clamp);
    }
    function setTemperature(t) {
      if (t === null || t === state.temperature) return;
      state.temperature = t;
      syncTemperatureControls('chart');
      render();
    }
    chartBox.addEventListener('pointerdown', function (event) {
      var t = temperatureUnder(event, false);
      if (t === null) return;
      chartBox.setPointerCapture(event.pointerId);
      setTemperature(t);
    });
    chartBox.addEventListener('pointermove', function (event) {
      if (chartBox.hasPointerCapture(event.pointerId)) setTemperature(temperatureUnder(event, true));
    });
    window.addEventListener('hashchange', function () {
      load(decodeFragment(location.hash));
    });
    var resizeQueued = false;
    window.addEventListener('resize', function () {
      if (resizeQueued) return;
      resizeQueued = true;
      requestAnimationFrame(function () {
        resizeQueued = false;
        drawCharts(classLabels(state.names, state.logits.length));
      });
    });

    load(decodeFragment(location.hash));
    document.documentElement.dataset.ready = 'true';
  }

  // The pure functions, for the browser tests and for anyone curious in the console.
  window.softmaxExplorer = {
    parseNumber: parseNumber,
    parseLogits: parseLogits,
    parseNames: parseNames,
    parseTemperature: parseTemperature,
    parseBeta: parseBeta,
    softmax: softmax,
    explain: explain,
    pairwiseSum: pairwiseSum,
    formatG: formatG,
    formatExp: formatExp,
    formatPercent: formatPercent,
    encodeState: encodeState,
    decodeFragment: decodeFragment,
  };

  if (document.readyState === 'loading') {
    document.addEventListener('DOMContentLoaded', start);
  } else {
    start();
  }
})();
