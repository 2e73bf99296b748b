
WITH p AS (SELECT ST_SetSRID(ST_MakePoint(:lon, :lat), 4326) AS g),
cov AS (SELECT code, name, level, kind, parent_code, community_code FROM grids, p
        WHERE valid_to IS NULL AND ST_Covers(geom, p.g)),
own AS (SELECT code, name, community_code FROM cov
        WHERE level = 'grid' AND kind <> 'dedicated' ORDER BY code LIMIT 1),
mic AS (SELECT cov.code, cov.name FROM cov JOIN own ON cov.parent_code = own.code
        WHERE cov.level = 'micro' ORDER BY cov.code LIMIT 1),
adm AS (SELECT c.name AS c_name, s.code AS s_code, s.name AS s_name, d.code AS d_code,
               d.name AS d_name FROM own
        JOIN admin_areas c ON c.code = own.community_code
        LEFT JOIN admin_areas s ON s.code = c.parent_code
        LEFT JOIN admin_areas d ON d.code = s.parent_code),
wrk AS (SELECT w.code, w.name, w.role, w.phone, w.grid_code FROM workers w
        WHERE w.grid_code IN (SELECT code FROM own UNION ALL SELECT code FROM mic)),
cam AS MATERIALIZED (
  SELECT x.*, row_number() OVER (PARTITION BY x.reason IS NULL
                                 ORDER BY x.distance_m, x.code) AS rn
  FROM (
WITH judged AS MATERIALIZED (
WITH p AS (SELECT ST_SetSRID(ST_MakePoint(:lon, :lat), 4326) AS g),
cand AS (
  SELECT c.*, ST_X(c.geom) AS lon, ST_Y(c.geom) AS lat,
         ST_Distance(geography(c.geom), geography(p.g)) AS distance_m,
         coalesce(degrees(ST_Azimuth(c.geom::geography, p.g::geography)), 0.0) AS bearing_deg
  FROM cameras c, p
  WHERE ST_DWithin(geography(c.geom), geography(p.g),
                   (SELECT max(range_m) FROM cameras))
  ORDER BY geography(c.geom) <-> geography(p.g)
)
SELECT c.*, (c.camera_type = 'ptz' OR c.fov_deg >= 360 OR abs(((c.bearing_deg) - (c.azimuth_deg) - 360.0 * floor(((c.bearing_deg) - (c.azimuth_deg) + 180.0) / 360.0))) <= c.fov_deg / 2.0) AS facing,
       CASE WHEN c.status <> 'online' THEN 'offline'
            WHEN c.distance_m > c.range_m THEN 'out_of_range'
            WHEN NOT (c.camera_type = 'ptz' OR c.fov_deg >= 360 OR abs(((c.bearing_deg) - (c.azimuth_deg) - 360.0 * floor(((c.bearing_deg) - (c.azimuth_deg) + 180.0) / 360.0))) <= c.fov_deg / 2.0) THEN 'not_facing'
            WHEN EXISTS (
    SELECT s.building_code FROM camera_shadows s
    WHERE s.camera_code = c.code AND ST_Covers(s.geom, p.g)
    ORDER BY s.near_m, s.building_code LIMIT 1) THEN 'blocked' END AS reason
FROM cand c, p ORDER BY c.distance_m, c.code
)
SELECT c.*, CASE WHEN c.reason = 'blocked' THEN (
    SELECT s.building_code FROM camera_shadows s
    WHERE s.camera_code = c.code AND ST_Covers(s.geom, p.g)
    ORDER BY s.near_m, s.building_code LIMIT 1) END AS blocked_by, CASE WHEN c.camera_type = 'ptz' THEN (-degrees(atan2(coalesce(c.height_m, CASE c.camera_type WHEN 'fixed' THEN 4.0 WHEN 'dome' THEN 3.0 WHEN 'ptz' THEN 6.0 END), c.distance_m))) END AS tilt_deg, CASE WHEN c.camera_type = 'ptz' THEN (tan(radians((CASE WHEN c.camera_type = 'ptz' AND c.fov_deg >= 360 THEN 60.0 ELSE c.fov_deg END) / 2.0)) / tan(radians(least((CASE WHEN c.camera_type = 'ptz' AND c.fov_deg >= 360 THEN 60.0 ELSE c.fov_deg END), greatest(coalesce(c.fov_tele_deg, CASE WHEN c.camera_type = 'ptz' THEN (CASE WHEN c.camera_type = 'ptz' AND c.fov_deg >= 360 THEN 60.0 ELSE c.fov_deg END) / 20.0 ELSE (CASE WHEN c.camera_type = 'ptz' AND c.fov_deg >= 360 THEN 60.0 ELSE c.fov_deg END) END), (2 * degrees(atan2(5.0, c.distance_m))))) / 2.0))) END AS zoom, CASE WHEN NOT c.camera_type = 'ptz' THEN ((c.bearing_deg) - (c.azimuth_deg) - 360.0 * floor(((c.bearing_deg) - (c.azimuth_deg) + 180.0) / 360.0)) END AS offset_deg, (2 * c.distance_m * tan(radians(least(coalesce(c.fov_tele_deg, CASE WHEN c.camera_type = 'ptz' THEN (CASE WHEN c.camera_type = 'ptz' AND c.fov_deg >= 360 THEN 60.0 ELSE c.fov_deg END) / 20.0 ELSE (CASE WHEN c.camera_type = 'ptz' AND c.fov_deg >= 360 THEN 60.0 ELSE c.fov_deg END) END), 179.0) / 2.0))) AS scene_width_m, CASE WHEN c.reason IS NULL AND c.camera_type = 'ptz' THEN (
    SELECT v.preset FROM camera_views v
    JOIN camera_presets cp ON cp.camera_code = v.camera_code AND cp.name = v.preset
    WHERE v.camera_code = c.code AND v.valid_to IS NULL AND v.preset IS NOT NULL
      AND ST_Covers(v.geom, p.g) ORDER BY cp.fov_deg, v.preset LIMIT 1) END AS preset
FROM judged c, (SELECT ST_SetSRID(ST_MakePoint(:lon, :lat), 4326) AS g) p
ORDER BY c.distance_m, c.code
) x),
good AS (SELECT count(*) AS n FROM cam WHERE reason IS NULL),
nearg AS (SELECT code, name, distance_m, covers FROM ( SELECT g.code, g.name, ST_Covers(g.geom, ST_SetSRID(ST_MakePoint(:lon, :lat), 4326)) AS covers, ST_Distance(geography(ST_Boundary(g.geom)), geography(ST_SetSRID(ST_MakePoint(:lon, :lat), 4326))) AS distance_m FROM grids g WHERE g.valid_to IS NULL AND g.level = 'grid' AND g.kind <> 'dedicated' AND g.geom && ST_Expand(ST_SetSRID(ST_MakePoint(:lon, :lat), 4326), (CAST(:tol AS float8) / (110000.0 * cos(radians(CAST(:lat AS float8)))))) AND ST_DWithin(ST_Boundary(g.geom), ST_SetSRID(ST_MakePoint(:lon, :lat), 4326), (CAST(:tol AS float8) / (110000.0 * cos(radians(CAST(:lat AS float8)))))) OFFSET 0) n WHERE distance_m <= :tol ORDER BY distance_m, code),
site AS (SELECT * FROM (SELECT code, name, category, grid_code, ST_Distance(geography(geom), geography(ST_SetSRID(ST_MakePoint(:lon, :lat), 4326))) AS distance_m FROM sites WHERE ST_DWithin(geography(geom), geography(ST_SetSRID(ST_MakePoint(:lon, :lat), 4326)), :radius) ORDER BY distance_m, code) x)
SELECT
  (SELECT json_build_object(
     'lon', CAST(:lon AS float8), 'lat', CAST(:lat AS float8), 'assignment', 'covered',
     'snapped', false,
     'district', (SELECT json_build_object('code', d_code, 'name', d_name) FROM adm
                  WHERE d_code IS NOT NULL),
     'street', (SELECT json_build_object('code', s_code, 'name', s_name) FROM adm
                WHERE s_code IS NOT NULL),
     'community', json_build_object('code', own.community_code,
                                    'name', coalesce((SELECT c_name FROM adm), '')),
     'grid', json_build_object('code', own.code, 'name', own.name),
     'micro_grid', (SELECT json_build_object('code', mic.code, 'name', mic.name) FROM mic),
     'dedicated_grids', coalesce((SELECT json_agg(json_build_object('code', cov.code, 'name', cov.name) ORDER BY cov.code)
                                  FROM cov WHERE level = 'grid' AND kind = 'dedicated'),
                                 '[]'),
     'nearest_grid', NULL, 'nearest_distance_m', NULL,
     'boundary', json_build_object(
       'in_doubt', EXISTS (SELECT FROM nearg n WHERE n.code <> own.code),
       'tolerance_m', CAST(:tol AS float8), 'chosen', own.code,
       'rule', CASE WHEN (SELECT count(*) FROM cov WHERE level = 'grid'
                          AND kind <> 'dedicated') > 1 THEN 'smallest_code' ELSE 'inside' END,
       'candidates', coalesce((SELECT json_agg(json_build_object('code', n.code, 'name', n.name, 'distance_m', n.distance_m, 'covers', n.covers) ORDER BY n.distance_m, n.code) FROM nearg n), '[]')),
     'workers', coalesce((SELECT json_agg(json_build_object('code', x.code, 'name', x.name,
                            'role', x.role, 'phone', x.phone, 'grid_code', x.grid_code)
                          ORDER BY CASE x.role WHEN 'grid_leader' THEN 0 WHEN 'grid_worker' THEN 1 WHEN 'helper' THEN 2 ELSE 9 END,
                                   x.code) FROM wrk x), '[]'),
     'cameras', coalesce((SELECT json_agg(json_build_object('code', x.code, 'name', x.name, 'lon', x.lon, 'lat', x.lat, 'distance_m', x.distance_m, 'bearing_deg', x.bearing_deg, 'azimuth_deg', x.azimuth_deg, 'fov_deg', x.fov_deg, 'range_m', x.range_m, 'camera_type', x.camera_type, 'status', x.status, 'stream_url', x.stream_url, 'pan_deg', CASE WHEN x.camera_type = 'ptz' THEN x.bearing_deg END, 'facing', x.facing, 'reason', x.reason, 'blocked_by', x.blocked_by, 'tilt_deg', x.tilt_deg, 'zoom', x.zoom, 'offset_deg', x.offset_deg, 'scene_width_m', x.scene_width_m, 'preset', x.preset) ORDER BY x.rn)
                          FROM cam x WHERE x.reason IS NULL AND x.rn <= :k), '[]'),
     'cameras_wanted', CAST(:k AS integer),
     'enough_cameras', (SELECT n >= :k FROM good),
     'other_cameras', CASE WHEN (SELECT n < :k FROM good) THEN
                        coalesce((SELECT json_agg(json_build_object('code', x.code, 'name', x.name, 'lon', x.lon, 'lat', x.lat, 'distance_m', x.distance_m, 'bearing_deg', x.bearing_deg, 'azimuth_deg', x.azimuth_deg, 'fov_deg', x.fov_deg, 'range_m', x.range_m, 'camera_type', x.camera_type, 'status', x.status, 'stream_url', x.stream_url, 'pan_deg', CASE WHEN x.camera_type = 'ptz' THEN x.bearing_deg END, 'facing', x.facing, 'reason', x.reason, 'blocked_by', x.blocked_by, 'tilt_deg', x.tilt_deg, 'zoom', x.zoom, 'offset_deg', x.offset_deg, 'scene_width_m', x.scene_width_m, 'preset', x.preset) ORDER BY x.rn)
                                  FROM cam x WHERE x.reason IS NOT NULL AND x.rn <= :k), '[]')
                      ELSE '[]' END,
     'sites', coalesce((SELECT json_agg(json_build_object('code', x.code, 'name', x.name,
                          'category', x.category, 'distance_m', x.distance_m,
                          'grid_code', x.grid_code) ORDER BY x.distance_m, x.code)
                        FROM site x), '[]'))::text FROM own) AS answer,
  CASE WHEN NOT EXISTS (SELECT FROM own) THEN
    (SELECT json_agg(json_build_object('code', code, 'name', name, 'level', level,
       'kind', kind, 'parent_code', parent_code, 'community_code', community_code)
       ORDER BY code) FROM cov) END AS grids,
  CASE WHEN NOT EXISTS (SELECT FROM own) THEN
    (SELECT json_agg(json_build_object('code', x.code, 'name', x.name, 'lon', x.lon, 'lat', x.lat, 'distance_m', x.distance_m, 'bearing_deg', x.bearing_deg, 'azimuth_deg', x.azimuth_deg, 'fov_deg', x.fov_deg, 'range_m', x.range_m, 'camera_type', x.camera_type, 'status', x.status, 'stream_url', x.stream_url, 'pan_deg', CASE WHEN x.camera_type = 'ptz' THEN x.bearing_deg END, 'facing', x.facing, 'reason', x.reason, 'blocked_by', x.blocked_by, 'tilt_deg', x.tilt_deg, 'zoom', x.zoom, 'offset_deg', x.offset_deg, 'scene_width_m', x.scene_width_m, 'preset', x.preset) ORDER BY x.distance_m, x.code)
     FROM cam x) END AS cameras,
  CASE WHEN NOT EXISTS (SELECT FROM own) THEN
    (SELECT json_agg(json_build_object('code', x.code, 'name', x.name, 'category', x.category,
       'grid_code', x.grid_code, 'distance_m', x.distance_m) ORDER BY x.distance_m, x.code)
     FROM site x) END AS sites,
  CASE WHEN NOT EXISTS (SELECT FROM own) THEN coalesce((SELECT json_agg(json_build_object('code', n.code, 'name', n.name, 'distance_m', n.distance_m, 'covers', n.covers) ORDER BY n.distance_m, n.code) FROM nearg n), '[]') END AS near_grids
