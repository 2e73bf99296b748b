"""Folium map views: pure functions from GeoDataFrames / plain data to folium.Map."""
