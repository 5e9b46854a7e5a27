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
