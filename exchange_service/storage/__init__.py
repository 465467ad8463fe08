"""PostgreSQL + PostGIS persistence: tables, migrations, boundaries and the stores."""
