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
    document.getElementById('details').innerHTML = '<h2>' + esc(song.name) + '</h2>' + (song.audio ? player(song.track_id) : '') + '<p>cluster <a href="/clusters/' + song.cluster + '?run=' + esc(runId) + '">' +
      song.cluster + '</a>: ' + esc(song.cluster_description) + (onMap ? '' : ' <span class="muted">(not among the songs drawn)</span>') + '</p>' +
      '<p class="muted">' + Object.entries(song.features).map(([k, v]) => esc(k) + ' ' + fmt(v)).join(', ') + '</p><h2>Nearest songs</h2><ul class="results">' +
      song.nearest.map(n => '<li><a class="song" data-id="' + esc(n.track_id) + '">' + esc(n.name) + '</a> <span class="muted">cluster ' + n.cluster + ', ' + fmt(n.distance, 2) + '</span></li>').join('') + '</ul>';
  }catch(e){ fail('details', e); }
}
document.addEventListener('click', e => { if(e.target.classList.contains('song')){ show(e.target.dataset.id); } });
searchBox(s => '<li><a class="song" data-id="' + esc(s.track_id) + '">' + esc(s.name) + '</a></li>');
api('/api/runs/' + encodeURIComponent(runId) + '/map').then(m => {
  points = m.points;
  const drawn = points.track_id.length;
  if(drawn < m.songs){
    document.getElementById('map-note').textContent = 'Drawn: ' + drawn.toLocaleString() + ' of the catalogue\'s ' + m.songs.toLocaleString() +
      ' songs (a fixed-seed sample; search and the song details cover every song).';
  }
  document.getElementById('map').innerHTML = '';
  mapDiv = plot('map', m.figure);
  mapDiv.on('plotly_click', e => { const p = e.points[0]; if(p.customdata){ show(p.customdata[2]); } });
}).catch(e => fail('map', e));
async function drawPath(){
  const body = {start: document.getElementById('path_start').value.trim(), end: document.getElementById('path_end').value.trim(),
                steps: parseInt(document.getElementById('path_steps').value)};
  if(runId !== 'latest'){ body.run_id = runId; }
  document.getElementById('path').innerHTML = 'finding a path...';
  try{
    const p = await api('/api/path', {method: 'POST', headers: {'Content-Type': 'application/json'}, body: JSON.stringify(body)});
    const xs = [], ys = [], ts = [];
    p.steps.forEach(s => { const i = points.track_id.indexOf(s.track_id); if(i >= 0){ xs.push(points.x[i]); ys.push(points.y[i]); ts.push(s.rank + '. ' + points.name[i]); } });
    const traces = mapDiv.data.length;
    if(mapDiv.data[traces - 1].name === 'path'){ Plotly.deleteTraces(mapDiv, traces - 1); }
    Plotly.addTraces(mapDiv, {x: xs, y: ys, text: ts, type: 'scattergl', mode: 'lines+markers', name: 'path', hovertemplate: '%{text}<extra>path</extra>',
      line: {color: '#111', width: 2}, marker: {size: 10, color: '#ffd400', line: {color: '#111', width: 1}}});
    document.getElementById('path').innerHTML = table(p.steps, [['rank', '#', 1], ['song', 'song', 0, x => esc(x.artist_name + ' - ' + x.track_name) + player(x.track_id)], ['reason', 'why']]) +
      (xs.length < p.steps.length ? '<p class="muted">' + (p.steps.length - xs.length) + ' of its songs are not among those drawn.</p>' : '') +
      p.notes.map(n => '<p class="muted">' + esc(n) + '</p>').join('') +
      '<p>Export: ' + ['m3u', 'jspf', 'csv'].map(f => '<a class="song" data-path-export="' + f + '">' + f.toUpperCase() + '</a>').join(' &middot; ') + '</p>';
  }catch(e){ fail('path', e); }
}
document.getElementById('path_go').addEventListener('click', drawPath);
document.addEventListener('click', async e => {
  const kind = e.target.dataset.pathExport;
  if(!kind){ return; }
  const body = {start: document.getElementById('path_start').value.trim(), end: document.getElementById('path_end').value.trim(),
                steps: parseInt(document.getElementById('path_steps').value)};
  const response = await fetch('/api/path/playlist?format=' + kind, {method: 'POST', headers: {'Content-Type': 'application/json'}, body: JSON.stringify(body)});
  if(!response.ok){ fail('path', 'the export failed: ' + response.statusText); return; }
  const link = document.createElement('a');
  link.href = URL.createObjectURL(await response.blob());
  link.download = 'songscope-path.' + kind;
  document.body.appendChild(link); link.click(); link.remove();
});
