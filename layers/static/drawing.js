/* gridlink drawing page (网格绘制): edit a draft's grids with Leaflet-Geoman (snapping to the
 * neighbours), post each edited grid to the planning API as a reshape, then show the draft's
 * validation and draw its problems. Used by layers/drawing.py: glDrawing(map, group, options)
 * with options {changesetId, base, gridColor, editedColor, problemColor}. */
function glDrawing(map, group, o) {
  var edited = {}, problems = L.layerGroup().addTo(map), byCode = {};
  map.pm.setGlobalOptions({snappable: true, snapDistance: 15, allowSelfIntersection: false});
  group.eachLayer(function(gj) {
    if (!gj.eachLayer) return;
    gj.eachLayer(function(l) {
      byCode[l.feature.properties.code] = l;
      l.on('pm:edit', function() {
        edited[l.feature.properties.code] = l;
        l.setStyle({color: o.editedColor});
        status();
      });
    });
  });
  var panel = L.control({position: 'topleft'});
  panel.onAdd = function() {
    var div = L.DomUtil.create('div', 'gl-draw');
    div.innerHTML = '<b>草案 #' + o.changesetId + '</b><br>用“编辑”工具拖动顶点（吸附相邻边界）'
      + '<input id="gl-key" type="password" placeholder="规划员 API 密钥（可选）">'
      + '<button id="gl-save" class="btn btn-primary btn-sm">保存修改并校验</button>'
      + '<div id="gl-status"></div><div id="gl-result"></div>';
    L.DomEvent.disableClickPropagation(div);
    return div;
  };
  panel.addTo(map);
  function status() {
    document.getElementById('gl-status').textContent =
      '已修改 ' + Object.keys(edited).length + ' 个网格';
  }
  function call(method, url, body) {
    var key = document.getElementById('gl-key').value;
    var headers = {'Content-Type': 'application/json'};
    if (key) headers['X-API-Key'] = key;
    return fetch(url, {method: method, headers: headers, credentials: 'same-origin',
                       body: body ? JSON.stringify(body) : undefined})
      .then(function(r) {
        return r.json().then(function(j) {
          if (!r.ok) throw new Error(j.message || r.status);
          return j;
        });
      });
  }
  function show(report) {
    problems.clearLayers();
    var counts = Object.keys(report.counts).map(function(k) {
      return k + ' ' + report.counts[k];
    }).join('，') || '无问题';
    document.getElementById('gl-result').innerHTML = '<b class="'
      + (report.ok ? 'good">校验通过' : 'bad">校验未通过') + '</b>：' + counts;
    report.problems.forEach(function(p) {
      if (!p.geometry) return;
      L.geoJson(p.geometry, {style: {color: o.problemColor, fillOpacity: 0.6}})
        .bindTooltip(p.message).addTo(problems);
    });
    window.glValidation = report;
  }
  function reload(draft) {
    draft.features.forEach(function(f) {
      var l = byCode[f.properties.code];
      if (!l || !f.geometry) return;
      var rings = f.geometry.type === 'Polygon' ? f.geometry.coordinates
                                                : f.geometry.coordinates[0];
      l.setLatLngs(L.GeoJSON.coordsToLatLngs(rings, 1));
      l.setStyle({color: o.gridColor});
    });
  }
  document.getElementById('gl-save').onclick = function() {
    var chain = Promise.resolve();
    Object.keys(edited).forEach(function(code) {
      chain = chain.then(function() {
        return call('POST', o.base + '/reshape',
                    {code: code, geometry: edited[code].toGeoJSON().geometry});
      });
    });
    chain.then(function() { edited = {}; status(); return call('GET', o.base); })
      .then(function(cs) { reload(cs.draft); return call('GET', o.base + '/validate'); })
      .then(show)
      .catch(function(e) {
        document.getElementById('gl-result').innerHTML =
          '<b class="bad">保存失败：</b>' + e.message;
      });
  };
  status();
}
