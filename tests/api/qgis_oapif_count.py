"""Run by the system ``python3`` (Debian's python3-qgis), not the venv: load a collection of
gridlink's OGC API with QGIS's own OAPIF provider, authenticated with HTTP Basic (the API
key as password), and print what QGIS read as JSON: ``{"valid", "count", "codes"}``.

Usage: ``QT_QPA_PLATFORM=offscreen QGIS_AUTH_DB_DIR_PATH=<tmp> python3 qgis_oapif_count.py
URL COLLECTION KEY``.
"""

import json
import os
import sys

from qgis.core import QgsApplication, QgsAuthMethodConfig, QgsVectorLayer


def main(url: str, collection: str, key: str) -> None:
    app = QgsApplication([], False)
    app.initQgis()
    auth = QgsApplication.authManager()
    auth.setMasterPassword("gridlink-test", True)
    config = QgsAuthMethodConfig("Basic")
    config.setName("gridlink")
    config.setConfig("username", "gridlink")
    config.setConfig("password", key)
    auth.storeAuthenticationConfig(config)
    layer = QgsVectorLayer(f"url='{url}' typename='{collection}' authcfg={config.id()}",
                           collection, "OAPIF")
    codes = sorted(str(f["code"]) for f in layer.getFeatures()) if layer.isValid() else []
    print(json.dumps({"valid": layer.isValid(), "count": len(codes), "codes": codes,
                      "crs": layer.crs().authid()}), flush=True)
    os._exit(0)  # QGIS 3.22 crashes in its own teardown (exitQgis) when run headless


if __name__ == "__main__":
    main(*sys.argv[1:4])
