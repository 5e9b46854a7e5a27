"""The web app's pages: HTML and a little JavaScript over the JSON API (no server-side data in
the pages, so what a page shows is exactly what its API twin returns)."""

from __future__ import annotations

import html
import json

FAVICON = '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 16 16"><circle cx="5" cy="10" r="3" fill="#0071e3"/><circle cx="11" cy="6" r="3" fill="#e4572e"/></svg>'

_STYLE = """
*{box-sizing:border-box} body{font-family:-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:0;color:#1d1d1f;background:#f5f5f7}
header{background:#1d1d1f;color:#fff;padding:10px 24px;display:flex;gap:22px;align-items:center}
header a{color:#ddd;text-decoration:none;font-size:14px} header a:hover{color:#fff} header b{font-size:17px;margin-right:12px}
main{max-width:1240px;margin:0 auto;padding:18px 24px 60px} h1{font-size:22px;margin:6px 0 12px} h2{font-size:17px;margin:22px 0 8px}
.card{background:#fff;border-radius:8px;padding:14px 18px;margin:10px 0;box-shadow:0 1px 2px rgba(0,0,0,.06)}
table{border-collapse:collapse;font-size:13px;width:100%} th,td{border-bottom:1px solid #eee;padding:5px 8px;text-align:left;vertical-align:top}
th{background:#fafafa} .num{text-align:right} .kpi{display:inline-block;margin-right:26px} .kpi b{display:block;font-size:22px}
input,select,button{font-size:14px;padding:6px 8px;border:1px solid #ccc;border-radius:6px} button{background:#0071e3;color:#fff;border:0;cursor:pointer}
button.secondary{background:#e8e8ed;color:#1d1d1f} .muted{color:#666;font-size:13px} .error{color:#b00020;font-weight:600}
.grid{display:grid;grid-template-columns:2fr 1fr;gap:14px} ul.results{list-style:none;padding:0;margin:6px 0;max-height:260px;overflow:auto}
ul.results li{padding:4px 0;border-bottom:1px solid #f0f0f0;font-size:13px} a.song{cursor:pointer;color:#0066cc}
.tag{display:inline-block;background:#e8f0fe;border-radius:10px;padding:2px 8px;margin:2px;font-size:12px}
.tag.dislike{background:#fde8e8}
"""

_COMMON_JS = """
const params = new URLSearchParams(location.search);
const runId = params.get('run') || 'latest';
function esc(s){return String(s ?? '').replace(/[&<>"']/g, c => ({'&':'&amp;','<':'&lt;','>':'&gt;','"':'&quot;',"'":'&#39;'}[c]));}
async function api(path, options){
  const response = await fetch(path, options);
  const body = await response.json().catch(() => ({}));
  if(!response.ok){ throw new Error(body.detail ? (typeof body.detail === 'string' ? body.detail : JSON.stringify(body.detail)) : response.statusText); }
  return body;
}
function fail(where, error){ document.getElementById(where).innerHTML = '<p class="error">' + esc(error.message || error) + '</p>'; }
function fmt(v, d=3){
  if(v === null || v === undefined){ return ''; }
  if(typeof v !== 'number'){ return esc(v); }
  return (Number.isInteger(v) || Math.abs(v) >= 1000) ? v.toLocaleString('en', {maximumFractionDigits: 0}) : v.toFixed(d);
}
function table(rows, columns){
  return '<table><tr>' + columns.map(c => '<th' + (c[2] ? ' class="num"' : '') + '>' + esc(c[1]) + '</th>').join('') + '</tr>' +
    rows.map(r => '<tr>' + columns.map(c => '<td' + (c[2] ? ' class="num"' : '') + '>' + (c[3] ? c[3](r) : fmt(r[c[0]])) + '</td>').join('') + '</tr>').join('') + '</table>';
}
function searchBox(render){
  // Search as you type (debounced) into #found; `render` turns one song into list-item HTML.
  let timer = null;
  document.getElementById('q').addEventListener('input', e => {
    clearTimeout(timer);
    const q = e.target.value.trim();
    timer = setTimeout(async () => {
      if(!q){ document.getElementById('found').innerHTML = ''; return; }
      const found = await api('/api/songs?q=' + encodeURIComponent(q));
      document.getElementById('found').innerHTML = found.length ? found.map(render).join('') : '<li class="muted">no song matches</li>';
    }, 200);
  });
}
function plot(id, figure){ Plotly.newPlot(id, figure.data, figure.layout, {displaylogo: false, responsive: true}); return document.getElementById(id); }
"""


def _page(title: str, body: str, script: str = "", plotly: bool = False) -> str:
    plotly_tag = '<script src="/static/plotly.js"></script>' if plotly else ""
    return (
        f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{html.escape(title)} - songscope</title><style>{_STYLE}</style>{plotly_tag}</head><body>"
        '<header><b>songscope</b><a href="/">Overview</a><a href="/map">Cluster map</a><a href="/favourites">Favourites</a>'
        '<a href="/compare">Compare runs</a><a href="/api">API</a></header>'
        f"<main>{body}</main><script>{_COMMON_JS}{script}</script></body></html>"
    )


def error(message: str) -> str:
    return _page("not found", f'<h1>Not found</h1><p class="error">{html.escape(message)}</p><p><a href="/">Back to the overview</a></p>')


def overview() -> str:
    body = """<h1>Overview</h1><div id="overview" class="card">loading...</div>
<h2>The current clustering</h2><div id="current" class="card"></div><h2>Past runs</h2><div id="runs" class="card"></div>"""
    script = """
api('/api/overview').then(o => {
  const c = o.catalogue;
  document.getElementById('overview').innerHTML =
    '<span class="kpi"><b>' + c.songs.toLocaleString('en') + '</b>songs</span><span class="kpi"><b>' + c.rejected_rows.toLocaleString('en') +
    '</b>rejected rows (kept with reasons)</span><span class="kpi"><b>' + c.duplicates.toLocaleString('en') + '</b>duplicates removed</span>' +
    '<h2>Cleaning</h2>' + table(o.cleaning, [['ingest', 'ingest'], ['rows_read', 'rows read', 1], ['rejected', 'rejected', 1],
      ['steps', 'after each step', 0, r => r.steps.map(s => esc(s.step) + ': ' + s.rows_after.toLocaleString('en')).join('<br>')],
      ['outliers', 'outliers flagged', 1], ['tracks_added', 'tracks added', 1]]);
  const run = o.current_run;
  document.getElementById('current').innerHTML = !run ? '<p>No clustering run yet: <code>songscope cluster</code>.</p>' :
    '<p>Run <a href="/map?run=' + esc(run.run_id) + '">' + esc(run.run_id) + '</a>: ' + esc(run.algorithm) + ' on the ' + esc(run.engine) +
    ' engine, k = ' + run.k + '; silhouette ' + fmt(run.metrics.silhouette) + ', Davies-Bouldin ' + fmt(run.metrics.davies_bouldin) + '.</p>' +
    table(run.clusters, [['cluster', 'cluster', 0, r => '<a href="/clusters/' + r.cluster + '?run=' + esc(run.run_id) + '">' + r.cluster + '</a>'],
      ['size', 'songs', 1], ['description', 'in words'], ['jaccard', 'stability (bootstrap Jaccard)', 1], ['top_artists', 'top artists']]);
  document.getElementById('runs').innerHTML = table(o.runs, [['run_id', 'run', 0, r => '<a href="/map?run=' + esc(r.run_id) + '">' + esc(r.run_id) + '</a>'],
    ['engine', 'engine'], ['algorithm', 'algorithm'], ['k', 'k', 1], ['songs', 'songs', 1], ['silhouette', 'silhouette', 1]]);
}).catch(e => fail('overview', e));
"""
    return _page("Overview", body, script)


def cluster_map() -> str:
    body = """<h1>Cluster map</h1><div class="grid"><div class="card"><div id="map" style="height:640px">loading the map...</div></div>
<div><div class="card"><input id="q" placeholder="search: artist or title" style="width:100%" autocomplete="off"><ul id="found" class="results"></ul></div>
<div class="card" id="details"><p class="muted">Click a song on the map, or search for one, to see where it sits and its nearest songs.</p></div></div></div>"""
    script = """
let points = null, mapDiv = null;
function highlight(trackId){
  const i = points.track_id.indexOf(trackId);
  const traces = mapDiv.data.length;
  if(mapDiv.data[traces - 1].name === 'selected'){ Plotly.deleteTraces(mapDiv, traces - 1); }
  // WebGL, like the map's own traces: an SVG trace would be drawn under their canvas.
  if(i >= 0){ Plotly.addTraces(mapDiv, {x: [points.x[i]], y: [points.y[i]], type: 'scattergl', mode: 'markers', name: 'selected', hoverinfo: 'skip',
    marker: {size: 24, symbol: 'star', color: '#ffd400', line: {color: '#111', width: 2}}}); }
  return i >= 0;
}
async function show(trackId){
  try{
    const song = await api('/api/songs/' + encodeURIComponent(trackId) + (runId !== 'latest' ? '?run_id=' + encodeURIComponent(runId) : ''));
    const onMap = highlight(trackId);
    document.getElementById('details').innerHTML = '<h2>' + esc(song.name) + '</h2><p>cluster <a href="/clusters/' + song.cluster + '?run=' + esc(runId) + '">' +
      song.cluster + '</a>: ' + esc(song.cluster_description) + (onMap ? '' : ' <span class="muted">(not among the songs drawn)</span>') + '</p>' +
      '<p class="muted">' + Object.entries(song.features).map(([k, v]) => esc(k) + ' ' + fmt(v)).join(', ') + '</p><h2>Nearest songs</h2><ul class="results">' +
      song.nearest.map(n => '<li><a class="song" data-id="' + esc(n.track_id) + '">' + esc(n.name) + '</a> <span class="muted">cluster ' + n.cluster + ', ' + fmt(n.distance, 2) + '</span></li>').join('') + '</ul>';
  }catch(e){ fail('details', e); }
}
document.addEventListener('click', e => { if(e.target.classList.contains('song')){ show(e.target.dataset.id); } });
searchBox(s => '<li><a class="song" data-id="' + esc(s.track_id) + '">' + esc(s.name) + '</a></li>');
api('/api/runs/' + encodeURIComponent(runId) + '/map').then(m => {
  points = m.points;
  document.getElementById('map').innerHTML = '';
  mapDiv = plot('map', m.figure);
  mapDiv.on('plotly_click', e => { const p = e.points[0]; if(p.customdata){ show(p.customdata[2]); } });
}).catch(e => fail('map', e));
"""
    return _page("Cluster map", body, script, plotly=True)


def cluster(number: int) -> str:
    body = f"""<h1>Cluster {number}</h1><div class="grid"><div class="card" id="about">loading...</div><div class="card"><div id="radar" style="height:420px"></div></div></div>
<div class="card"><h2>A sample of its songs</h2><ul id="sample" class="results"></ul></div>"""
    script = f"""
api('/api/runs/' + encodeURIComponent(runId) + '/clusters/{number}').then(c => {{
  document.getElementById('about').innerHTML = '<h2>' + esc(c.description) + '</h2><p><b>' + c.size.toLocaleString('en') + '</b> songs in run ' + esc(c.run_id) +
    '</p><p>Stability (bootstrap Jaccard): <b>' + fmt(c.jaccard, 2) + '</b> ' + esc(c.stability || 'not measured') + '</p><p>Top artists: ' + esc(c.top_artists) + '</p>' +
    '<p><a href="/map?run=' + esc(c.run_id) + '">See it on the map</a></p>';
  plot('radar', c.figure);
  document.getElementById('sample').innerHTML = c.sample.map(s => '<li>' + esc(s.name) + '</li>').join('');
}}).catch(e => fail('about', e));
"""
    return _page(f"Cluster {number}", body, script, plotly=True)


def favourites(list_id: str | None = None) -> str:
    body = """<h1>Favourites</h1><div class="grid"><div>
<div class="card"><input id="q" placeholder="search a song to add: artist or title" style="width:100%" autocomplete="off"><ul id="found" class="results"></ul>
<h2>Your list</h2><div id="chosen" class="muted">Add favourites (and songs you dislike) from the search.</div></div>
<div class="card">songs <input id="n" type="number" value="10" min="1" max="100" style="width:70px">
 per artist <input id="per_artist" type="number" value="2" min="1" max="10" style="width:60px">
 diversity <input id="diversity" type="range" min="0" max="1" step="0.1" value="0"> <span id="diversity_value">off</span>
 <label><input id="exclude" type="checkbox"> other artists only</label>
 <p><button id="go">Recommend</button> <button id="save" class="secondary">Save this list</button> <span id="saved" class="muted"></span></p></div>
<div class="card" id="results"></div></div>
<div class="card"><div id="map" style="height:560px"><p class="muted">Your favourites and the recommendations will appear on the map.</p></div></div></div>"""
    initial = json.dumps(list_id)
    script = """
const listId = """ + initial + """;
let favs = [], dislikes = [], names = {}, points = null;
function render(){
  const tag = (id, kind) => '<span class="tag ' + kind + '">' + esc(names[id] || id) + ' <a class="song" data-remove="' + esc(id) + '">x</a></span>';
  document.getElementById('chosen').innerHTML = (favs.length ? favs.map(id => tag(id, '')).join('') : '<span class="muted">no favourites yet</span>') +
    (dislikes.length ? '<br>disliked: ' + dislikes.map(id => tag(id, 'dislike')).join('') : '');
}
document.addEventListener('click', e => {
  const d = e.target.dataset;
  if(d.add){ names[d.add] = d.name; if(d.kind === 'dislike'){ if(!dislikes.includes(d.add)) dislikes.push(d.add); } else if(!favs.includes(d.add)) favs.push(d.add); render(); }
  if(d.remove){ favs = favs.filter(x => x !== d.remove); dislikes = dislikes.filter(x => x !== d.remove); render(); }
});
searchBox(s => '<li>' + esc(s.name) + ' <a class="song" data-add="' + esc(s.track_id) + '" data-name="' + esc(s.name) + '">+ favourite</a> &middot; ' +
  '<a class="song" data-add="' + esc(s.track_id) + '" data-kind="dislike" data-name="' + esc(s.name) + '">dislike</a></li>');
const slider = document.getElementById('diversity');
slider.addEventListener('input', () => { document.getElementById('diversity_value').textContent = slider.value > 0 ? 'lambda ' + (1 - slider.value).toFixed(1) : 'off'; });
function options(){
  const d = parseFloat(slider.value);
  return {n: parseInt(document.getElementById('n').value), per_artist: parseInt(document.getElementById('per_artist').value),
          exclude_seed_artists: document.getElementById('exclude').checked, diversity: d > 0 ? Math.max(0.1, 1 - d) : null};
}
async function recommend(){
  if(!favs.length){ fail('results', 'add at least one favourite first'); return; }
  document.getElementById('results').innerHTML = 'recommending...';
  try{
    const r = await api('/api/recommend', {method: 'POST', headers: {'Content-Type': 'application/json'}, body: JSON.stringify({favourites: favs, dislikes: dislikes, ...options()})});
    document.getElementById('results').innerHTML = '<h2>Recommended</h2>' + table(r.recommendations, [['rank', '#', 1], ['song', 'song', 0, x => esc(x.artist_name + ' - ' + x.track_name)], ['reason', 'why']]) +
      r.notes.map(n => '<p class="muted">' + esc(n) + '</p>').join('');
    await showOnMap(r.recommendations.map(x => x.track_id));
  }catch(e){ fail('results', e); }
}
async function showOnMap(recommended){
  if(!points){ const m = await api('/api/runs/latest/map'); points = m.points; }
  const place = ids => { const xs = [], ys = [], ts = []; ids.forEach(id => { const i = points.track_id.indexOf(id); if(i >= 0){ xs.push(points.x[i]); ys.push(points.y[i]); ts.push(points.name[i]); } }); return {x: xs, y: ys, text: ts}; };
  const f = place(favs), rec = place(recommended);
  // Zoom to the chosen songs (double-click shows the whole catalogue).
  const xs = f.x.concat(rec.x), ys = f.y.concat(rec.y);
  const span = (v, all) => { const lo = Math.min(...v), hi = Math.max(...v), full = Math.max(...all) - Math.min(...all); const pad = Math.max((hi - lo) * 0.4, full * 0.08); return [lo - pad, hi + pad]; };
  const zoom = xs.length ? {xaxis: {range: span(xs, points.x)}, yaxis: {range: span(ys, points.y)}} : {};
  document.getElementById('map').innerHTML = '';
  plot('map', {data: [
    {x: points.x, y: points.y, mode: 'markers', type: 'scattergl', name: 'catalogue', marker: {size: 3, color: '#d0d0d0'}, hoverinfo: 'skip'},
    {...f, type: 'scattergl', mode: 'markers', name: 'favourites', marker: {size: 16, symbol: 'star', color: '#e4572e', line: {width: 1, color: '#111'}}, hovertemplate: '%{text}<extra>favourite</extra>'},
    {...rec, type: 'scattergl', mode: 'markers', name: 'recommended', marker: {size: 11, symbol: 'diamond', color: '#0071e3', line: {width: 1, color: '#111'}}, hovertemplate: '%{text}<extra>recommended</extra>'}],
    layout: {title: {text: 'On the cluster map (zoomed)'}, template: 'plotly_white', margin: {l: 40, r: 10, t: 50, b: 40}, legend: {orientation: 'h'}, ...zoom}});
}
document.getElementById('go').addEventListener('click', recommend);
document.getElementById('save').addEventListener('click', async () => {
  try{
    const saved = await api('/api/lists', {method: 'POST', headers: {'Content-Type': 'application/json'}, body: JSON.stringify({favourites: favs, dislikes: dislikes, options: options()})});
    const link = location.origin + '/favourites/' + saved.list_id;
    document.getElementById('saved').innerHTML = 'saved: <a href="' + link + '">' + esc(link) + '</a>';
  }catch(e){ fail('saved', e); }
});
if(listId){
  api('/api/lists/' + encodeURIComponent(listId)).then(l => { favs = l.favourites; dislikes = l.dislikes; names = l.names; render(); recommend(); })
    .catch(e => fail('chosen', e));
}
"""
    return _page("Favourites", body, script, plotly=True)


def compare() -> str:
    body = """<h1>Compare two runs</h1><div class="card">A <select id="a"></select> B <select id="b"></select> <button id="go">Compare</button></div>
<div class="card" id="summary"></div><div class="card"><div id="maps" style="height:480px"></div></div><div class="card"><div id="contingency" style="height:460px"></div></div>"""
    script = """
api('/api/runs').then(runs => {
  const opts = runs.map(r => '<option value="' + esc(r.run_id) + '">' + esc(r.run_id + ': ' + r.engine + ' ' + r.algorithm + ' k=' + r.k) + '</option>').join('');
  document.getElementById('a').innerHTML = opts; document.getElementById('b').innerHTML = opts;
  if(runs.length > 1){ document.getElementById('b').selectedIndex = 1; }
  if(params.get('a')){ document.getElementById('a').value = params.get('a'); }
  if(params.get('b')){ document.getElementById('b').value = params.get('b'); }
  if(runs.length > 1){ go(); } else { document.getElementById('summary').innerHTML = '<p>Two runs are needed: run <code>songscope cluster</code> again with another algorithm or k.</p>'; }
}).catch(e => fail('summary', e));
async function go(){
  const a = document.getElementById('a').value, b = document.getElementById('b').value;
  try{
    const c = await api('/api/compare?a=' + encodeURIComponent(a) + '&b=' + encodeURIComponent(b));
    const g = c.agreement;
    document.getElementById('summary').innerHTML = '<p>On ' + g.songs.toLocaleString('en') + ' common songs: ARI <b>' + fmt(g.ari) + '</b>, NMI <b>' + fmt(g.nmi) +
      '</b>; ' + (100 * g.best_match_share).toFixed(1) + '% of songs sit in their cluster\\'s best match.</p>' +
      table(c.runs, [['run', 'run'], ['engine', 'engine'], ['algorithm', 'algorithm'], ['k', 'k', 1], ['silhouette', 'silhouette', 1], ['davies_bouldin', 'Davies-Bouldin', 1],
        ['calinski_harabasz', 'Calinski-Harabasz', 1], ['sse', 'SSE', 1], ['cluster_s', 'cluster s', 1]]);
    plot('maps', c.figures.maps); plot('contingency', c.figures.contingency);
  }catch(e){ fail('summary', e); }
}
document.getElementById('go').addEventListener('click', go);
"""
    return _page("Compare runs", body, script, plotly=True)
