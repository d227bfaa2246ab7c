-- Databases of the two services (Temporal's auto-setup creates its own).
CREATE DATABASE alfabet_accounts;
CREATE DATABASE alfabet_advances;
