"""Video linkage that sees what the camera sees: the camera model and its documented
defaults (:mod:`geo.video.model`), visibility polygons with building occlusion
(:mod:`geo.video.visibility`, stored by :mod:`geo.video.views`) and pan/tilt/zoom commands
(:mod:`geo.video.pointing`)."""
