// StreamHouse console: the few things a server-rendered page cannot do.
// Everything here runs only while its page is open and visible: the
// broker does no sampling of its own for the console.
(function () {
  'use strict';

  function visible() { return document.visibilityState === 'visible'; }

  // every(fn, ms): call fn now and every ms while the page is visible.
  function every(fn, ms) {
    var timer = null, running = false;
    function tick() {
      timer = null;
      if (!visible()) { return; }
      running = true;
      Promise.resolve(fn()).catch(function () {}).then(function () {
        running = false;
        if (visible() && timer === null) { timer = setTimeout(tick, ms); }
      });
    }
    document.addEventListener('visibilitychange', function () {
      if (visible() && timer === null && !running) { tick(); }
      if (!visible() && timer !== null) { clearTimeout(timer); timer = null; }
    });
    tick();
  }

  function getJSON(url) {
    return fetch(url, { headers: { 'Accept': 'application/json' }, credentials: 'same-origin' }).then(function (r) {
      if (!r.ok) { throw new Error(url + ': ' + r.status); }
      return r.json();
    });
  }

  function history(key) {
    try { return JSON.parse(sessionStorage.getItem(key) || '[]'); } catch (e) { return []; }
  }
  function remember(key, samples, keep) {
    samples = samples.slice(-keep);
    try { sessionStorage.setItem(key, JSON.stringify(samples)); } catch (e) { /* full */ }
    return samples;
  }

  function human(n, unit) {
    if (!isFinite(n)) { return '-'; }
    if (unit === 'bytes') {
      var units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'], i = 0;
      while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
      return (i ? n.toFixed(1) : Math.round(n)) + ' ' + units[i];
    }
    if (n >= 100) { return Math.round(n).toLocaleString('en'); }
    return n.toFixed(1);
  }

  var SVG = 'http://www.w3.org/2000/svg';
  // line(svg, values, extra): a polyline of values scaled to the svg's
  // viewBox, and a thinner one for each series of extra (same scale).
  function line(svg, values, extra) {
    var vb = svg.viewBox.baseVal, w = vb.width, h = vb.height;
    while (svg.firstChild) { svg.removeChild(svg.firstChild); }
    if (values.length < 2) { return; }
    var top = Math.max.apply(null, values);
    if (top <= 0) { top = 1; }
    function draw(vals, cls) {
      var pts = [];
      for (var i = 0; i < vals.length; i++) {
        var x = w * i / (values.length - 1), y = h - 1 - (h - 2) * (vals[i] || 0) / top;
        pts.push(x.toFixed(1) + ',' + y.toFixed(1));
      }
      var pl = document.createElementNS(SVG, 'polyline');
      pl.setAttribute('points', pts.join(' '));
      pl.setAttribute('fill', 'none');
      pl.setAttribute('vector-effect', 'non-scaling-stroke');
      if (cls) { pl.setAttribute('class', cls); }
      svg.appendChild(pl);
    }
    (extra || []).forEach(function (vals) { draw(vals, 'part'); });
    draw(values, '');
  }

  // Overview sparklines: rates between consecutive samples of the
  // broker's counters.
  var sparks = document.getElementById('sparklines');
  if (sparks) {
    var skey = 'sh:overview';
    every(function () {
      return getJSON(sparks.dataset.src).then(function (s) {
        var samples = history(skey);
        if (samples.length && s.t - samples[samples.length - 1].t > 60000) { samples = []; }
        samples = remember(skey, samples.concat([s]), 61);
        sparks.dataset.samples = samples.length;
        sparks.querySelectorAll('[data-rate]').forEach(function (el) {
          var k = el.dataset.rate, rates = [];
          for (var i = 1; i < samples.length; i++) {
            var dt = (samples[i].t - samples[i - 1].t) / 1000;
            rates.push(dt > 0 ? Math.max(0, (samples[i][k] - samples[i - 1][k]) / dt) : 0);
          }
          el.textContent = rates.length ? human(rates[rates.length - 1], el.dataset.unit) : '-';
          var svg = sparks.querySelector('svg[data-spark="' + k + '"]');
          if (svg) { line(svg, rates); }
        });
        var conn = document.getElementById('connections');
        if (conn) { conn.textContent = Math.round(s.connections); }
      });
    }, 2000);
  }

  // Topic list: records/s of the shown topics, from their end offsets.
  var topics = document.getElementById('topics');
  if (topics && topics.dataset.rates) {
    var names = [];
    topics.querySelectorAll('tr[data-topic]').forEach(function (tr) { names.push(tr.dataset.topic); });
    if (names.length) {
      var prev = null;
      var url = topics.dataset.rates + '?' + names.map(function (n) { return 't=' + encodeURIComponent(n); }).join('&');
      every(function () {
        return getJSON(url).then(function (s) {
          if (prev) {
            var dt = (s.t - prev.t) / 1000;
            topics.querySelectorAll('[data-rate-of]').forEach(function (td) {
              var n = td.dataset.rateOf;
              if (n in s.ends && n in prev.ends && dt > 0) { td.textContent = human(Math.max(0, (s.ends[n] - prev.ends[n]) / dt)); }
            });
          }
          prev = s;
        });
      }, 5000);
    }
  }

  // A group's lag over time, sampled every 2 s while its page is open
  // (the history lives in this tab, for 10 minutes).
  var chart = document.getElementById('lag-chart');
  if (chart) {
    var lkey = 'sh:lag:' + chart.dataset.group;
    var total = document.getElementById('lag-total');
    every(function () {
      return getJSON(chart.dataset.src).then(function (s) {
        var samples = history(lkey);
        if (samples.length && s.t - samples[samples.length - 1].t > 120000) { samples = []; }
        // Each partition's lag too, for groups of up to 20 partitions.
        var parts = Object.keys(s.partitions || {}).length <= 20 ? s.partitions : null;
        samples = remember(lkey, samples.concat([{ t: s.t, lag: s.lag, p: parts }]), 300);
        if (total) { total.textContent = s.lag.toLocaleString('en'); }
        chart.dataset.samples = samples.length;
        chart.dataset.last = s.lag;
        var names = {};
        samples.forEach(function (x) { Object.keys(x.p || {}).forEach(function (k) { names[k] = true; }); });
        var series = Object.keys(names).sort().map(function (k) {
          return samples.map(function (x) { return x.p ? x.p[k] : 0; });
        });
        chart.dataset.partitions = series.length;
        line(chart.querySelector('svg'), samples.map(function (x) { return x.lag; }), series.length > 1 ? series : null);
        var max = chart.querySelector('.max');
        if (max) { max.textContent = Math.max.apply(null, samples.map(function (x) { return x.lag; })).toLocaleString('en'); }
      });
    }, 2000);
  }

  // The message browser's live tail: long polls from a cursor, new rows
  // on top.
  var tail = document.getElementById('tail');
  if (tail) {
    var rows = document.getElementById('rows');
    var on = false, cursor = '', timer = null;
    function poll() {
      timer = null;
      if (!on) { return; }
      if (!visible()) { timer = setTimeout(poll, 1000); return; }
      var u = tail.dataset.src + (cursor ? '&cursor=' + encodeURIComponent(cursor) : '');
      getJSON(u).then(function (res) {
        cursor = res.cursor;
        if (res.html) {
          var empty = rows.querySelector('.empty');
          if (empty) { empty.parentNode.removeChild(empty); }
          rows.insertAdjacentHTML('afterbegin', res.html);
          while (rows.children.length > 500) { rows.removeChild(rows.lastElementChild); }
        }
        tail.dataset.cursor = cursor;
      }).catch(function () {}).then(function () { if (on && timer === null) { timer = setTimeout(poll, 200); } });
    }
    tail.addEventListener('click', function () {
      on = !on;
      tail.textContent = on ? 'Stop live tail' : 'Live tail';
      tail.classList.toggle('active', on);
      document.body.classList.toggle('tailing', on);
      if (on) { cursor = ''; poll(); }
    });
  }

  document.querySelectorAll('[data-back]').forEach(function (a) {
    a.addEventListener('click', function (e) { if (window.history.length > 1) { e.preventDefault(); window.history.back(); } });
  });
  document.querySelectorAll('form[data-confirm]').forEach(function (f) {
    f.addEventListener('submit', function (e) { if (!window.confirm(f.dataset.confirm)) { e.preventDefault(); } });
  });
})();
