const cluster = Number(document.querySelector('main').dataset.cluster);
api('/api/runs/' + encodeURIComponent(runId) + '/clusters/' + cluster).then(c => {
  document.getElementById('about').innerHTML = '<h2>' + esc(c.description) + '</h2><p><b>' + c.size.toLocaleString('en') + '</b> songs in run ' + esc(c.run_id) +
    '</p><p>Stability (bootstrap Jaccard): <b>' + fmt(c.jaccard, 2) + '</b> ' + esc(c.stability || 'not measured') + '</p><p>Top artists: ' + esc(c.top_artists) + '</p>' +
    '<p><a href="/map?run=' + esc(c.run_id) + '">See it on the map</a></p><p>Its 100 most typical songs as a playlist: ' +
    ['m3u', 'jspf', 'csv'].map(f => '<a download href="/api/runs/' + encodeURIComponent(c.run_id) + '/clusters/' + cluster + '/playlist?format=' + f + '">' + f.toUpperCase() + '</a>').join(' &middot; ') + '</p>';
  plot('radar', c.figure);
  document.getElementById('sample').innerHTML = c.sample.map(s => '<li>' + esc(s.name) + '</li>').join('');
}).catch(e => fail('about', e));
