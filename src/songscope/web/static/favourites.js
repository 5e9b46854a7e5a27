const listId = document.querySelector('main').dataset.listId || null;
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
function listed(id, separator){ return document.getElementById(id).value.split(separator).map(x => x.trim()).filter(x => x); }
function options(){
  const d = parseFloat(slider.value), where = document.getElementById('where').value.trim();
  return {n: parseInt(document.getElementById('n').value), per_artist: parseInt(document.getElementById('per_artist').value),
          exclude_seed_artists: document.getElementById('exclude').checked, diversity: d > 0 ? Math.max(0.1, 1 - d) : null,
          exclude_artists: listed('exclude_artists', ','), exclude_genres: listed('exclude_genres', ','), known: listed('known', '\n'),
          exclude_explicit: document.getElementById('exclude_explicit').checked, where: where || null};
}
async function download(path, body, name){
  // The playlist file from the API, saved under its own name.
  const response = await fetch(path, {method: 'POST', headers: {'Content-Type': 'application/json'}, body: JSON.stringify(body)});
  if(!response.ok){ const problem = await response.json().catch(() => ({})); throw new Error(problem.detail || response.statusText); }
  const link = document.createElement('a');
  link.href = URL.createObjectURL(await response.blob());
  link.download = name;
  document.body.appendChild(link); link.click(); link.remove();
}
function exportLinks(){
  return '<p>Export as a playlist: ' + ['m3u', 'jspf', 'csv'].map(f => '<a class="song" data-export="' + f + '">' + f.toUpperCase() + '</a>').join(' &middot; ') + '</p>';
}
document.addEventListener('click', async e => {
  const kind = e.target.dataset.export;
  if(!kind){ return; }
  try{ await download('/api/recommend/playlist?format=' + kind, {favourites: favs, dislikes: dislikes, ...options()}, 'songscope-recommendations.' + kind); }
  catch(error){ fail('results', error); }
});
async function recommend(){
  if(!favs.length){ fail('results', 'add at least one favourite first'); return; }
  document.getElementById('results').innerHTML = 'recommending...';
  try{
    const r = await api('/api/recommend', {method: 'POST', headers: {'Content-Type': 'application/json'}, body: JSON.stringify({favourites: favs, dislikes: dislikes, ...options()})});
    document.getElementById('results').innerHTML = '<h2>Recommended</h2>' + table(r.recommendations, [['rank', '#', 1], ['song', 'song', 0, x => esc(x.artist_name + ' - ' + x.track_name) + player(x.track_id)], ['reason', 'why']]) +
      r.notes.map(n => '<p class="muted">' + esc(n) + '</p>').join('') + exportLinks();
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
