/* gridlink live alarm board (一键报警): draws alarms, adds new ones without reload and pans to
 * them. Alarms come from the dispatch SSE stream when it is open, else by polling the JSON feed.
 * Used by layers/alarms.py: glAlarmBoard(map, group, options). */
function glAlarmBoard(map, group, o) {
  var lastId = o.lastId, seen = {}, source = null;
  window.glAlarmCount = 0;
  function esc(s) {
    return String(s == null ? '' : s).replace(/[&<>"]/g, function(c) {
      return {'&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;'}[c];
    });
  }
  function add(f, pan, via) {
    var p = f.properties, ll = [f.geometry.coordinates[1], f.geometry.coordinates[0]];
    if (seen[p.id]) return;
    seen[p.id] = true;
    lastId = Math.max(lastId, p.id);
    window.glAlarmVia = via;
    var m = L.circleMarker(ll, {radius: 9, color: o.color, fillColor: o.color,
                                fillOpacity: 0.9, weight: 2}).addTo(group);
    m.bindPopup('<b>一键报警 #' + esc(p.id) + '</b><br>上报人：' + esc(p.reporter)
      + '<br>时间：' + esc(p.reported_at) + '<br>网格：' + esc(p.grid_code)
      + '<br>' + esc(p.description));
    window.glAlarmCount += 1;
    if (pan) {
      map.once('moveend', function() { m.openPopup(); });
      map.panTo(ll);
    }
  }
  o.features.forEach(function(f) { add(f, false, 'page'); });
  var overdue = L.layerGroup().addTo(map);
  function showOverdue(features) {  // grids with overdue patrols (巡查逾期)
    overdue.clearLayers();
    window.glOverdueGrids = features.length;
    features.forEach(function(f) {
      var p = f.properties, ll = [f.geometry.coordinates[1], f.geometry.coordinates[0]];
      L.circleMarker(ll, {radius: 8 + Math.min(p.overdue, 10), color: o.overdueColor,
                          fillColor: o.overdueColor, fillOpacity: 0.35, weight: 2,
                          dashArray: '4 3'})
        .bindTooltip('逾期巡查 ' + esc(p.overdue) + ' 项：' + esc(p.grid_name) + ' '
                     + esc(p.grid_code)).addTo(overdue);
    });
  }
  showOverdue(o.overdue || []);
  setInterval(function() {
    fetch(o.feed + '?overdue=1&after=' + lastId, {credentials: 'same-origin'})
      .then(function(r) { return r.ok ? r.json() : null; })
      .then(function(body) { if (body && body.overdue_patrols) showOverdue(body.overdue_patrols); })
      .catch(function(e) { console.warn('overdue feed', e); });
  }, o.overdueMs);
  function poll() {
    if (source && source.readyState === 1) return;  // the live stream is up
    fetch(o.feed + '?after=' + lastId, {credentials: 'same-origin'})
      .then(function(r) { return r.ok ? r.json() : null; })
      .then(function(body) {
        if (!body) return;
        body.alarms.forEach(function(f) { add(f, true, 'poll'); });
        lastId = Math.max(lastId, body.last_id);
      })
      .catch(function(e) { console.warn('alarm feed', e); });
  }
  setInterval(poll, o.pollMs);
  if (o.stream && window.EventSource) {
    source = window.glAlarmStream = new EventSource(o.stream);
    source.addEventListener('alarm', function(e) {
      var a = JSON.parse(e.data);
      add({type: 'Feature', geometry: {type: 'Point', coordinates: [a.lon, a.lat]},
           properties: {id: a.event_id, reporter: a.worker, reported_at: a.reported_at,
                        grid_code: a.grid ? a.grid.code : '', description: a.note}},
          true, 'stream');
    });
  }
}
