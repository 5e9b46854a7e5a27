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
      ['size', 'songs', 1], ['description', 'in words'], ['jaccard', 'stability (bootstrap Jaccard)', 1],
      ['stability', 'verdict'], ['top_artists', 'top artists']]) + (run ? evidence(run) : '');
  document.getElementById('runs').innerHTML = table(o.runs, [['run_id', 'run', 0, r => '<a href="/map?run=' + esc(r.run_id) + '">' + esc(r.run_id) + '</a>'],
    ['engine', 'engine'], ['algorithm', 'algorithm'], ['k', 'k', 1], ['songs', 'songs', 1], ['silhouette', 'silhouette', 1]]);
}).catch(e => fail('overview', e));

// What the report says of a run beside its clusters: the null model, seed agreement, which
// features separate the clusters, agreement with the catalogue's labels.
function evidence(run){
  let html = '';
  const n = run.null_model || {};
  if(n.k){
    html += '<p><b>Null model.</b> Gap(' + n.k + ') - Gap(1) = ' + fmt(n.delta) + ' +/- ' + fmt(n.delta_se) + ': ' +
      (n.structure ? 'more cluster structure than a uniform reference.' :
       'no more cluster structure than a uniform reference: read the clusters as a partition of a continuum, not as natural groups.') + '</p>';
  }
  const seeds = (run.stability || {}).seeds;
  if(seeds){
    html += '<p><b>Agreement across seeds</b> (adjusted Rand index): mean ' + fmt(seeds.ari_mean) + ', min ' + fmt(seeds.ari_min) +
      '; bootstrap stability per cluster on ' + run.stability.resamples + ' resamples.</p>';
  }
  if(run.feature_tests && run.feature_tests.length){
    html += '<h2>Which features separate the clusters</h2><p class="muted">Kruskal-Wallis across clusters per feature; epsilon-squared is its ' +
      'effect size (0.01 small, 0.08 medium, 0.26 large).</p>' +
      table(run.feature_tests, [['feature', 'feature'], ['H', 'H', 1], ['p_value', 'p-value', 1, r => pValue(r.p_value)], ['epsilon_squared', 'epsilon-squared', 1]]);
  }
  const s = run.selection;
  if(s){
    html += '<h2>Choosing k and the algorithm</h2><p>' + esc(s.rationale) + '</p>' +
      table(s.sweep, [['k', 'k', 1], ['sse', 'SSE', 1], ['silhouette', 'silhouette', 1], ['gap', 'gap', 1], ['gap_se', 'gap SE', 1]]);
    if(s.methods){
      html += '<p class="muted">The k-taking algorithms at the run\'s k on one sample of ' + fmt(s.methods_sample) + ' songs, in one feature space:</p>' +
        table(s.methods, [['algorithm', 'algorithm'], ['silhouette', 'silhouette', 1], ['davies_bouldin', 'Davies-Bouldin', 1],
          ['calinski_harabasz', 'Calinski-Harabasz', 1], ['ari_vs_kmeans', 'ARI vs k-means', 1], ['fit_s', 'fit (s)', 1]]);
    }
  } else {
    html += '<p class="muted">How k was chosen shows here once a report of this run has been written (<code>songscope report</code>).</p>';
  }
  if(run.external){
    const e = run.external;
    html += '<p><b>Against the catalogue\'s ' + esc(e.label) + '</b> (' + fmt(e.n) + ' songs): ARI ' + fmt(e.ari) + ', NMI ' + fmt(e.nmi) +
      ', homogeneity ' + fmt(e.homogeneity) + ', completeness ' + fmt(e.completeness) + '.</p>';
  }
  return html;
}
function pValue(p){
  if(p === null || p === undefined){ return ''; }
  return p < 1e-300 ? '&lt; 1e-300' : (p < 1e-3 ? p.toExponential(1) : p.toFixed(3));
}
