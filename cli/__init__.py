"""The ``gridlink`` command line: database cluster, migrations, demo data, import/export, keys."""
