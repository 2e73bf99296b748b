
WITH cov AS (SELECT code, name, level, kind, parent_code, community_code FROM grids
        WHERE valid_to IS NULL AND ST_Covers(geom, ST_SetSRID(ST_MakePoint(:lon, :lat), 4326))),
own AS (SELECT code, name, community_code FROM cov
        WHERE level = 'grid' AND kind <> 'dedicated' ORDER BY code LIMIT 1),
mic AS (SELECT cov.code, cov.name FROM cov JOIN own ON cov.parent_code = own.code
        WHERE cov.level = 'micro' ORDER BY cov.code LIMIT 1),
covs AS (SELECT json_agg(json_build_object('code', cov.code, 'name', cov.name) ORDER BY cov.code)
                  FILTER (WHERE level = 'grid' AND kind = 'dedicated') AS dedicated,
                count(*) FILTER (WHERE level = 'grid' AND kind <> 'dedicated') AS ordinary
         FROM cov),
adm AS (SELECT c.name AS c_name, s.code AS s_code, s.name AS s_name, d.code AS d_code,
               d.name AS d_name FROM own
        JOIN admin_areas c ON c.code = own.community_code
        LEFT JOIN admin_areas s ON s.code = c.parent_code
        LEFT JOIN admin_areas d ON d.code = s.parent_code),
shade AS MATERIALIZED (SELECT s.camera_code, s.building_code, s.near_m FROM camera_shadows s WHERE ST_Covers(s.geom, ST_SetSRID(ST_MakePoint(:lon, :lat), 4326))),
cand AS (
  SELECT c.code, c.name, c.camera_type, c.status, c.stream_url, c.azimuth_deg, c.fov_deg,
         c.range_m, c.height_m, c.fov_tele_deg, ST_X(c.geom) AS lon, ST_Y(c.geom) AS lat,
         ST_Distance(geography(c.geom), geography(ST_SetSRID(ST_MakePoint(:lon, :lat), 4326))) AS distance_m,
         coalesce(degrees(ST_Azimuth(c.geom::geography, ST_SetSRID(ST_MakePoint(:lon, :lat), 4326)::geography)), 0.0) AS bearing_deg
  FROM cameras c
  WHERE ST_DWithin(geography(c.geom), geography(ST_SetSRID(ST_MakePoint(:lon, :lat), 4326)),
                   (SELECT max(range_m) FROM cameras))
  OFFSET 0),
cams AS (
  SELECT count(*) FILTER (WHERE h.reason IS NULL) AS n,
         json_agg(h.hit ORDER BY h.rn) FILTER (WHERE h.reason IS NULL AND h.rn <= :k) AS seeing,
         json_agg(h.hit ORDER BY h.rn)
           FILTER (WHERE h.reason IS NOT NULL AND h.rn <= :k) AS others
  FROM (SELECT x.reason, x.rn, json_build_object('code', x.code, 'name', x.name, 'lon', x.lon, 'lat', x.lat, 'distance_m', x.distance_m, 'bearing_deg', x.bearing_deg, 'azimuth_deg', x.azimuth_deg, 'fov_deg', x.fov_deg, 'range_m', x.range_m, 'camera_type', x.camera_type, 'status', x.status, 'stream_url', x.stream_url, 'pan_deg', CASE WHEN x.camera_type = 'ptz' THEN x.bearing_deg END, 'facing', x.facing, 'reason', x.reason, 'blocked_by', x.blocked_by, 'tilt_deg', x.tilt_deg, 'zoom', x.zoom, 'offset_deg', x.offset_deg, 'scene_width_m', x.scene_width_m, 'preset', x.preset) AS hit
        FROM (SELECT j.code, j.name, j.lon, j.lat, j.distance_m, j.bearing_deg, j.azimuth_deg, j.fov_deg, j.range_m, j.camera_type, j.status, j.stream_url, j.facing, CASE WHEN j.status <> 'online' THEN 'offline' WHEN j.distance_m > j.range_m THEN 'out_of_range' WHEN NOT j.facing THEN 'not_facing' WHEN j.blocked_by IS NOT NULL THEN 'blocked' END AS reason, j.blocked_by AS blocked_by, CASE WHEN j.camera_type = 'ptz' THEN (-degrees(atan2(coalesce(j.height_m, CASE j.camera_type WHEN 'fixed' THEN 4.0 WHEN 'dome' THEN 3.0 WHEN 'ptz' THEN 6.0 END), j.distance_m))) END AS tilt_deg, CASE WHEN j.camera_type = 'ptz' THEN (tan(radians(j.wide_deg / 2.0)) / tan(radians(least(j.wide_deg, greatest(j.tele_deg, (2 * degrees(atan2(5.0, j.distance_m))))) / 2.0))) END AS zoom, CASE WHEN NOT j.camera_type = 'ptz' THEN ((j.bearing_deg) - (j.azimuth_deg) - 360.0 * floor(((j.bearing_deg) - (j.azimuth_deg) + 180.0) / 360.0)) END AS offset_deg, (2 * j.distance_m * tan(radians(least(j.tele_deg, 179.0) / 2.0))) AS scene_width_m, CASE WHEN j.in_view AND j.blocked_by IS NULL AND j.camera_type = 'ptz' THEN (
    SELECT v.preset FROM camera_views v
    JOIN camera_presets cp ON cp.camera_code = v.camera_code AND cp.name = v.preset
    WHERE v.camera_code = j.code AND v.valid_to IS NULL AND v.preset IS NOT NULL
      AND ST_Covers(v.geom, ST_SetSRID(ST_MakePoint(:lon, :lat), 4326)) ORDER BY cp.fov_deg, v.preset LIMIT 1) END AS preset, row_number() OVER (PARTITION BY j.in_view AND j.blocked_by IS NULL ORDER BY j.distance_m, j.code) AS rn FROM (
  SELECT c.*, (c.camera_type = 'ptz' OR c.fov_deg >= 360 OR abs(((c.bearing_deg) - (c.azimuth_deg) - 360.0 * floor(((c.bearing_deg) - (c.azimuth_deg) + 180.0) / 360.0))) <= c.fov_deg / 2.0) AS facing, c.status = 'online' AND c.distance_m <= c.range_m AND (c.camera_type = 'ptz' OR c.fov_deg >= 360 OR abs(((c.bearing_deg) - (c.azimuth_deg) - 360.0 * floor(((c.bearing_deg) - (c.azimuth_deg) + 180.0) / 360.0))) <= c.fov_deg / 2.0) AS in_view,
         (CASE WHEN c.camera_type = 'ptz' AND c.fov_deg >= 360 THEN 60.0 ELSE c.fov_deg END) AS wide_deg, coalesce(c.fov_tele_deg, CASE WHEN c.camera_type = 'ptz' THEN (CASE WHEN c.camera_type = 'ptz' AND c.fov_deg >= 360 THEN 60.0 ELSE c.fov_deg END) / 20.0 ELSE (CASE WHEN c.camera_type = 'ptz' AND c.fov_deg >= 360 THEN 60.0 ELSE c.fov_deg END) END) AS tele_deg,
         CASE WHEN c.status = 'online' AND c.distance_m <= c.range_m AND (c.camera_type = 'ptz' OR c.fov_deg >= 360 OR abs(((c.bearing_deg) - (c.azimuth_deg) - 360.0 * floor(((c.bearing_deg) - (c.azimuth_deg) + 180.0) / 360.0))) <= c.fov_deg / 2.0) THEN (SELECT s.building_code FROM shade s WHERE s.camera_code = c.code ORDER BY s.near_m, s.building_code LIMIT 1) END AS blocked_by
  FROM cand c OFFSET 0) j) x OFFSET 0) h)
SELECT (SELECT json_build_object(
     'lon', CAST(:lon AS float8), 'lat', CAST(:lat AS float8), 'assignment', 'covered',
     'snapped', false,
     'district', CASE WHEN adm.d_code IS NOT NULL THEN
                   json_build_object('code', adm.d_code, 'name', adm.d_name) END,
     'street', CASE WHEN adm.s_code IS NOT NULL THEN
                 json_build_object('code', adm.s_code, 'name', adm.s_name) END,
     'community', json_build_object('code', own.community_code,
                                    'name', coalesce(adm.c_name, '')),
     'grid', json_build_object('code', own.code, 'name', own.name),
     'micro_grid', CASE WHEN mic.code IS NOT NULL THEN json_build_object('code', mic.code, 'name', mic.name) END,
     'dedicated_grids', coalesce(covs.dedicated, '[]'),
     'nearest_grid', NULL, 'nearest_distance_m', NULL,
     'boundary', json_build_object(
       'in_doubt', coalesce(nd.in_doubt, false),
       'tolerance_m', CAST(:tol AS float8), 'chosen', own.code,
       'rule', CASE WHEN covs.ordinary > 1 THEN 'smallest_code' ELSE 'inside' END,
       'candidates', coalesce(nd.candidates, '[]')),
     'workers', coalesce((SELECT json_agg(json_build_object('code', w.code, 'name', w.name,
                            'role', w.role, 'phone', w.phone, 'grid_code', w.grid_code)
                          ORDER BY CASE w.role WHEN 'grid_leader' THEN 0 WHEN 'grid_worker' THEN 1 WHEN 'helper' THEN 2 ELSE 9 END, w.code)
                          FROM workers w
                          WHERE w.grid_code = ANY (ARRAY[own.code, mic.code])), '[]'),
     'cameras', coalesce(cams.seeing, '[]'),
     'cameras_wanted', CAST(:k AS integer),
     'enough_cameras', cams.n >= :k,
     'other_cameras', CASE WHEN cams.n < :k THEN coalesce(cams.others, '[]') ELSE '[]' END,
     'sites', coalesce((SELECT json_agg(json_build_object('code', x.code, 'name', x.name,
                          'category', x.category, 'distance_m', x.distance_m,
                          'grid_code', x.grid_code) ORDER BY x.distance_m, x.code)
                        FROM (SELECT code, name, category, grid_code, ST_Distance(geography(geom), geography(ST_SetSRID(ST_MakePoint(:lon, :lat), 4326))) AS distance_m FROM sites WHERE ST_DWithin(geography(geom), geography(ST_SetSRID(ST_MakePoint(:lon, :lat), 4326)), :radius)) x), '[]'))::text
  FROM own CROSS JOIN covs CROSS JOIN cams LEFT JOIN adm ON true LEFT JOIN mic ON true
  
  LEFT JOIN LATERAL (
    SELECT bool_or(n.code <> own.code) AS in_doubt,
           json_agg(json_build_object('code', n.code, 'name', n.name, 'distance_m', n.distance_m, 'covers', n.covers) ORDER BY n.distance_m, n.code) AS candidates
    FROM (SELECT code, name, distance_m, covers FROM ( SELECT g.code, g.name, ST_Covers(g.geom, ST_SetSRID(ST_MakePoint(:lon, :lat), 4326)) AS covers, ST_Distance(geography(ST_Boundary(g.geom)), geography(ST_SetSRID(ST_MakePoint(:lon, :lat), 4326))) AS distance_m FROM grids g WHERE g.valid_to IS NULL AND g.level = 'grid' AND g.kind <> 'dedicated' AND g.geom && ST_Expand(ST_SetSRID(ST_MakePoint(:lon, :lat), 4326), (CAST(:tol AS float8) / (110000.0 * cos(radians(CAST(:lat AS float8)))))) AND ST_DWithin(ST_Boundary(g.geom), ST_SetSRID(ST_MakePoint(:lon, :lat), 4326), (CAST(:tol AS float8) / (110000.0 * cos(radians(CAST(:lat AS float8)))))) OFFSET 0) n WHERE distance_m <= :tol) n) nd ON true) AS answer
