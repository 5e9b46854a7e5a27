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
      '</b>; ' + (100 * g.best_match_share).toFixed(1) + '% of songs sit in their cluster\'s best match.</p>' +
      table(c.runs, [['run', 'run'], ['engine', 'engine'], ['algorithm', 'algorithm'], ['k', 'k', 1], ['silhouette', 'silhouette', 1], ['davies_bouldin', 'Davies-Bouldin', 1],
        ['calinski_harabasz', 'Calinski-Harabasz', 1], ['sse', 'SSE', 1], ['cluster_s', 'cluster s', 1]]);
    plot('maps', c.figures.maps); plot('contingency', c.figures.contingency);
  }catch(e){ fail('summary', e); }
}
document.getElementById('go').addEventListener('click', go);
