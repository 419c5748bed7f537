#!/usr/bin/env bash
# Runs once, on the first start of an empty PostgreSQL data volume (docker-entrypoint-initdb.d).
# Each service owns its database: one role and one database per service, no shared tables.
# Passwords come from LOS_DB_PASSWORD and LMS_DB_PASSWORD (see deploy/env/compose.env.example).
set -euo pipefail

create_service_database() {
    local name="$1" password="$2"
    if [[ -z "$password" ]]; then
        echo "init-databases: no password for ${name}; set ${name^^}_DB_PASSWORD" >&2
        exit 1
    fi
    psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname postgres \
        -v name="$name" -v password="$password" <<'SQL'
CREATE ROLE :"name" LOGIN PASSWORD :'password';
CREATE DATABASE :"name" OWNER :"name";
REVOKE ALL ON DATABASE :"name" FROM PUBLIC;
SQL
    echo "init-databases: created role and database ${name}"
}

create_service_database los "${LOS_DB_PASSWORD:-}"
create_service_database lms "${LMS_DB_PASSWORD:-}"
