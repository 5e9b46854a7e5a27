// Shared by every page: the API client, escaping, formatting, tables, the search box, plots.
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
// A player for a song analysed from an audio file (songscope gives those ids beginning "audio:"; a
// song read from a table has nothing to play). The server answers range requests: it seeks.
function player(trackId){
  if(!String(trackId).startsWith('audio:')){ return ''; }
  return '<audio class="player" controls preload="none" src="/api/songs/' + encodeURIComponent(trackId) + '/audio"></audio>';
}
function plot(id, figure){ Plotly.newPlot(id, figure.data, figure.layout, {displaylogo: false, responsive: true}); return document.getElementById(id); }
