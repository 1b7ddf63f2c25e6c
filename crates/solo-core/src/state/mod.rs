//! The state document of a deployment (R3): typed model, validation, versions and migrations.
