-- Runs once, when the postgres service first initialises its data volume.
-- The databases of the two services (each also creates its own if missing)…
CREATE DATABASE alfabet_accounts;
CREATE DATABASE alfabet_advances;
-- …and Temporal's two, whose schema the one-shot temporal-schema service
-- (deploy/temporal/setup-schema.sh) installs and upgrades.
CREATE DATABASE temporal;
CREATE DATABASE temporal_visibility;
