// parcours docs: draws the site's pages from the JSON in #site-data. Hand-written, no library,
// no request: every chart and the graph are SVG built here. Pages are hash routes so that the
// file works from file:// as from any static host.
(function () {
  'use strict';
  var D = JSON.parse(document.getElementById('site-data').textContent);
  var SVGNS = 'http://www.w3.org/2000/svg';
  var byId = {};
  D.nodes.forEach(function (n) { byId[n.id] = n; });
  var PALETTE = ['#4e79a7', '#f28e2b', '#59a14f', '#e15759', '#76b7b2', '#edc948', '#b07aa1',
    '#9c755f', '#ff9da7', '#17becf', '#bcbd22', '#5a5a5a'];
  // Folder outlines: no blue (the sources' colour) and no red (a failed model's).
  var LAYER_COLORS = ['#2b8a3e', '#e67700', '#862e9c', '#0b7285', '#8d5524', '#5c940d', '#495057',
    '#b08900', '#9c36b5', '#087f5b'];
  var STATUS_FILL = { ok: '#d3f0dd', warned: '#ffe8a3', failed: '#ffd0d0', skipped: '#e3e6e9',
    not_run: '#f4f6f8', source: '#dbe4fb' };
  var STATUS_WORD = { ok: 'ok', warned: 'warned', failed: 'failed', skipped: 'skipped',
    not_run: 'not run', source: 'source' };

  // ---------- small helpers ----------
  function h(tag, attrs) {
    var e = document.createElement(tag);
    if (attrs) Object.keys(attrs).forEach(function (k) {
      if (k === 'text') e.textContent = attrs[k];
      else if (k === 'html') e.innerHTML = attrs[k];
      else if (k.slice(0, 2) === 'on') e.addEventListener(k.slice(2), attrs[k]);
      else e.setAttribute(k, attrs[k]);
    });
    for (var i = 2; i < arguments.length; i++) add(e, arguments[i]);
    return e;
  }
  function add(e, c) {
    if (c === null || c === undefined || c === false) return;
    if (Array.isArray(c)) { c.forEach(function (x) { add(e, x); }); return; }
    e.appendChild(typeof c === 'string' || typeof c === 'number' ? document.createTextNode(String(c)) : c);
  }
  function s(tag, attrs) {
    var e = document.createElementNS(SVGNS, tag);
    if (attrs) Object.keys(attrs).forEach(function (k) {
      if (k === 'text') e.textContent = attrs[k]; else e.setAttribute(k, attrs[k]);
    });
    for (var i = 2; i < arguments.length; i++) if (arguments[i]) e.appendChild(arguments[i]);
    return e;
  }
  function tip(text) { return s('title', { text: text }); }
  function esc(t) {
    return String(t).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
  }
  function num(v) {
    if (v === null || v === undefined) return '–';
    if (Math.abs(v) >= 1e6 || (Math.abs(v) < 1e-3 && v !== 0)) return v.toExponential(2);
    if (Number.isInteger(v)) return v.toLocaleString('en-US');
    return v.toLocaleString('en-US', { maximumFractionDigits: Math.abs(v) < 10 ? 3 : 1 });
  }
  function fmt(v, format) {
    if (v === null || v === undefined) return '–';
    if (format !== 'percent') return num(v);
    return (v === 0 ? '0' : (v * 100).toFixed(Math.abs(v) < 0.1 ? 1 : 0)) + ' %';
  }
  function bytes(b) {
    if (b === null || b === undefined) return '–';
    var u = ['B', 'KiB', 'MiB', 'GiB', 'TiB'], i = 0;
    while (b >= 1024 && i < u.length - 1) { b /= 1024; i++; }
    return (i ? b.toFixed(1) : b) + ' ' + u[i];
  }
  function when(t) { return t ? t.replace('T', ' ').replace(/\.\d+/, '').replace(/(\+00:00|Z)$/, ' UTC') : ''; }
  function secs(v) { return v === null || v === undefined ? '–' : v.toFixed(2) + ' s'; }
  function link(id) { return h('a', { href: '#/model/' + encodeURIComponent(id), text: id }); }
  function badge(status) { return h('span', { class: 'badge ' + status, text: STATUS_WORD[status] || status }); }
  function runStatus(st) {
    return { success: 'ok', warn: 'warned', error: 'failed', test_failed: 'failed', skipped: 'skipped' }[st] || st;
  }
  function testBadge(st) {
    return h('span', { class: 'badge ' + ({ pass: 'ok', warn: 'warned', fail: 'failed', error: 'failed' }[st] || 'skipped'), text: st });
  }
  // Round axis steps: 1, 2 or 5 times a power of ten.
  function ticks(lo, hi, n) {
    if (!(hi > lo)) { hi = lo + 1; }
    var raw = (hi - lo) / n, p = Math.pow(10, Math.floor(Math.log10(raw)));
    var step = [1, 2, 5, 10].map(function (m) { return m * p; }).find(function (x) { return x >= raw; });
    var out = [], start = Math.floor(lo / step) * step;
    for (var t = start; t <= hi + step * 1e-9; t += step) out.push(Math.round(t / step) * step);
    if (out[out.length - 1] < hi) out.push(out[out.length - 1] + step);
    return out;
  }

  // ---------- header and routing ----------
  function header(active) {
    var top = document.getElementById('top');
    top.innerHTML = '';
    var nav = h('nav', null,
      h('a', { href: '#/', class: active === 'project' ? 'active' : '', text: 'Project' }),
      h('a', { href: '#/run', class: active === 'run' ? 'active' : '', text: 'Run' }),
      h('a', { href: '#/charts', class: active === 'charts' ? 'active' : '', text: 'Charts (' + D.charts.length + ')' }));
    add(top, [h('span', { class: 'brand', text: D.project }), nav,
      h('span', { class: 'meta', text: 'parcours ' + D.parcours_version + ' · written ' + when(D.generated_at) })]);
  }
  function route() {
    var hash = decodeURIComponent(location.hash.replace(/^#\/?/, ''));
    var app = document.getElementById('app');
    app.innerHTML = '';
    window.scrollTo(0, 0);
    if (hash.indexOf('model/') === 0) { header('project'); modelPage(app, hash.slice(6)); }
    else if (hash === 'run') { header('run'); runPage(app); }
    else if (hash.indexOf('charts') === 0) { header('charts'); chartsPage(app, hash.slice(7)); }
    else { header('project'); projectPage(app); }
  }
  window.addEventListener('hashchange', route);

  // ---------- project: the graph ----------
  var NODE_W = 190, NODE_H = 22, COL_W = 225, ROW_H = 28, PAD = 30;
  var zoom = null;
  function matcher(query) {
    var tokens = query.trim().split(/\s+/).filter(Boolean);
    if (!tokens.length) return null;
    // Selectors as in `--select`, space-separated ones a union: name, +name, name+, tag:x, path:p.
    var keep = {};
    tokens.forEach(function (t) {
      var up = t[0] === '+', down = t[t.length - 1] === '+';
      var core = t.replace(/^\+/, '').replace(/\+$/, '');
      var hits = D.nodes.filter(function (n) {
        if (core.indexOf('tag:') === 0) return n.tags.indexOf(core.slice(4)) >= 0;
        if (core.indexOf('path:') === 0) return n.path.indexOf(core.slice(5)) === 0 || n.path.indexOf(core.slice(5)) >= 0;
        return n.id.toLowerCase().indexOf(core.toLowerCase()) >= 0;
      });
      hits.forEach(function (n) {
        keep[n.id] = true;
        if (up) walk(n.id, 'upstream', keep);
        if (down) walk(n.id, 'downstream', keep);
      });
    });
    return keep;
  }
  function walk(id, dir, keep) {
    (byId[id] ? byId[id][dir] : []).forEach(function (o) {
      if (!keep[o]) { keep[o] = true; walk(o, dir, keep); }
    });
  }
  function projectPage(app) {
    if (D.notes.length) add(app, h('ul', { class: 'notes' }, D.notes.map(function (n) { return h('li', { text: n }); })));
    var models = D.nodes.filter(function (n) { return n.kind === 'model'; }).length;
    add(app, h('h1', { text: 'Model graph' }));
    add(app, h('p', { class: 'muted', text: models + ' models and ' + (D.nodes.length - models) +
      ' sources, left to right by how far each is from the sources; colour: the last run\u2019s status, outline: the model\u2019s folder. Click a node for its page.' }));
    var count = h('span', { class: 'muted', id: 'match-count' });
    var input = h('input', { id: 'search', type: 'search', placeholder: 'search: name, +name, name+, tag:x, path:sql/identity' });
    var legend = h('div', { class: 'legend' },
      Object.keys(STATUS_FILL).map(function (k) {
        return h('span', null, h('span', { class: 'sw', style: 'background:' + STATUS_FILL[k] }), STATUS_WORD[k]);
      }),
      D.layers.map(function (l, i) {
        return h('span', null, h('span', { class: 'sw', style: 'background:#fff;border:2px solid ' + LAYER_COLORS[i % LAYER_COLORS.length] }), l);
      }));
    var wrap = h('div', { class: 'graph-wrap' });
    function setZoom(z) {
      zoom = Math.max(0.2, Math.min(2, z));
      svg.setAttribute('width', Math.round(W * zoom));
      svg.setAttribute('height', Math.round(H * zoom));
      level.textContent = Math.round(zoom * 100) + ' %';
    }
    var level = h('span', { class: 'muted' });
    var zooms = h('span', { class: 'zoom' },
      h('button', { title: 'smaller', text: '−', onclick: function () { setZoom(zoom / 1.25); } }),
      h('button', { title: 'larger', text: '+', onclick: function () { setZoom(zoom * 1.25); } }),
      h('button', { title: 'the whole graph in the window', text: 'fit', onclick: function () { setZoom(fit()); } }), level);
    add(app, h('div', { class: 'toolbar' }, input, zooms, count, legend));
    var rows = 0;
    D.nodes.forEach(function (n) { rows = Math.max(rows, n.row + 1); });
    var W = PAD * 2 + (D.columns - 1) * COL_W + NODE_W, H = PAD * 2 + rows * ROW_H;
    var svg = s('svg', { id: 'graph', width: W, height: H, viewBox: '0 0 ' + W + ' ' + H });
    function pos(n) { return { x: PAD + n.column * COL_W, y: PAD + n.row * ROW_H }; }
    for (var c = 0; c < D.columns; c++) {
      svg.appendChild(s('text', { x: PAD + c * COL_W, y: 16, class: 'col-label', text: c === 0 ? 'sources' : 'step ' + c }));
    }
    var edgeEls = [];
    D.edges.forEach(function (e) {
      var a = byId[e.from], b = byId[e.to];
      if (!a || !b) return;
      var p = pos(a), q = pos(b);
      var x1 = p.x + NODE_W, y1 = p.y + NODE_H / 2, x2 = q.x, y2 = q.y + NODE_H / 2, mx = (x1 + x2) / 2;
      var path = s('path', { class: 'edge', d: 'M' + x1 + ',' + y1 + ' C' + mx + ',' + y1 + ' ' + mx + ',' + y2 + ' ' + x2 + ',' + y2 });
      path.dataset.from = e.from; path.dataset.to = e.to;
      edgeEls.push(path);
      svg.appendChild(path);
    });
    var nodeEls = [];
    D.nodes.forEach(function (n) {
      var p = pos(n);
      var li = D.layers.indexOf(n.layer);
      var stroke = n.kind === 'source' ? '#5b7fd6' : LAYER_COLORS[(li < 0 ? 0 : li) % LAYER_COLORS.length];
      var label = n.id.length > 29 ? n.id.slice(0, 28) + '…' : n.id;
      var g = s('g', { class: 'node status-' + n.status, transform: 'translate(' + p.x + ',' + p.y + ')', 'data-id': n.id },
        tip(n.id + ' — ' + STATUS_WORD[n.status] + (n.materialization ? ' · ' + n.materialization : '') + (n.description ? '\n' + n.description : '')),
        s('rect', { width: NODE_W, height: NODE_H, rx: 5, fill: STATUS_FILL[n.status] || '#fff', stroke: stroke }),
        s('text', { x: 8, y: 15, text: label }));
      g.addEventListener('click', function () { location.hash = '#/model/' + encodeURIComponent(n.id); });
      g.addEventListener('mouseenter', function () {
        edgeEls.forEach(function (e) { if (e.dataset.from === n.id || e.dataset.to === n.id) e.classList.add('hot'); });
      });
      g.addEventListener('mouseleave', function () { edgeEls.forEach(function (e) { e.classList.remove('hot'); }); });
      nodeEls.push(g);
      svg.appendChild(g);
    });
    add(wrap, svg);
    add(app, wrap);
    // Wide graphs start at a size where names stay readable (75 % at least) and most of
    // the graph shows; `fit` shows all of it.
    function fit() { return Math.min(1, (wrap.clientWidth - 4) / W, (window.innerHeight - wrap.getBoundingClientRect().top - 10) / H); }
    setZoom(zoom || Math.max(0.75, Math.min(1, (wrap.clientWidth - 4) / W)));
    function apply() {
      var keep = matcher(input.value);
      var shown = 0;
      nodeEls.forEach(function (g) {
        var on = !keep || keep[g.getAttribute('data-id')];
        if (on) shown++;
        g.classList.toggle('dim', !on);
      });
      edgeEls.forEach(function (e) { e.classList.toggle('dim', !!keep && !(keep[e.dataset.from] && keep[e.dataset.to])); });
      count.textContent = keep ? shown + ' of ' + D.nodes.length + ' match' : '';
      // bring the first match into view when it is off screen
      var first = keep && nodeEls.find(function (g) { return keep[g.getAttribute('data-id')]; });
      if (first) {
        var r = first.getBoundingClientRect(), w = wrap.getBoundingClientRect();
        if (r.right > w.right || r.left < w.left) wrap.scrollLeft += r.left - w.left - 40;
      }
      if (history.replaceState) history.replaceState(null, '', input.value ? '#/?q=' + encodeURIComponent(input.value) : '#/');
    }
    input.addEventListener('input', apply);
    var q = /\?q=(.*)$/.exec(location.hash);
    if (q) { input.value = decodeURIComponent(q[1]); apply(); }
  }

  // ---------- model and source pages ----------
  var KEYWORDS = ('select from where group by order having join left right full outer inner cross on as and or not ' +
    'in is null case when then else end with union all distinct limit over partition rows range between preceding ' +
    'following current row cast filter true false like values interval asc desc nulls first last exists using ' +
    'unnest any some except intersect date timestamp').split(' ');
  function highlight(sql) {
    var models = {};
    D.nodes.forEach(function (n) { models[n.id] = true; });
    var re = /(--[^\n]*)|('(?:[^']|'')*')|(\{\{[\s\S]*?\}\}|\{%[\s\S]*?%\})|(\b\d+(?:\.\d+)?\b)|([A-Za-z_][A-Za-z0-9_]*)(\s*\()?|([\s\S])/g;
    var out = '', m;
    while ((m = re.exec(sql)) !== null) {
      if (m[1]) out += '<span class="c">' + esc(m[1]) + '</span>';
      else if (m[2]) out += '<span class="s">' + esc(m[2]) + '</span>';
      else if (m[3]) out += '<span class="t">' + esc(m[3]) + '</span>';
      else if (m[4]) out += '<span class="n">' + m[4] + '</span>';
      else if (m[5]) {
        var w = m[5], lw = w.toLowerCase();
        if (KEYWORDS.indexOf(lw) >= 0) out += '<span class="k">' + w + '</span>';
        else if (m[6]) out += '<span class="f">' + w + '</span>';
        else if (models[w]) out += '<a class="ref" href="#/model/' + encodeURIComponent(w) + '">' + w + '</a>';
        else out += esc(w);
        if (m[6]) out += esc(m[6]);
      } else out += esc(m[7]);
    }
    return out;
  }
  function facts(rows) {
    return h('table', { class: 'grid facts' }, rows.filter(function (r) { return r[1] !== null && r[1] !== undefined && r[1] !== ''; })
      .map(function (r) { return h('tr', null, h('td', { text: r[0] }), h('td', null, r[1])); }));
  }
  function testsTable(tests, withModel) {
    if (!tests.length) return h('p', { class: 'muted', text: 'No data test ran.' });
    return h('table', { class: 'grid tests' },
      h('tr', null, h('th', { text: 'test' }), withModel ? h('th', { text: 'model' }) : null, h('th', { text: 'severity' }),
        h('th', { text: 'result' }), h('th', { text: 'failing rows' }), h('th', { text: 'first failing rows / message' })),
      tests.map(function (t) {
        var detail = [];
        if (t.message) detail.push(h('div', { text: t.message }));
        if (t.sample) detail.push(h('details', null, h('summary', { text: 'first failing rows' }), h('pre', { class: 'sample', text: t.sample })));
        return h('tr', null, h('td', { text: t.name }), withModel ? h('td', null, t.model ? link(t.model) : '–') : null,
          h('td', { text: t.severity }), h('td', null, testBadge(t.status)), h('td', { class: 'num', text: num(t.failures) }),
          h('td', null, detail));
      }));
  }
  function sparkline(points, key, label, fmtv) {
    var vals = points.map(function (p) { return p[key]; });
    var known = vals.filter(function (v) { return v !== null && v !== undefined; });
    if (known.length < 2) return null;
    var W = 320, H = 70, lo = Math.min.apply(null, known), hi = Math.max.apply(null, known);
    if (hi === lo) { hi = lo + 1; }
    var x = function (i) { return 8 + i * (W - 16) / (vals.length - 1); };
    var y = function (v) { return H - 14 - (v - lo) / (hi - lo) * (H - 28); };
    var svg = s('svg', { width: W, height: H, class: 'spark' });
    var d = '';
    vals.forEach(function (v, i) { if (v !== null && v !== undefined) d += (d ? ' L' : 'M') + x(i) + ',' + y(v); });
    svg.appendChild(s('path', { d: d, fill: 'none', stroke: '#3b5bdb', 'stroke-width': 1.5 }));
    vals.forEach(function (v, i) {
      if (v === null || v === undefined) return;
      svg.appendChild(s('circle', { class: 'mark', cx: x(i), cy: y(v), r: 2.5, fill: '#3b5bdb' },
        tip(points[i].run_date + ' (' + points[i].run_id + '): ' + fmtv(v))));
    });
    svg.appendChild(s('text', { x: 8, y: H - 2, class: 'tick', text: label + ': ' + fmtv(lo) + ' … ' + fmtv(hi) }));
    return svg;
  }
  function modelPage(app, id) {
    var n = byId[id];
    if (!n) { add(app, h('p', { text: 'No model or source named ' + id + '. ' }, h('a', { href: '#/', text: 'Back to the graph' }))); return; }
    add(app, h('p', null, h('a', { href: '#/', text: '← graph' })));
    add(app, h('h1', { id: 'model-title' }, n.id, h('span', { class: 'badge kind', text: n.kind }), n.kind === 'source' ? null : badge(n.status)));
    if (n.description) add(app, h('p', { text: n.description }));
    if (n.kind === 'source') {
      add(app, facts([['storage', n.storage], ['path', n.path], ['partitions', n.partitions.join(', ')],
        ['files read by the last run', n.source_files === null ? null : num(n.source_files)],
        ['rows read by the last run', n.source_rows === null ? null : num(n.source_rows)]]));
    } else {
      add(app, facts([['file', n.path], ['materialization', n.materialization], ['format', n.format],
        ['partition_by', n.partition_by], ['full_history', n.full_history ? 'yes' + (n.full_history_from && n.full_history_from !== n.id ? ' (inherited from ' + n.full_history_from + ')' : '') : 'no'],
        ['windowed', n.windowed ? 'yes: rewrites its late-arrival window each night' : null],
        ['tags', n.tags.join(', ')]]));
    }
    if (n.result) {
      var r = n.result;
      add(app, h('h2', { text: 'Last run' }));
      add(app, facts([['status', badge(runStatus(r.status))], ['rows', num(r.rows)], ['bytes', bytes(r.bytes)], ['files', num(r.files)],
        ['duration', secs(r.duration_s)], ['partitions rewritten', r.partitions_rewritten]]));
      if (n.row_flag) add(app, h('p', { class: 'flag', text: '⚑ ' + n.row_flag }));
      if (r.error) add(app, h('pre', { class: 'sample', text: r.error }));
      add(app, h('h2', { text: 'Data tests' }));
      add(app, testsTable(r.tests, false));
    } else if (n.kind === 'model' && n.tests.length) {
      add(app, h('h2', { text: 'Data tests' }));
      add(app, h('p', { class: 'muted', text: 'Declared (not in the last run): ' + n.tests.join(', ') }));
    }
    if (n.trend.length > 1) {
      add(app, h('h2', { text: 'Trend over the kept runs' }));
      add(app, h('div', { class: 'cards' }, sparkline(n.trend, 'rows', 'rows', num), sparkline(n.trend, 'duration_s', 'seconds', secs)));
    }
    add(app, h('h2', { text: 'Columns' }));
    if (!n.columns.length) add(app, h('p', { class: 'muted', text: 'No schema known yet (run the model, or declare the source\u2019s schema).' }));
    else add(app, h('table', { class: 'grid columns' },
      h('tr', null, ['column', 'type', 'nullable', n.kind === 'source' ? 'personal data' : 'tests', 'description'].map(function (t) { return h('th', { text: t }); })),
      n.columns.map(function (c) {
        return h('tr', null, h('td', null, h('code', { text: c.name })), h('td', { text: c.data_type || '–' }),
          h('td', { text: c.nullable === null ? '–' : c.nullable ? 'yes' : 'no' }),
          h('td', { text: n.kind === 'source' ? (c.pii || '') : c.tests.join(', ') }), h('td', { text: c.doc || '' }));
      })));
    add(app, h('h2', { text: 'Upstream and downstream' }));
    add(app, h('div', { class: 'cards' },
      h('div', { class: 'card' }, h('div', { class: 'l', text: 'reads (' + n.upstream.length + ')' }), h('ul', { class: 'plain' }, n.upstream.map(function (u) { return h('li', null, link(u)); }))),
      h('div', { class: 'card' }, h('div', { class: 'l', text: 'read by (' + n.downstream.length + ')' }), h('ul', { class: 'plain' }, n.downstream.map(function (u) { return h('li', null, link(u)); })))));
    if (n.sql || n.template) {
      add(app, h('h2', { text: 'SQL' }));
      var pre = h('pre', { class: 'sql' });
      var show = function (which) {
        pre.innerHTML = highlight((which === 'resolved' ? n.sql : n.template) || '');
        [b1, b2].forEach(function (b) { b.classList.toggle('on', b.dataset.w === which); });
      };
      var b1 = h('button', { text: 'as written (templates)', onclick: function () { show('template'); } });
      var b2 = h('button', { text: 'resolved (tonight\u2019s run)', onclick: function () { show('resolved'); } });
      b1.dataset.w = 'template'; b2.dataset.w = 'resolved';
      add(app, h('div', { class: 'tabs' }, b1, b2));
      add(app, pre);
      show(n.template ? 'template' : 'resolved');
    }
  }

  // ---------- run ----------
  function card(v, l) { return h('div', { class: 'card' }, h('div', { class: 'v' }, v), h('div', { class: 'l', text: l })); }
  function gantt(run) {
    var bars = run.gantt;
    if (!bars.length) return h('p', { class: 'muted', text: 'No model timings in this run.' });
    var crit = {};
    run.critical_path.forEach(function (m) { crit[m] = true; });
    var end = Math.max(run.elapsed_s, Math.max.apply(null, bars.map(function (b) { return b.end_s; })));
    var L = 230, W = Math.max(900, document.getElementById('app').clientWidth - 30), RH = 16, top = 24, H = top + bars.length * RH + 20;
    var x = function (t) { return L + t / end * (W - L - 20); };
    var svg = s('svg', { id: 'gantt', width: W, height: H });
    ticks(0, end, 8).forEach(function (t) {
      if (t > end * 1.0001) return;
      svg.appendChild(s('line', { class: 'grid-line', x1: x(t), x2: x(t), y1: top - 4, y2: H - 18 }));
      svg.appendChild(s('text', { class: 'tick', x: x(t), y: top - 8, 'text-anchor': 'middle', text: num(t) + ' s' }));
    });
    bars.forEach(function (b, i) {
      var y = top + i * RH;
      var name = s('text', { class: 'tick', x: L - 6, y: y + 11, 'text-anchor': 'end', text: b.model.length > 34 ? b.model.slice(0, 33) + '…' : b.model });
      var a = s('a', { href: '#/model/' + encodeURIComponent(b.model) }, name);
      svg.appendChild(a);
      svg.appendChild(s('rect', { class: 'bar mark' + (crit[b.model] ? ' crit' : ''), x: x(b.start_s), y: y + 2, height: RH - 4,
        width: Math.max(1.5, x(b.end_s) - x(b.start_s)), rx: 2, fill: { ok: '#2e9d5b', warned: '#d99a00', failed: '#d64545' }[b.status] || '#9aa0a6' },
        tip(b.model + ': ' + num(b.start_s) + ' s → ' + num(b.end_s) + ' s (' + secs(b.end_s - b.start_s) + ')' + (crit[b.model] ? ' · critical path' : ''))));
    });
    svg.appendChild(s('text', { class: 'tick', x: L, y: H - 4, text: 'seconds since the run started; outlined: the critical path (' + run.critical_path.length + ' models)' }));
    return svg;
  }
  function runPage(app) {
    var run = D.run;
    if (!run) { add(app, h('h1', { text: 'Run' }), h('p', { class: 'muted', text: 'No run yet: `parcours run` writes target/run_results.json, which this page shows.' })); return; }
    add(app, h('h1', null, 'Run ' + run.run_date, h('span', { class: 'badge ' + (run.success ? 'ok' : 'failed'), text: run.success ? 'success' : 'failed' })));
    add(app, h('p', { class: 'muted', text: run.command + ' · run id ' + run.run_id + ' · started ' + when(run.started_at) +
      ' · window ' + run.window_start + ' … ' + run.run_date + (run.full_refresh ? ' · full refresh' : '') }));
    var c = run.counts;
    add(app, h('div', { class: 'cards' }, card(String(run.exit_code), 'exit code'), card(secs(run.elapsed_s), 'elapsed'),
      card(String(run.models.length), 'models'), card(String((c.success || 0) + (c.warn || 0)), 'published'),
      card(String((c.error || 0) + (c.test_failed || 0)), 'failed'), card(String(c.skipped || 0), 'skipped'),
      card(String(run.tests.length), 'data tests'), card(String(run.tests.filter(function (t) { return t.status !== 'pass'; }).length), 'tests not passing')));
    add(app, h('h2', { text: 'Warnings' }));
    if (run.warnings.length) add(app, h('ul', { class: 'notes' }, run.warnings.map(function (w) { return h('li', { text: w }); })));
    else add(app, h('p', { class: 'muted', text: 'None.' }));
    add(app, h('h2', { text: 'Timeline' }));
    add(app, h('div', { class: 'graph-wrap' }, gantt(run)));
    add(app, h('h2', { text: 'Models' }));
    add(app, h('p', { class: 'muted', text: 'Rows flagged ⚑ moved by more than ' + Math.round(run.row_change_warn * 100) + ' % since the previous kept run (docs.row_change_warn).' }));
    add(app, h('table', { class: 'grid run-models' },
      h('tr', null, ['model', 'status', 'rows', 'previous rows', 'bytes', 'seconds', 'previous seconds', ''].map(function (t) { return h('th', { text: t }); })),
      run.models.map(function (m) {
        return h('tr', null, h('td', null, link(m.model)), h('td', null, badge(m.status)), h('td', { class: 'num', text: num(m.rows) }),
          h('td', { class: 'num', text: num(m.previous_rows) }), h('td', { class: 'num', text: bytes(m.bytes) }),
          h('td', { class: 'num', text: m.duration_s.toFixed(2) }),
          h('td', { class: 'num', text: m.previous_duration_s === null ? '–' : m.previous_duration_s.toFixed(2) }), h('td', { class: 'flag', text: m.row_flag ? '⚑ ' + m.row_flag : '' }));
      })));
    add(app, h('h2', { text: 'Data tests' }));
    add(app, testsTable(run.tests, true));
    if (run.unit_tests.length) {
      add(app, h('h2', { text: 'Unit tests' }));
      add(app, h('table', { class: 'grid' }, run.unit_tests.map(function (t) {
        return h('tr', null, h('td', { text: t.name }), h('td', null, link(t.model)), h('td', null, testBadge(t.status)), h('td', null, t.message ? h('pre', { class: 'sample', text: t.message }) : ''));
      })));
    }
    add(app, h('h2', { text: 'Earlier runs' }));
    if (run.history.length < 2) add(app, h('p', { class: 'muted', text: 'The warehouse keeps ' + run.history.length + ' run summary so far; trends appear from the second run on.' }));
    else {
      add(app, h('div', { class: 'cards' }, sparkline(run.history, 'elapsed_s', 'run seconds', secs), sparkline(run.history, 'rows', 'rows published', num)));
    }
    if (run.history.length) add(app, h('table', { class: 'grid history' },
      h('tr', null, ['run date', 'run id', 'started', 'seconds', 'failed models', 'rows', 'result'].map(function (t) { return h('th', { text: t }); })),
      run.history.slice().reverse().map(function (r) {
        return h('tr', null, h('td', { text: r.run_date }), h('td', { text: r.run_id }), h('td', { text: when(r.started_at) }),
          h('td', { class: 'num', text: r.elapsed_s.toFixed(1) }), h('td', { class: 'num', text: String(r.failed) }),
          h('td', { class: 'num', text: num(r.rows) }), h('td', null, badge(r.success ? 'ok' : 'failed')));
      })));
  }

  // ---------- charts ----------
  // One colour per series name across all charts, so a model or identifier type keeps its
  // colour from chart to chart.
  var seriesColors = {};
  // The colours of one chart's series: each name keeps the colour it first got, unless another
  // series of this chart has it already; no two series of a chart share one.
  function chartColors(v) {
    var used = {};
    return v.series.map(function (se) {
      var c = seriesColors[se.name];
      if (!c || used[c]) {
        c = PALETTE.find(function (p) { return !used[p]; }) || PALETTE[0];
        if (!seriesColors[se.name]) seriesColors[se.name] = c;
      }
      used[c] = true;
      return c;
    });
  }
  function drawChart(v, colors) {
    var W = 900, H = 340, L = 70, R = 20, T = 14, B = 70;
    var n = v.categories.length, m = v.series.length;
    var rotate = n > 8 || v.categories.some(function (c) { return c.length > 12; });
    if (rotate) B = 110;
    var all = [];
    v.series.forEach(function (se) { se.values.forEach(function (x) { if (x !== null) all.push(x); }); });
    var lo = Math.min(0, Math.min.apply(null, all)), hi = Math.max(0, Math.max.apply(null, all));
    var tk = ticks(lo, hi, 5);
    lo = tk[0]; hi = tk[tk.length - 1];
    var y = function (val) { return T + (hi - val) / (hi - lo) * (H - T - B); };
    var svg = s('svg', { class: 'chart-svg', width: W, height: H, viewBox: '0 0 ' + W + ' ' + H });
    tk.forEach(function (t) {
      svg.appendChild(s('line', { class: 'grid-line', x1: L, x2: W - R, y1: y(t), y2: y(t) }));
      svg.appendChild(s('text', { class: 'tick', x: L - 6, y: y(t) + 4, 'text-anchor': 'end', text: fmt(t, v.format) }));
    });
    svg.appendChild(s('line', { class: 'axis', x1: L, x2: W - R, y1: y(0), y2: y(0) }));
    var band = (W - L - R) / Math.max(1, n);
    var cx = function (i) { return L + band * (i + 0.5); };
    var labelEvery = Math.max(1, Math.ceil(n / 40));
    v.categories.forEach(function (c, i) {
      if (i % labelEvery) return;
      var label = c.length > 22 ? c.slice(0, 21) + '…' : c;
      svg.appendChild(rotate
        ? s('text', { class: 'tick', transform: 'translate(' + cx(i) + ',' + (H - B + 12) + ') rotate(-40)', 'text-anchor': 'end', text: label })
        : s('text', { class: 'tick', x: cx(i), y: H - B + 16, 'text-anchor': 'middle', text: label }));
    });
    if (v.kind === 'line') {
      v.series.forEach(function (se, k) {
        var color = colors[k], d = '';
        se.values.forEach(function (val, i) { if (val !== null) d += (d ? ' L' : 'M') + cx(i) + ',' + y(val); });
        svg.appendChild(s('path', { d: d, fill: 'none', stroke: color, 'stroke-width': 2 }));
        se.values.forEach(function (val, i) {
          if (val === null) return;
          svg.appendChild(s('circle', { class: 'mark', cx: cx(i), cy: y(val), r: n > 60 ? 1.8 : 3, fill: color },
            tip(se.name + ' · ' + v.categories[i] + ': ' + fmt(val, v.format))));
        });
      });
    } else {
      var inner = v.kind === 'histogram' ? band - 1 : band * 0.8;
      var bw = inner / Math.max(1, m);
      v.series.forEach(function (se, k) {
        var color = v.kind === 'histogram' ? PALETTE[0] : colors[k];
        se.values.forEach(function (val, i) {
          if (val === null) return;
          var x0 = cx(i) - inner / 2 + k * bw, y0 = y(Math.max(0, val)), y1 = y(Math.min(0, val));
          svg.appendChild(s('rect', { class: 'mark', x: x0, y: y0, width: Math.max(1, bw - (m > 1 ? 1 : 0)), height: Math.max(0.5, y1 - y0), fill: color },
            tip((m > 1 ? se.name + ' · ' : '') + v.categories[i] + ': ' + fmt(val, v.format))));
        });
      });
    }
    svg.appendChild(s('text', { class: 'tick', x: 12, y: T + (H - T - B) / 2, transform: 'rotate(-90 12 ' + (T + (H - T - B) / 2) + ')', 'text-anchor': 'middle', text: v.y_label }));
    svg.appendChild(s('text', { class: 'tick', x: L + (W - L - R) / 2, y: H - 4, 'text-anchor': 'middle', text: v.x_label }));
    return svg;
  }
  function chartsPage(app, only) {
    add(app, h('h1', { text: 'Charts' }));
    if (!D.charts.length) {
      add(app, h('p', { class: 'muted', text: 'This project declares no charts. Add them under `docs: charts:` in pipelines.yaml (see the README, "parcours docs").' }));
      return;
    }
    add(app, h('p', { class: 'toc' }, D.charts.map(function (c) { return h('a', { href: '#/charts/' + c.name, text: c.title }); })));
    D.charts.forEach(function (v) {
      var box = h('section', { class: 'chart', id: 'chart-' + v.name },
        h('h3', { text: v.title }),
        v.description ? h('p', { text: v.description }) : null,
        h('div', { class: 'src' }, 'from table ', v.table in byId ? link(v.table) : h('code', { text: v.table })));
      if (v.unavailable) add(box, h('div', { class: 'na', text: 'Not available: ' + v.unavailable }));
      else {
        var colors = chartColors(v);
        if (v.series.length > 1) add(box, h('div', { class: 'legend' }, v.series.map(function (se, k) {
          return h('span', null, h('span', { class: 'sw', style: 'background:' + colors[k] }), se.name);
        })));
        add(box, drawChart(v, colors));
        if (v.note) add(box, h('p', { class: 'muted', text: v.note }));
      }
      if (v.sql) add(box, h('details', null, h('summary', { text: 'query' }), h('pre', { text: v.sql })));
      add(app, box);
    });
    if (only) {
      var el = document.getElementById('chart-' + only);
      if (el) el.scrollIntoView();
    }
  }

  route();
})();
